"""Adaptive adversarial training of the discriminator (Tang et al., §4.3 and Algorithm 1).

Per call: compute ∇ₓℓ at the clean input (Algorithm 1's "back propagate ... back up"), read W_σ, and
perturb with PGD if ``W_σ < κ/(2α)`` and with FGM otherwise. The clean gradient is reused as the FGM gradient
and as PGD's first step (Algorithm 1 starts PGD at zero), so an FGM call costs one extra forward/backward and
a PGD call T of them.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from hrr._grad import check_autograd_module
from hrr._state import preserved_state
from hrr._validate import (
    check_callable,
    check_choice,
    check_clamp,
    check_float_tensor,
    check_int,
    check_positive,
)
from hrr.gan._perturb import LossFn, Norm, _input_gradient, fgm, pgd
from hrr.gan._spectral import SpectralNormEstimator, check_sigma_of


class AdaptiveAdversarial:
    """Switch between PGD and FGM by the generalisation-bound rule ``W_σ < κ/(2α)`` (Tang et al., Alg. 1).

    Parameters
    ----------
    module : nn.Module
        Whose weights define W_σ and whose state is preserved during the attack: the whole discriminator for an
        input attack, or its head J for an embedding attack (DDP wrappers are unwrapped).
    eps : float
        Radius r of the perturbation ball, > 0.
    step_size : float
        PGD step α, > 0 (the α of κ/(2α); unrelated to the reconstruction weight α of Eq. 7).
    steps : int
        PGD steps T, >= 1.
    kappa : float or "auto"
        κ of Theorem 1 (a lower bound on ‖∇ₓℓ‖₂). ``"auto"`` uses the smallest per-sample norm of the clean
        gradient computed in the same call (scaled back by ``loss_scale``), i.e. the tightest κ the theorem
        allows on this batch. The paper gives no value; it depends on how ``loss_fn`` is reduced (mean vs sum).
    norm : {"l2", "linf"}
    sigma_of : {"last", "max", "product"} or a layer name
        Which W_σ (see :meth:`SpectralNormEstimator.sigma`). Default ``"last"``: §4.2 reads the attack as an
        injection on the embedding, i.e. the input of the last layer, whose weight matrix is "the weight matrix".
    refresh_every : int
        Re-estimate W_σ every N calls (power iteration, vectors kept in this object).
    n_power_iterations : int
        Iterations per refresh (warm-started).
    clamp : (low, high) or None
        Valid input range.
    loss_scale : float
        Loss multiplier before differentiation (fp16 underflow guard).

    Attributes
    ----------
    last_method : {"pgd", "fgm"} or None
        What the last call used (log it).
    last_sigma : float or None
        W_σ used by the last call.
    last_threshold : float or None
        κ/(2α) of the last call.
    estimator : SpectralNormEstimator
        The cached power-iteration state.

    Notes
    -----
    A tie ``W_σ == κ/(2α)`` is not covered by the paper ("<" → PGD, ">" → FGM); it takes FGM, the cheaper one.

    Examples
    --------
    >>> import torch
    >>> D = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> adv = AdaptiveAdversarial(D, eps=0.5, step_size=0.2, steps=3, kappa=1.0)
    >>> x_adv = adv(torch.randn(16, 4), lambda z: -D(z).mean())
    >>> adv.last_method in ("pgd", "fgm")
    True
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        eps: float,
        step_size: float,
        steps: int,
        kappa: float | Literal["auto"],
        norm: Norm = "l2",
        sigma_of: str = "last",
        refresh_every: int = 1,
        n_power_iterations: int = 1,
        clamp: tuple[float, float] | None = None,
        loss_scale: float = 1.0,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        self.module = module
        self.eps = check_positive("eps", eps)
        self.step_size = check_positive("step_size", step_size)
        self.steps = check_int("steps", steps, minimum=1)
        if kappa == "auto":
            self.kappa: float | str = "auto"
        else:
            self.kappa = check_positive("kappa", kappa)
        self.norm = check_choice("norm", norm, ("l2", "linf"))
        self.sigma_of = check_sigma_of(sigma_of)
        self.clamp = check_clamp("clamp", clamp)
        self.loss_scale = check_positive("loss_scale", loss_scale)
        self.estimator = SpectralNormEstimator(
            module, refresh_every=refresh_every, n_power_iterations=n_power_iterations
        )
        if self.sigma_of not in ("last", "max", "product") and self.sigma_of not in self.estimator.layers:
            raise ValueError(f"sigma_of must be 'last', 'max', 'product' or a layer name in "
                             f"{sorted(self.estimator.layers)}, got {sigma_of!r}")
        self.last_method: str | None = None
        self.last_sigma: float | None = None
        self.last_threshold: float | None = None

    def w_sigma(self) -> float:
        """Advance the estimator by one call (refreshing every ``refresh_every``) and return W_σ."""
        self.estimator.update()
        return self.estimator.sigma(self.sigma_of)

    def choose(self, w_sigma: float, kappa: float) -> str:
        """Algorithm 1's rule: ``"pgd"`` iff ``w_sigma < kappa / (2 step_size)``, else ``"fgm"``."""
        return "pgd" if w_sigma < kappa / (2.0 * self.step_size) else "fgm"

    def __call__(self, x: Tensor, loss_fn: LossFn) -> Tensor:
        """Return ``x_adv`` for ``x`` (float, batch first: images (B, C, H, W) or embeddings) maximising ``loss_fn``."""
        check_float_tensor("x", x)
        check_callable("loss_fn", loss_fn)
        check_autograd_module("module", self.module)
        with preserved_state(self.module):
            grad = _input_gradient(loss_fn, x, self.loss_scale)  # Alg. 1: back-propagate, back up
        if self.kappa == "auto":
            per_sample = grad.flatten(1).float().norm(dim=1) / self.loss_scale
            kappa = float(per_sample.min())
        else:
            kappa = float(self.kappa)
        sigma = self.w_sigma()
        method = self.choose(sigma, kappa)
        self.last_sigma, self.last_method = sigma, method
        self.last_threshold = kappa / (2.0 * self.step_size)
        if method == "pgd":
            return pgd(loss_fn, x, self.eps, self.step_size, self.steps, norm=self.norm,  # type: ignore[arg-type]
                       clamp=self.clamp, loss_scale=self.loss_scale, module=self.module, first_grad=grad)
        return fgm(loss_fn, x, self.eps, norm=self.norm, clamp=self.clamp, grad=grad)  # type: ignore[arg-type]

    def state_dict(self) -> dict[str, object]:
        """The power-iteration state (vectors, cached σ, call count)."""
        return self.estimator.state_dict()

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.estimator.load_state_dict(state)

    def __repr__(self) -> str:
        return (f"AdaptiveAdversarial(eps={self.eps}, step_size={self.step_size}, steps={self.steps}, "
                f"kappa={self.kappa}, norm={self.norm!r}, sigma_of={self.sigma_of!r})")


