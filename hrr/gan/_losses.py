"""WGAN-GP gradient penalty (Gulrajani et al.), as used by the multi-scale GAN of Tang et al. (Eq. 7)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from hrr._grad import grad_enabled
from hrr._validate import check_callable, check_float_tensor, rand_with


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    per_pixel: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """E[(‖∇ D(x̃)‖₂ − 1)²] at x̃ = a·real + (1 − a)·fake, a ~ U(0, 1) per sample.

    Parameters
    ----------
    critic : callable
        D, returning per-sample scores or a patch map (summed for the gradient).
    real, fake : Tensor
        Float batches (B, C, H, W) of equal shape; ``fake`` is detached.
    per_pixel : bool
        ``False``: the usual per-sample norm over all of C·H·W. ``True``: SinGAN's form, the norm over channels
        at each pixel, averaged over pixels (used by the official SinGAN code).
    generator : torch.Generator or None
        RNG for a.

    Returns
    -------
    Tensor
        Scalar penalty, with a graph to D's parameters (create_graph=True) so it can be backpropagated. Under
        ``torch.no_grad()`` / ``torch.inference_mode()`` (e.g. logging in an evaluation loop) the same value is
        computed, with autograd switched on internally, and returned without a graph.

    Examples
    --------
    >>> D = torch.nn.Linear(4, 1)
    >>> gradient_penalty(D, torch.randn(3, 4), torch.randn(3, 4)).ndim
    0
    """
    check_callable("critic", critic)
    check_float_tensor("real", real)
    check_float_tensor("fake", fake)
    if real.shape != fake.shape:
        raise ValueError(f"fake must have real's shape {tuple(real.shape)}, got {tuple(fake.shape)}")
    keep_graph = torch.is_grad_enabled()  # False under no_grad and under inference_mode
    # ∇D(x̃) needs autograd even when the caller evaluates the penalty under no_grad / inference_mode; tensors
    # made inside grad_enabled() are normal tensors, so inference-mode inputs are fine here.
    with grad_enabled():
        a = rand_with((real.shape[0],), generator, real).view(-1, *([1] * (real.dim() - 1)))
        mixed = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
        out = critic(mixed)
        (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=keep_graph)
        grad = grad.float()
        norms = grad.norm(dim=1) if per_pixel else grad.flatten(1).norm(dim=1)
        penalty = (norms - 1).pow(2).mean()
    return penalty if keep_graph else penalty.detach()
