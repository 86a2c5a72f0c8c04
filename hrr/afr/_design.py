"""Row-chunked access to the additive design Phi = [Psi_1, ..., Psi_p] (n x dp) and its weighted moments.

A dense Phi for n = 1e6, p = 64, d = 5 is 2.6 GB in float64. Everything the solver needs from the data --
Phi^T W Phi, Phi^T W y, Phi^T w, sum w, sum w y, sum w y^2 and the C-loss -- is a sum over rows, so it is
accumulated chunk by chunk and peak memory stays at one chunk plus the (dp x dp) Gram. When the dense
design is small it is cached instead, so repeated half-quadratic passes skip the spline evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from hrr.afr._basis import PiecewiseCubic
from hrr.afr._closs import correntropy_loss, hq_weights

# Target bytes of one chunk of Phi; the spline recursion needs a few chunk-sized temporaries on top.
_CHUNK_BYTES = 32 * 2**20
# Cache the dense design when it is at most this large.
CACHE_BYTES = 512 * 2**20


def auto_chunk_rows(n_columns: int, itemsize: int) -> int:
    return max(256, _CHUNK_BYTES // max(1, n_columns * itemsize))


class AdditiveDesign:
    """Phi for training rows ``x`` (n, p), served in row chunks; cached densely when ``cache`` is set."""

    def __init__(self, x: Tensor, basis: PiecewiseCubic, chunk_rows: int, cache: bool) -> None:
        self.x = x
        self.basis = basis
        self.chunk_rows = chunk_rows
        self.n_samples = x.shape[0]
        self.n_columns = basis.n_columns
        self._dense: Tensor | None = self._materialise() if cache else None

    def _materialise(self) -> Tensor:
        out = torch.empty(self.n_samples, self.n_columns, dtype=self.basis.coeffs.dtype, device=self.x.device)
        for rows in self._row_slices():
            out[rows] = self.basis.evaluate(self.x[rows].to(out.dtype))
        return out

    def _row_slices(self) -> Iterator[slice]:
        for start in range(0, self.n_samples, self.chunk_rows):
            yield slice(start, min(start + self.chunk_rows, self.n_samples))

    def chunks(self) -> Iterator[tuple[slice, Tensor]]:
        for rows in self._row_slices():
            if self._dense is not None:
                yield rows, self._dense[rows]
            else:
                yield rows, self.basis.evaluate(self.x[rows].to(self.basis.coeffs.dtype))

    def dense(self) -> Tensor:
        if self._dense is None:
            self._dense = self._materialise()
        return self._dense

    def matvec(self, coef: Tensor, intercept: float) -> Tensor:
        """f = intercept + Phi coef over all rows."""
        return torch.cat([phi @ coef for _, phi in self.chunks()]) + intercept


@dataclass
class WeightedMoments:
    """Sums over rows of the weighted design; ``gram`` is None when the Woodbury path does not need it."""

    gram: Tensor | None  # Phi^T W Phi
    phi_w: Tensor  # Phi^T w
    phi_wy: Tensor  # Phi^T W y
    sw: Tensor
    swy: Tensor
    swyy: Tensor
    n_samples: int

    def profiled_quadratic(self) -> tuple[Tensor | None, Tensor, Tensor]:
        """(H, h, c) with (1/n) sum_i w_i (y_i - b0 - Phi_i theta)^2 = theta^T H theta / 2 - h^T theta + c
        after minimising over the unpenalised intercept b0 (weighted centring)."""
        sw = torch.clamp(self.sw, min=torch.finfo(self.sw.dtype).tiny)
        scale = 2.0 / self.n_samples
        h = scale * (self.phi_wy - self.phi_w * (self.swy / sw))
        const = (self.swyy - self.swy**2 / sw) / self.n_samples
        hessian = None
        if self.gram is not None:
            hessian = scale * (self.gram - torch.outer(self.phi_w, self.phi_w) / sw)
            hessian = 0.5 * (hessian + hessian.T)
        return hessian, h, const

    def profiled_intercept(self, coef: Tensor) -> Tensor:
        sw = torch.clamp(self.sw, min=torch.finfo(self.sw.dtype).tiny)
        return (self.swy - self.phi_w @ coef) / sw


def hq_pass(
    design: AdditiveDesign, y: Tensor, coef: Tensor, intercept: float, sigma: float, need_gram: bool
) -> tuple[Tensor, Tensor, WeightedMoments]:
    """One fused pass at the current iterate: residuals, mean C-loss (Eq. 8), HQ weights (Eq. 13) and the
    weighted moments that define the next half-quadratic subproblem.

    Returns (mean C-loss, weights, moments).
    """
    dtype, device = coef.dtype, coef.device
    m = design.n_columns
    gram = torch.zeros(m, m, dtype=dtype, device=device) if need_gram else None
    phi_w = torch.zeros(m, dtype=dtype, device=device)
    phi_wy = torch.zeros(m, dtype=dtype, device=device)
    loss = torch.zeros((), dtype=dtype, device=device)
    weights = torch.empty_like(y)
    for rows, phi in design.chunks():
        yc = y[rows]
        residual = yc - (phi @ coef + intercept)
        loss += correntropy_loss(residual, sigma).sum()
        w = hq_weights(residual, sigma)
        weights[rows] = w
        phi_w += phi.T @ w
        phi_wy += phi.T @ (w * yc)
        if gram is not None:
            gram += phi.T @ (phi * w[:, None])
    moments = WeightedMoments(
        gram=gram,
        phi_w=phi_w,
        phi_wy=phi_wy,
        sw=weights.sum(),
        swy=(weights * y).sum(),
        swyy=(weights * y * y).sum(),
        n_samples=design.n_samples,
    )
    return loss / design.n_samples, weights, moments
