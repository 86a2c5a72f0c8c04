"""The l_{q,1} penalties of Eq. (6) and their proximal operators (Eq. 20).

Each penalty acts on coefficients shaped (p, d): one row alpha_j per feature (a group).
Like skglm's penalty objects, each offers ``value``, ``prox`` and ``subdiff_distance``
(the distance of -grad to kappa * subdifferential, i.e. the KKT violation per group).
"""

from __future__ import annotations

import torch
from torch import Tensor


class GroupL2Penalty:
    """q = 2: sum_j ||alpha_j||_2 (group lasso); prox is group soft-thresholding."""

    def value(self, coef: Tensor) -> Tensor:
        return torch.linalg.vector_norm(coef, dim=1).sum()

    def change(self, start: Tensor, coef: Tensor) -> Tensor:
        """value(coef) - value(start) without cancellation: per group (||c||^2 - ||s||^2) / (||c|| + ||s||)."""
        norms_c, norms_s = torch.linalg.vector_norm(coef, dim=1), torch.linalg.vector_norm(start, dim=1)
        squares = ((coef - start) * (coef + start)).sum(dim=1)
        total = norms_c + norms_s
        return torch.where(total > 0, squares / torch.clamp(total, min=torch.finfo(coef.dtype).tiny), 0.0).sum()

    def prox(self, v: Tensor, threshold: float) -> Tensor:
        """S_k(a) = (1 - k / ||a||_2)_+ a, row-wise (Eq. 20, q = 2)."""
        norms = torch.linalg.vector_norm(v, dim=1, keepdim=True)
        scale = torch.clamp(1.0 - threshold / torch.clamp(norms, min=torch.finfo(v.dtype).tiny), min=0.0)
        return v * scale

    def subdiff_distance(self, coef: Tensor, grad: Tensor, kappa: float) -> Tensor:
        """Per-group distance from -grad to kappa * d||coef_j||_2."""
        norms = torch.linalg.vector_norm(coef, dim=1)
        active = norms > 0
        unit = coef / torch.clamp(norms, min=torch.finfo(coef.dtype).tiny)[:, None]
        on_support = torch.linalg.vector_norm(grad + kappa * unit, dim=1)
        off_support = torch.clamp(torch.linalg.vector_norm(grad, dim=1) - kappa, min=0.0)
        return torch.where(active, on_support, off_support)


class L1Penalty:
    """q = 1: sum_j ||alpha_j||_1 (lasso on every coefficient); prox is soft-thresholding."""

    def value(self, coef: Tensor) -> Tensor:
        return coef.abs().sum()

    def change(self, start: Tensor, coef: Tensor) -> Tensor:
        """value(coef) - value(start), term by term (exact for nearby values of one sign)."""
        return (coef.abs() - start.abs()).sum()

    def prox(self, v: Tensor, threshold: float) -> Tensor:
        """S_k(a) = (a - k)_+ - (-a - k)_+, elementwise (Eq. 20, q = 1)."""
        return torch.sign(v) * torch.clamp(v.abs() - threshold, min=0.0)

    def subdiff_distance(self, coef: Tensor, grad: Tensor, kappa: float) -> Tensor:
        """Per-group (row) max of the elementwise distance to kappa * d|coef_jk|."""
        on_support = (grad + kappa * torch.sign(coef)).abs()
        off_support = torch.clamp(grad.abs() - kappa, min=0.0)
        return torch.where(coef != 0, on_support, off_support).amax(dim=1)


PENALTIES: dict[str, type[GroupL2Penalty] | type[L1Penalty]] = {
    "group": GroupL2Penalty,
    "l1": L1Penalty,
}
