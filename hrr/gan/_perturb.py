"""FGM and PGD perturbations that *maximise* any user loss (Tang et al., Eqs. 12-13; Miyato et al. FGM).

Both work on any floating tensor whose first dimension is the batch: discriminator inputs (B, C, H, W) or the
discriminator's embedding (the input of its last layer, e.g. (B, C', H', W') or (B, F)). Norms are per sample,
over all non-batch dimensions. They also work when called under ``torch.no_grad()`` or ``torch.inference_mode()``
(autograd is switched on for the input gradient only; the same perturbation comes back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from hrr._grad import autograd_tensor, check_autograd_module, grad_enabled
from hrr._state import preserved_state
from hrr._validate import (
    check_callable,
    check_choice,
    check_clamp,
    check_float_tensor,
    check_generator,
    check_int,
    check_positive,
    rand_with,
    randn_like_with,
)

Norm = Literal["l2", "linf"]
LossFn = Callable[[Tensor], Tensor]

_TINY = 1e-30


def _per_sample_l2(t: Tensor) -> Tensor:
    """Per-sample L2 norm in float32 (float64 stays float64), shaped (B, 1, ..., 1) for broadcasting."""
    work = t if t.dtype == torch.float64 else t.float()
    return work.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def _unit_direction(g: Tensor, norm: str) -> Tensor:
    """argmax over the unit ball of <e, g> (Eq. 12 / v_w of Eq. 13), per sample; zero where g == 0."""
    if norm == "linf":
        return torch.sign(g)
    work = g if g.dtype == torch.float64 else g.float()
    n = _per_sample_l2(work)
    return torch.where(n > _TINY, work / n.clamp_min(_TINY), torch.zeros_like(work))


def project(delta: Tensor, eps: float, norm: Norm = "l2") -> Tensor:
    """Project ``delta`` per sample onto the ``norm`` ball of radius ``eps`` (the Π of Tang et al., Eq. 13).

    Parameters
    ----------
    delta : Tensor
        Perturbations, batch first, any floating dtype.
    eps : float
        Radius, > 0.
    norm : {"l2", "linf"}
        Ball.

    Returns
    -------
    Tensor
        Same shape and dtype; every sample has ``‖δ_i‖ <= eps`` (L2: up to one float rounding of ``eps``).

    Examples
    --------
    >>> d = project(torch.full((2, 3), 10.0), 1.0)
    >>> bool((d.norm(dim=1) <= 1.0 + 1e-6).all())
    True
    """
    check_float_tensor("delta", delta)
    eps = check_positive("eps", eps)
    check_choice("norm", norm, ("l2", "linf"))
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = _per_sample_l2(delta)
    # factor computed so that ‖factor·δ‖ rounds to at most eps (shrink by one ulp-ish margin)
    factor = torch.where(n > eps, (eps / n.clamp_min(_TINY)) * (1.0 - 1e-7), torch.ones_like(n))
    return (delta * factor).to(delta.dtype)


def _input_gradient(loss_fn: LossFn, x: Tensor, loss_scale: float) -> Tensor:
    """∇ₓ loss_fn(x) without touching any parameter's ``.grad`` (autograd.grad w.r.t. the input only).

    Works under ``torch.no_grad()`` and ``torch.inference_mode()`` too (evaluation loops): autograd is switched on
    for this block only, and an inference-mode ``x`` is copied to a normal tensor so it can be differentiated.
    """
    with grad_enabled():
        leaf = autograd_tensor(x.detach()).detach().requires_grad_(True)
        loss = loss_fn(leaf)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar tensor, got {shape}")
        if not loss.requires_grad:
            raise ValueError("loss_fn's output does not depend on its input (it has no grad_fn); it must be "
                             "a differentiable function of the tensor it is given")
        (grad,) = torch.autograd.grad(loss.reshape(()) * loss_scale, leaf, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(leaf)
    return grad.detach()


def _finish(x: Tensor, delta: Tensor, clamp: tuple[float, float] | None) -> Tensor:
    out = x.detach() + delta.to(x.dtype)
    if clamp is not None:
        out = out.clamp(clamp[0], clamp[1])
    return out


def fgm(
    loss_fn: LossFn,
    x: Tensor,
    eps: float,
    *,
    norm: Norm = "l2",
    clamp: tuple[float, float] | None = None,
    loss_scale: float = 1.0,
    module: nn.Module | None = None,
    grad: Tensor | None = None,
) -> Tensor:
    """One-step fast gradient method: ``x + r`` with ``r = eps · g / ‖g‖₂`` per sample (Tang et al., Eq. 12).

    ``g = ∇ₓ loss_fn(x)``; the perturbation increases ``loss_fn`` (the attacker maximises it). With
    ``norm="linf"`` it is ``r = eps · sign(g)`` (FGSM). Samples whose gradient is exactly zero get ``r = 0``.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(x_adv) -> scalar tensor`` to maximise, e.g. ``lambda z: -D(z).mean()`` for real images under the
        WGAN critic loss, or ``lambda h: -D.head(h).mean()`` for an embedding.
    x : Tensor
        Float tensor, batch first: images (B, C, H, W) or embeddings (B, ...).
    eps : float
        Radius r of the ball, > 0.
    norm : {"l2", "linf"}
        Ball geometry.
    clamp : (low, high) or None
        Clamp ``x + r`` to a valid range (e.g. ``(-1, 1)`` for GAN images); ``None`` keeps the exact radius.
    loss_scale : float
        Multiplies the loss before differentiation. The direction is scale-invariant, so under fp16 autocast pass
        e.g. ``scaler.get_scale()`` to keep tiny gradients from underflowing.
    module : nn.Module or None
        The discriminator ``loss_fn`` runs; its buffers (BatchNorm statistics), modes and ``requires_grad`` flags
        are preserved (see :func:`hrr.gan.preserved_state`).
    grad : Tensor or None
        A precomputed ``∇ₓ loss_fn(x)`` (skips the forward/backward).

    Returns
    -------
    Tensor
        ``x_adv``, detached, same shape/dtype/device as ``x``.

    Examples
    --------
    >>> w = torch.tensor([3.0, 4.0])
    >>> fgm(lambda z: (z @ w).sum(), torch.zeros(1, 2), eps=1.0)
    tensor([[0.6000, 0.8000]])
    """
    check_callable("loss_fn", loss_fn)
    check_float_tensor("x", x)
    eps = check_positive("eps", eps)
    check_choice("norm", norm, ("l2", "linf"))
    clamp = check_clamp("clamp", clamp)
    loss_scale = check_positive("loss_scale", loss_scale)
    if grad is None:
        check_autograd_module("module", module)
        with preserved_state(module):
            grad = _input_gradient(loss_fn, x, loss_scale)
    elif grad.shape != x.shape:
        raise ValueError(f"grad must have x's shape {tuple(x.shape)}, got {tuple(grad.shape)}")
    delta = eps * _unit_direction(grad, norm)
    return _finish(x, delta, clamp)


def pgd(
    loss_fn: LossFn,
    x: Tensor,
    eps: float,
    step_size: float,
    steps: int,
    *,
    norm: Norm = "l2",
    random_start: bool = False,
    clamp: tuple[float, float] | None = None,
    loss_scale: float = 1.0,
    module: nn.Module | None = None,
    generator: torch.Generator | None = None,
    first_grad: Tensor | None = None,
) -> Tensor:
    """Projected gradient ascent: ``δ_{t+1} = Π_{B_eps}(δ_t + α · v_t)`` for ``steps`` steps (Tang et al., Eq. 13).

    ``v_t`` is the steepest-ascent unit direction of ``loss_fn`` at ``x + δ_t`` (``g/‖g‖₂`` for L2,
    ``sign(g)`` for L∞). Algorithm 1 starts at ``δ_0 = 0``; ``random_start=True`` starts uniformly inside the
    ball instead (drawn from ``generator``).

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(x_adv) -> scalar`` to maximise.
    x : Tensor
        Float tensor, batch first (images (B, C, H, W) or embeddings).
    eps : float
        Radius r, > 0.
    step_size : float
        α, > 0.
    steps : int
        T, >= 1.
    norm : {"l2", "linf"}
    random_start : bool
        Uniform start in the ball (L2: uniform in volume; L∞: uniform in the cube).
    clamp : (low, high) or None
        Keep ``x + δ`` in a valid range after every step.
    loss_scale : float
        See :func:`fgm`.
    module : nn.Module or None
        Discriminator whose state is preserved across the attack forwards.
    generator : torch.Generator or None
        RNG for the random start.
    first_grad : Tensor or None
        Precomputed gradient at ``x`` (only used when ``random_start`` is False): saves one forward/backward.

    Returns
    -------
    Tensor
        ``x_adv`` detached, with ``‖x_adv − x‖ <= eps`` per sample.

    Examples
    --------
    >>> w = torch.tensor([3.0, 4.0])
    >>> pgd(lambda z: (z @ w).sum(), torch.zeros(1, 2), eps=1.0, step_size=0.5, steps=3)
    tensor([[0.6000, 0.8000]])
    """
    check_callable("loss_fn", loss_fn)
    check_float_tensor("x", x)
    eps = check_positive("eps", eps)
    step_size = check_positive("step_size", step_size)
    steps = check_int("steps", steps, minimum=1)
    check_choice("norm", norm, ("l2", "linf"))
    clamp = check_clamp("clamp", clamp)
    loss_scale = check_positive("loss_scale", loss_scale)
    check_generator("generator", generator)
    check_autograd_module("module", module)
    x0 = x.detach()
    if random_start:
        delta = _random_in_ball(x0, eps, norm, generator)
        if clamp is not None:
            delta = (x0 + delta).clamp(*clamp) - x0
        first_grad = None
    else:
        delta = torch.zeros_like(x0)
    with preserved_state(module):
        for t in range(steps):
            if t == 0 and first_grad is not None:
                if first_grad.shape != x.shape:
                    raise ValueError(f"first_grad must have x's shape {tuple(x.shape)}, got {tuple(first_grad.shape)}")
                g = first_grad
            else:
                g = _input_gradient(loss_fn, x0 + delta, loss_scale)
            work = delta if delta.dtype == torch.float64 else delta.float()
            delta = project(work + step_size * _unit_direction(g, norm), eps, norm).to(x0.dtype)
            if clamp is not None:
                delta = (x0 + delta).clamp(*clamp) - x0
    return _finish(x0, delta, clamp)


def _random_in_ball(x: Tensor, eps: float, norm: str, generator: torch.Generator | None) -> Tensor:
    if norm == "linf":
        return (2 * rand_with(tuple(x.shape), generator, x) - 1) * eps
    direction = randn_like_with(x, generator)
    direction = direction / _per_sample_l2(direction).clamp_min(_TINY).to(x.dtype)
    d = x[0].numel()
    radius = rand_with((x.shape[0],), generator, x).pow(1.0 / d).view(-1, *([1] * (x.dim() - 1)))
    return project(direction * radius * eps, eps, "l2")


class FGM:
    """Fast gradient method attack object (Tang et al., Eq. 12), torchattacks-style: configure once, call per batch.

    Stateless between calls. ``attack(x, loss_fn)`` returns ``x_adv`` maximising ``loss_fn``.

    Parameters
    ----------
    eps : float
        Radius of the perturbation, > 0.
    norm : {"l2", "linf"}
        ``"l2"``: ``r = eps·g/‖g‖₂`` (FGM); ``"linf"``: ``r = eps·sign(g)`` (FGSM).
    clamp : (low, high) or None
        Optional valid input range.
    loss_scale : float
        Multiplier applied to the loss before differentiation (fp16 underflow guard; direction unaffected).
    module : nn.Module or None
        Discriminator to keep unchanged (BatchNorm buffers, modes, ``requires_grad``).

    Examples
    --------
    >>> D = torch.nn.Linear(4, 1)
    >>> attack = FGM(eps=0.5, module=D)
    >>> real = torch.randn(8, 4)
    >>> real_adv = attack(real, lambda z: -D(z).mean())   # maximise the critic's loss on reals
    >>> torch.allclose((real_adv - real).norm(dim=1), torch.full((8,), 0.5))
    True
    """

    def __init__(
        self,
        eps: float,
        *,
        norm: Norm = "l2",
        clamp: tuple[float, float] | None = None,
        loss_scale: float = 1.0,
        module: nn.Module | None = None,
    ) -> None:
        self.eps = check_positive("eps", eps)
        self.norm = check_choice("norm", norm, ("l2", "linf"))
        self.clamp = check_clamp("clamp", clamp)
        self.loss_scale = check_positive("loss_scale", loss_scale)
        self.module = module

    def __call__(self, x: Tensor, loss_fn: LossFn) -> Tensor:
        """Return ``x_adv`` for ``x`` (float, batch first, e.g. (B, C, H, W)) maximising ``loss_fn``."""
        return fgm(loss_fn, x, self.eps, norm=self.norm, clamp=self.clamp, loss_scale=self.loss_scale,  # type: ignore[arg-type]
                   module=self.module)

    def __repr__(self) -> str:
        return f"FGM(eps={self.eps}, norm={self.norm!r}, clamp={self.clamp})"


class PGD:
    """Projected gradient descent attack object (Tang et al., Eq. 13; Algorithm 1's PGD branch).

    Stateless between calls (the random start draws from the ``generator`` passed to ``__call__``).

    Parameters
    ----------
    eps : float
        Radius r, > 0.
    step_size : float
        α, > 0.
    steps : int
        T, >= 1.
    norm : {"l2", "linf"}
    random_start : bool
        Start uniformly inside the ball (Algorithm 1 starts at 0, the default).
    clamp, loss_scale, module
        As for :class:`FGM`.

    Examples
    --------
    >>> D = torch.nn.Linear(4, 1)
    >>> attack = PGD(eps=0.5, step_size=0.2, steps=3, module=D)
    >>> fake_adv = attack(torch.randn(8, 4), lambda z: D(z).mean())
    >>> fake_adv.shape
    torch.Size([8, 4])
    """

    def __init__(
        self,
        eps: float,
        step_size: float,
        steps: int,
        *,
        norm: Norm = "l2",
        random_start: bool = False,
        clamp: tuple[float, float] | None = None,
        loss_scale: float = 1.0,
        module: nn.Module | None = None,
    ) -> None:
        self.eps = check_positive("eps", eps)
        self.step_size = check_positive("step_size", step_size)
        self.steps = check_int("steps", steps, minimum=1)
        self.norm = check_choice("norm", norm, ("l2", "linf"))
        self.random_start = bool(random_start)
        self.clamp = check_clamp("clamp", clamp)
        self.loss_scale = check_positive("loss_scale", loss_scale)
        self.module = module

    def __call__(self, x: Tensor, loss_fn: LossFn, *, generator: torch.Generator | None = None) -> Tensor:
        """Return ``x_adv`` for ``x`` (float, batch first, e.g. (B, C, H, W)) maximising ``loss_fn``."""
        return pgd(loss_fn, x, self.eps, self.step_size, self.steps, norm=self.norm,  # type: ignore[arg-type]
                   random_start=self.random_start, clamp=self.clamp, loss_scale=self.loss_scale,
                   module=self.module, generator=generator)

    def __repr__(self) -> str:
        return (f"PGD(eps={self.eps}, step_size={self.step_size}, steps={self.steps}, norm={self.norm!r}, "
                f"random_start={self.random_start}, clamp={self.clamp})")
