"""Row-chunked access to the additive design Phi = [Psi_1, ..., Psi_p] (n x dp) and its weighted moments.

A dense Phi for n = 1e6, p = 64, d = 5 is 2.6 GB in float64. Everything the solver needs from the data --
Phi^T W Phi (restricted to a working set of features), Phi^T W y, Phi^T w, Phi^T W Phi theta, sum w,
sum w y, sum w y^2 and the C-loss -- is a sum over rows, so it is accumulated chunk by chunk and peak
memory stays at one chunk plus the Gram. When the dense design is small it is cached instead, so
repeated half-quadratic passes skip the spline evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from hrr.afr._basis import STREAM_BLOCK_BYTES, PiecewiseCubic
from hrr.afr._closs import CLoss, correntropy_loss, hq_weights

# Target bytes of one chunk of Phi; the spline evaluation needs a few chunk-sized temporaries on top.
_CHUNK_BYTES = 8 * 2**20
# Cache the dense design when it is at most this large.
CACHE_BYTES = 512 * 2**20


def auto_chunk_rows(n_columns: int, itemsize: int) -> int:
    return max(256, _CHUNK_BYTES // max(1, n_columns * itemsize))


class AdditiveDesign:
    """Phi for training rows ``x`` (n, p), served in row chunks; cached densely when ``cache`` is set."""

    def __init__(self, x: Tensor, basis: PiecewiseCubic, chunk_rows: int, cache: bool,
                 dense: Tensor | None = None) -> None:
        """``dense``: Phi already evaluated (n, dp) in the basis's dtype, cached as is (implies ``cache``)."""
        self.x = x
        self.basis = basis
        self.chunk_rows = chunk_rows
        self.n_samples, self.n_features = x.shape
        self.n_columns = basis.n_columns
        self.n_basis = self.n_columns // self.n_features
        self._dense: Tensor | None = dense if dense is not None else (self._materialise() if cache else None)
        self.memo: dict[Any, Any] = {}  # what a solver derives from the design alone (the MM system), for paths

    @property
    def cached(self) -> bool:
        return self._dense is not None

    def _materialise(self) -> Tensor:
        out = torch.empty(self.n_samples, self.n_columns, dtype=self.basis.coeffs.dtype, device=self.x.device)
        for rows in self._row_slices():
            self.basis.evaluate(self.x[rows].to(out.dtype), out[rows])
        return out

    def _row_slices(self) -> Iterator[slice]:
        for start in range(0, self.n_samples, self.chunk_rows):
            yield slice(start, min(start + self.chunk_rows, self.n_samples))

    def columns(self, features: Tensor) -> Tensor:
        """Column indices of Phi that belong to ``features`` (features major)."""
        offsets = torch.arange(self.n_basis, device=features.device)
        return (features[:, None] * self.n_basis + offsets).reshape(-1)

    def chunks(self, features: Tensor | None = None, whole: bool = True) -> Iterator[tuple[slice, Tensor]]:
        """Row chunks of Phi, restricted to the columns of ``features`` when given.

        ``whole``: a cached design of all columns comes as one chunk of every row (right for passes whose
        temporaries are vectors of n; a caller that makes a chunk-sized temporary passes False).
        """
        dtype = self.basis.coeffs.dtype
        if features is None or features.numel() == self.n_features:
            if self._dense is not None and whole:  # in memory: one product over all rows beats many small ones
                yield slice(0, self.n_samples), self._dense
                return
            for rows in self._row_slices():
                yield (
                    rows,
                    self._dense[rows] if self._dense is not None
                    else self.basis.evaluate(self.x[rows].to(dtype), block_bytes=STREAM_BLOCK_BYTES),
                )
            return
        columns = self.columns(features)
        sub_basis = self.basis.subset(features)
        for rows in self._row_slices():
            if self._dense is not None:
                yield rows, self._dense[rows].index_select(1, columns)
            else:
                yield rows, sub_basis.evaluate(self.x[rows].index_select(1, features).to(dtype),
                                               block_bytes=STREAM_BLOCK_BYTES)

    def restricted(self, features: Tensor) -> AdditiveDesign:
        """The design of ``features`` only (a working set), its own ``memo`` included.

        The most recent one is kept in ``memo``: along a regularisation path consecutive lambdas often share a
        working set, and keeping one bounds the extra memory to one copy of its columns.
        """
        key = tuple(features.tolist())
        kept = self.memo.get("restricted")
        if kept is not None and kept[0] == key:
            return kept[1]
        dense = self._dense.index_select(1, self.columns(features)) if self._dense is not None else None
        itemsize = self.basis.coeffs.element_size()
        sub = AdditiveDesign(self.x.index_select(1, features), self.basis.subset(features),
                             auto_chunk_rows(features.numel() * self.n_basis, itemsize), cache=False, dense=dense)
        self.memo["restricted"] = (key, sub)
        return sub

    def dense(self) -> Tensor:
        if self._dense is None:
            self._dense = self._materialise()
        return self._dense

    def matvec(self, coef: Tensor, intercept: float) -> Tensor:
        """f = intercept + Phi coef over all rows."""
        return torch.cat([phi @ coef for _, phi in self.chunks()]) + intercept


@dataclass
class WeightedMoments:
    """Row sums that define one half-quadratic subproblem (weights fixed at the current iterate)."""

    phi_w: Tensor  # Phi^T w
    phi_wy: Tensor  # Phi^T W y
    phi_wf: Tensor  # Phi^T W Phi theta at the iterate the pass was made at
    sw: Tensor
    swy: Tensor
    n_samples: int

    @property
    def sw_safe(self) -> Tensor:
        """sum w, kept away from 0 (weights can all underflow far from a fit)."""
        return torch.clamp(self.sw, min=torch.finfo(self.sw.dtype).tiny)

    def linear_term(self) -> Tensor:
        """h of  (1/n) sum_i w_i (y_i - b0 - Phi_i theta)^2 = theta^T H theta / 2 - h^T theta + const,
        after minimising over the unpenalised intercept b0 (weighted centring)."""
        return (2.0 / self.n_samples) * (self.phi_wy - self.phi_w * (self.swy / self.sw_safe))

    def hessian(self, gram: Tensor, columns: Tensor) -> Tensor:
        """H restricted to ``columns``, from the weighted Gram of those columns."""
        phi_w = self.phi_w[columns]
        hessian = (2.0 / self.n_samples) * (gram - torch.outer(phi_w, phi_w) / self.sw_safe)
        return 0.5 * (hessian + hessian.T)

    def hessian_product(self, cross: Tensor, coef: Tensor) -> Tensor:
        """H coef for all columns, from cross = Phi^T W Phi coef."""
        return (2.0 / self.n_samples) * (cross - self.phi_w * ((self.phi_w @ coef) / self.sw_safe))

    def profiled_intercept(self, coef: Tensor) -> Tensor:
        return (self.swy - self.phi_w @ coef) / self.sw_safe


def hq_pass(
    design: AdditiveDesign, y: Tensor, coef: Tensor, intercept: float, sigma: float
) -> tuple[Tensor, Tensor, WeightedMoments]:
    """One pass at the current iterate: residuals, mean C-loss (Eq. 8), HQ weights (Eq. 13) and the
    O(n dp) moments of the next half-quadratic subproblem (no Gram: see ``weighted_gram``).

    Returns (mean C-loss, weights, moments).
    """
    dtype, device = coef.dtype, coef.device
    m = design.n_columns
    phi_w = torch.zeros(m, dtype=dtype, device=device)
    phi_wy = torch.zeros(m, dtype=dtype, device=device)
    phi_wf = torch.zeros(m, dtype=dtype, device=device)
    loss = torch.zeros((), dtype=dtype, device=device)
    weights = torch.empty_like(y)
    for rows, phi in design.chunks():
        yc = y[rows]
        linear = phi @ coef
        residual = yc - (linear + intercept)
        loss += correntropy_loss(residual, sigma).sum()
        w = hq_weights(residual, sigma)
        weights[rows] = w
        phi_w += phi.T @ w
        phi_wy += phi.T @ (w * yc)
        phi_wf += phi.T @ (w * linear)
    moments = WeightedMoments(
        phi_w=phi_w,
        phi_wy=phi_wy,
        phi_wf=phi_wf,
        sw=weights.sum(),
        swy=(weights * y).sum(),
        n_samples=design.n_samples,
    )
    return loss / design.n_samples, weights, moments


def weighted_gram(design: AdditiveDesign, weights: Tensor | None, features: Tensor) -> Tensor:
    """Phi_S^T W Phi_S for the columns of ``features`` S, accumulated over row chunks (W = I for None)."""
    width = features.numel() * design.n_basis
    dtype = design.basis.coeffs.dtype
    gram = torch.zeros(width, width, dtype=dtype, device=design.x.device)
    for rows, phi in design.chunks(features, whole=False):  # phi * w is a chunk-sized temporary
        gram.addmm_(phi.T, phi if weights is None else phi * weights[rows, None])
    return gram


def weighted_cross(design: AdditiveDesign, weights: Tensor, coef: Tensor) -> Tensor:
    """Phi^T W Phi coef for all columns (one O(n dp) pass; used to check KKT outside a working set)."""
    out = torch.zeros(design.n_columns, dtype=weights.dtype, device=weights.device)
    for rows, phi in design.chunks():
        out += phi.T @ (weights[rows] * (phi @ coef))
    return out


def gradient_pass(design: AdditiveDesign, y: Tensor, coef: Tensor, intercept: float,
                  datafit: CLoss) -> tuple[Tensor, Tensor, float]:
    """One pass at (coef, intercept): the mean C-loss, its gradient in theta (dp,) and in the intercept.

    With r = y - intercept - Phi theta: grad_theta = -Phi^T l'(r) / n and grad_b = -sum l'(r) / n.
    """
    dtype, device = coef.dtype, coef.device
    grad = torch.zeros(design.n_columns, dtype=dtype, device=device)
    loss = torch.zeros((), dtype=dtype, device=device)
    grad_b = torch.zeros((), dtype=dtype, device=device)
    for rows, phi in design.chunks():
        residual = y[rows] - (phi @ coef + intercept)
        value, slope = datafit.value_and_derivative(residual)
        loss += value.sum()
        grad -= phi.T @ slope
        grad_b -= slope.sum()
    n = design.n_samples
    return loss / n, grad / n, float(grad_b) / n
