"""Per-feature cubic B-spline bases psi_jk of Eq. (5), centred and orthonormalised on the training data.

For feature j the raw basis is the ``n_basis + 1`` clamped cubic B-splines on [min_j, max_j] with interior
knots at training quantiles (uniform knots when quantiles collide, e.g. few-valued features). Inputs are
clamped to [min_j, max_j] first, so every psi_jk is bounded outside the training range.

The raw splines sum to one (partition of unity), so after centring they span at most ``n_basis`` directions.
We keep the top ``n_basis`` principal directions of the centred raw basis and whiten them:

    psi_j(x) = T_j^T (B_j(x) - mean_j),   with  (1/n) sum_i psi_j(x_ij) psi_j(x_ij)^T = I.

This is the "bounded and orthonormal basis" the paper assumes below Eq. (5). Two consequences the rest of
the package relies on: every f_j has zero training mean (so the intercept is identifiable and unpenalised),
and ||alpha_j||_2 equals the empirical L2 norm of f_j (so the group penalty does not depend on how the
splines happen to be parametrised). Directions with (near-)zero variance -- constant features, binary
features beyond their one direction -- get all-zero columns, hence all-zero components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

DEGREE = 3
# Eigenvalues below this fraction of a feature's largest one are treated as rank deficiency.
_RANK_RTOL = 1e-9


def n_interior_knots(n_basis: int) -> int:
    """Interior knots so that the raw basis has n_basis + 1 functions (at least the 4 cubic Bernstein ones)."""
    return max(n_basis - DEGREE, 0)


def bspline_design(x: Tensor, knots: Tensor) -> Tensor:
    """Cubic B-spline values by the Cox-de Boor recursion, vectorised over rows and features.

    Parameters
    ----------
    x : Tensor (c, p), already clamped to [knots[:, 0], knots[:, -1]].
    knots : Tensor (p, K + 8), clamped knot vectors (boundary knots repeated 4 times).

    Returns
    -------
    Tensor (c, p, K + 4): every raw spline of every feature at every row.
    """
    t = knots.unsqueeze(0)
    xe = x.unsqueeze(-1)
    basis = ((t[..., :-1] <= xe) & (xe < t[..., 1:])).to(x.dtype)
    # The right boundary belongs to the last non-degenerate interval [t_{K+3}, t_{K+4}).
    last = knots.shape[1] - 1 - (DEGREE + 1)
    at_end = (x >= knots[:, -1]).to(x.dtype)
    basis[..., last] = torch.maximum(basis[..., last], at_end)
    for k in range(1, DEGREE + 1):
        left_den = t[..., k:-1] - t[..., : -(k + 1)]
        right_den = t[..., k + 1 :] - t[..., 1:-k]
        left = _safe_ratio(xe - t[..., : -(k + 1)], left_den) * basis[..., :-1]
        right = _safe_ratio(t[..., k + 1 :] - xe, right_den) * basis[..., 1:]
        basis = left + right
    return basis


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den with the B-spline convention 0/0 := 0 on repeated knots."""
    positive = den > 0
    return torch.where(positive, num / torch.where(positive, den, torch.ones_like(den)), torch.zeros_like(num))


def _feature_knots(column: np.ndarray, n_interior: int) -> np.ndarray:
    """Clamped knot vector for one feature: quantile interior knots, uniform when quantiles collide."""
    lo, hi = float(column.min()), float(column.max())
    if not hi > lo:
        hi = lo + 1.0  # constant feature: any non-degenerate interval; its basis is zeroed later.
    interior = np.empty(0)
    if n_interior:
        levels = np.arange(1, n_interior + 1) / (n_interior + 1)
        interior = np.quantile(column, levels)
        grid = np.concatenate([[lo], interior, [hi]])
        if np.any(np.diff(grid) <= 1e-9 * (hi - lo)):
            interior = lo + (hi - lo) * levels
    return np.concatenate([[lo] * (DEGREE + 1), interior, [hi] * (DEGREE + 1)])


@dataclass
class SplineBasis:
    """Fitted additive basis: evaluates Phi(x) = [psi_1(x_1), ..., psi_p(x_p)] chunk by chunk."""

    knots: np.ndarray  # (p, K + 8)
    transform: np.ndarray  # (p, K + 4, n_basis)
    offset: np.ndarray  # (p, n_basis) = mean_j @ T_j

    @property
    def n_features(self) -> int:
        return self.knots.shape[0]

    @property
    def n_basis(self) -> int:
        return self.transform.shape[2]

    def to(self, device: torch.device, dtype: torch.dtype) -> _BasisTensors:
        return _BasisTensors(
            knots=torch.as_tensor(self.knots, device=device, dtype=dtype),
            transform=torch.as_tensor(self.transform, device=device, dtype=dtype),
            offset=torch.as_tensor(self.offset, device=device, dtype=dtype),
        )


@dataclass
class _BasisTensors:
    knots: Tensor
    transform: Tensor
    offset: Tensor

    def evaluate(self, x: Tensor) -> Tensor:
        """Phi for a chunk of rows: (c, p) -> (c, p * n_basis), features major."""
        clamped = torch.minimum(torch.maximum(x, self.knots[:, 0]), self.knots[:, -1])
        raw = bspline_design(clamped, self.knots)
        psi = torch.einsum("cpk,pkd->cpd", raw, self.transform) - self.offset
        return psi.reshape(x.shape[0], -1)


def fit_spline_basis(x: Tensor, n_basis: int, chunk_rows: int) -> SplineBasis:
    """Knots from training quantiles, then one chunked pass for the per-feature mean and covariance.

    ``x`` is the (n, p) training matrix on the fit device; the statistics are accumulated in float64.
    """
    n, p = x.shape
    n_int = n_interior_knots(n_basis)
    x_np = x.detach().cpu().numpy() if x.device.type != "cpu" else x.detach().numpy()
    knots = np.stack([_feature_knots(np.asarray(x_np[:, j], dtype=np.float64), n_int) for j in range(p)])

    tensors = _BasisTensors(
        knots=torch.as_tensor(knots, device=x.device, dtype=torch.float64),
        transform=torch.empty(0),
        offset=torch.empty(0),
    )
    n_raw = n_int + DEGREE + 1
    total = torch.zeros(p, n_raw, dtype=torch.float64, device=x.device)
    cross = torch.zeros(p, n_raw, n_raw, dtype=torch.float64, device=x.device)
    for start in range(0, n, chunk_rows):
        chunk = x[start : start + chunk_rows].to(torch.float64)
        clamped = torch.minimum(torch.maximum(chunk, tensors.knots[:, 0]), tensors.knots[:, -1])
        raw = bspline_design(clamped, tensors.knots)
        total += raw.sum(dim=0)
        cross += torch.einsum("cpi,cpj->pij", raw, raw)
    mean = (total / n).cpu()
    cov = (cross / n).cpu() - mean[:, :, None] * mean[:, None, :]
    cov = 0.5 * (cov + cov.transpose(1, 2))

    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, evecs = evals.flip(-1), evecs.flip(-1)
    # Fix each direction's sign (largest entry positive) so the basis does not depend on the LAPACK build.
    pivot = evecs.abs().argmax(dim=1, keepdim=True)
    evecs = evecs * torch.sign(torch.gather(evecs, 1, pivot))
    keep = evals[:, :n_basis]
    top = keep[:, :1].clamp(min=0.0)
    rank_ok = (keep > _RANK_RTOL * top) & (keep > 1e-300)
    scale = torch.where(rank_ok, keep.clamp(min=1e-300).rsqrt(), torch.zeros_like(keep))
    transform = torch.zeros(p, n_raw, n_basis, dtype=torch.float64)
    width = min(n_basis, n_raw)
    transform[:, :, :width] = evecs[:, :, :width] * scale[:, None, :width]
    offset = torch.einsum("pk,pkd->pd", mean, transform)
    return SplineBasis(knots=knots, transform=transform.numpy(), offset=offset.numpy())
