"""WGAN-GP gradient penalty (Gulrajani et al.), as used by the multi-scale GAN of Tang et al. (Eq. 7)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from hrr.gan._validate import check_callable, check_float_tensor, rand_with


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
        Scalar penalty, with a graph to D's parameters (create_graph=True) so it can be backpropagated.

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
    a = rand_with((real.shape[0],), generator, real).view(-1, *([1] * (real.dim() - 1)))
    mixed = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        out = critic(mixed)
        (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    grad = grad.float()
    norms = grad.norm(dim=1) if per_pixel else grad.flatten(1).norm(dim=1)
    return (norms - 1).pow(2).mean()
