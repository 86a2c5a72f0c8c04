"""The Lipschitz-ratio criterion of AdaptiveMix, Table 3 (Liu et al.)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from hrr._state import preserved_state
from hrr._validate import check_callable, check_choice, check_float_tensor, check_generator, randperm_with


def lipschitz_ratio(
    features: Callable[[Tensor], Tensor],
    x_i: Tensor,
    x_j: Tensor | None = None,
    *,
    distance: Literal["l2", "l1"] = "l2",
    generator: torch.Generator | None = None,
    module: nn.Module | None = None,
) -> Tensor:
    """Mean over pairs of D_v(F(xᵢ), F(xⱼ)) / D_x(xᵢ, xⱼ) (Liu et al., Table 3; smaller is flatter).

    Parameters
    ----------
    features : callable
        Feature extractor F.
    x_i : Tensor
        Float batch (B, C, H, W) or (B, D).
    x_j : Tensor or None
        Partner batch of the same shape; ``None`` pairs ``x_i`` with a random permutation of itself
        (pairs of identical samples are dropped).
    distance : {"l2", "l1"}
        Norm used in both spaces (per sample, over all non-batch dimensions).
    generator : torch.Generator or None
        RNG for the permutation.
    module : nn.Module or None
        Module to keep unchanged (BatchNorm buffers, modes); defaults to ``features`` if it is a module or a bound
        method of one. Evaluated under ``torch.no_grad()``.

    Returns
    -------
    Tensor
        Scalar (float32 or float64), the mean ratio over pairs with non-zero image distance.

    Examples
    --------
    >>> F = torch.nn.Linear(3, 3, bias=False)
    >>> with torch.no_grad():
    ...     _ = F.weight.copy_(2 * torch.eye(3))
    >>> round(float(lipschitz_ratio(F, torch.randn(6, 3))), 4)
    2.0
    """
    check_callable("features", features, "batch -> features, e.g. D.features")
    check_float_tensor("x_i", x_i)
    check_choice("distance", distance, ("l2", "l1"))
    check_generator("generator", generator)
    if x_j is None:
        perm = randperm_with(x_i.shape[0], generator, x_i.device)
        x_j = x_i[perm]
    else:
        check_float_tensor("x_j", x_j)
        if x_j.shape != x_i.shape:
            raise ValueError(f"x_j must have x_i's shape {tuple(x_i.shape)}, got {tuple(x_j.shape)}")
    if module is None:
        owner = features if isinstance(features, nn.Module) else getattr(features, "__self__", None)
        module = owner if isinstance(owner, nn.Module) else None
    p = 2 if distance == "l2" else 1
    with torch.no_grad(), preserved_state(module):
        f = features(torch.cat([x_i, x_j]))
        f_i, f_j = f[: x_i.shape[0]], f[x_i.shape[0]:]
        dx = (x_i - x_j).flatten(1).float().norm(p=p, dim=1)
        dv = (f_i - f_j).flatten(1).float().norm(p=p, dim=1)
    keep = dx > 0
    if not bool(keep.any()):
        raise ValueError("every pair has zero image distance; the ratio is undefined")
    return (dv[keep] / dx[keep]).mean()
