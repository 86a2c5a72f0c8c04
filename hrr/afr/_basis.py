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
_QUANTILE_ELEMENTS = 2**22
# Row blocks of PiecewiseCubic.evaluate: the largest temporary of a block, in bytes. Larger blocks mean fewer tensor
# operations; a streamed design (not cached) evaluates every chunk again in every pass and takes smaller blocks:
# at n = 1e6, p = 64 its peak memory over the data was 806-836 MiB with 4 MiB blocks, 252-389 MiB with 1 MiB
# (fit 26 s and 35 s; one block per chunk: 517-642 MiB, 39 s; benchmarks/bench_memory.py, two runs each).
BLOCK_BYTES = 4 * 2**20
STREAM_BLOCK_BYTES = 2**20


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


def fit_knots(x: Tensor, n_interior: int) -> np.ndarray:
    """Clamped knot vectors (p, n_interior + 8) for the columns of ``x`` (n, p), in float64.

    Interior knots at training quantiles, uniform on [min_j, max_j] for a feature whose quantiles collide
    (few-valued features). Quantiles are taken in column blocks on the fit device: a GPU fit never copies the
    whole feature matrix back to the host.
    """
    n, p = x.shape
    lo, hi = x.min(dim=0).values.double().cpu().numpy(), x.max(dim=0).values.double().cpu().numpy()
    hi = np.where(hi > lo, hi, lo + 1.0)  # constant feature: any non-degenerate interval; its basis is zeroed later
    interior = np.empty((p, 0))
    if n_interior:
        levels = np.arange(1, n_interior + 1) / (n_interior + 1)
        q = torch.as_tensor(levels, dtype=torch.float64, device=x.device)
        # Column blocks keep the float64 copy and quantile's sort small (and under its 2^24-element limit).
        width = max(1, _QUANTILE_ELEMENTS // max(n, 1))
        interior = np.concatenate([
            torch.quantile(x[:, j : j + width].to(torch.float64), q, dim=0).T.cpu().numpy()
            for j in range(0, p, width)
        ])
        grid = np.concatenate([lo[:, None], interior, hi[:, None]], axis=1)
        collide = np.any(np.diff(grid, axis=1) <= 1e-9 * (hi - lo)[:, None], axis=1)
        interior[collide] = lo[collide, None] + (hi - lo)[collide, None] * levels
    ends = np.ones((1, DEGREE + 1))
    return np.concatenate([lo[:, None] * ends, interior, hi[:, None] * ends], axis=1)


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

    def to(self, device: torch.device, dtype: torch.dtype) -> PiecewiseCubic:
        knots = torch.as_tensor(self.knots, dtype=torch.float64)
        return PiecewiseCubic.from_splines(knots, torch.as_tensor(self.transform), torch.as_tensor(self.offset)).to(
            device, dtype
        )


# Local cubic on each knot interval, u = (x - left) / width in [0, 1], recovered exactly from its
# values at four nodes: coefficients = V^{-1} values with V[q, r] = node_q^r.
_NODES = torch.tensor([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0], dtype=torch.float64)
_VANDERMONDE_INV = torch.linalg.inv(_NODES[:, None] ** torch.arange(4, dtype=torch.float64))


@dataclass
class PiecewiseCubic:
    """psi_j(x) on each of the K + 1 knot intervals of feature j as a cubic in the local coordinate u.

    Evaluating a spline basis by the Cox-de Boor recursion builds ~2 (K + 7) temporaries per row and
    feature; here a row costs one interval lookup and one small product with the powers of u, ~10x faster. The
    coefficients are derived from the recursion itself (``bspline_design``), so both agree to rounding.
    """

    lower: Tensor  # (p,)
    upper: Tensor  # (p,)
    interior: Tensor  # (p, K)
    left: Tensor  # (p * (K + 1),) left end of each interval
    width: Tensor  # (p * (K + 1),)
    coeffs: Tensor  # (4, p * (K + 1), out): power r of u, interval, output column

    @classmethod
    def from_splines(
        cls, knots: Tensor, transform: Tensor | None = None, offset: Tensor | None = None
    ) -> PiecewiseCubic:
        """Fit the local cubics of T^T (B(x) - mean) (or of the raw splines B when ``transform`` is None)."""
        p = knots.shape[0]
        breaks = torch.cat([knots[:, :1], knots[:, DEGREE + 1 : -(DEGREE + 1)], knots[:, -1:]], dim=1)
        left, width = breaks[:, :-1], breaks[:, 1:] - breaks[:, :-1]
        n_intervals = left.shape[1]
        nodes = (left[:, :, None] + width[:, :, None] * _NODES).reshape(p, -1).T  # (4 (K + 1), p)
        values = bspline_design(nodes, knots)  # (4 (K + 1), p, K + 4)
        if transform is not None:
            assert offset is not None
            values = torch.einsum("npk,pkd->npd", values, transform) - offset
        values = values.reshape(n_intervals, 4, p, -1).permute(2, 0, 1, 3)  # (p, K + 1, 4, out)
        coeffs = torch.einsum("rq,pkqo->rpko", _VANDERMONDE_INV, values)
        return cls(
            lower=knots[:, 0].clone(),
            upper=knots[:, -1].clone(),
            interior=knots[:, DEGREE + 1 : -(DEGREE + 1)].contiguous(),
            left=left.reshape(-1).contiguous(),
            width=width.reshape(-1).contiguous(),
            coeffs=coeffs.reshape(4, p * n_intervals, -1).contiguous(),
        )

    def to(self, device: torch.device, dtype: torch.dtype) -> PiecewiseCubic:
        return PiecewiseCubic(*(t.to(device=device, dtype=dtype) for t in vars(self).values()))

    @property
    def n_columns(self) -> int:
        return self.lower.shape[0] * self.coeffs.shape[2]

    def subset(self, features: Tensor) -> PiecewiseCubic:
        """The basis of the given features only (in that order)."""
        n_intervals = self.interior.shape[1] + 1
        p = self.lower.shape[0]
        intervals = (features[:, None] * n_intervals + torch.arange(n_intervals, device=features.device)).reshape(-1)
        return PiecewiseCubic(
            lower=self.lower[features],
            upper=self.upper[features],
            interior=self.interior[features],
            left=self.left.reshape(p, n_intervals)[features].reshape(-1),
            width=self.width.reshape(p, n_intervals)[features].reshape(-1),
            coeffs=self.coeffs[:, intervals],
        )

    def evaluate(self, x: Tensor, out: Tensor | None = None, block_bytes: int | None = None) -> Tensor:
        """(c, p) rows -> (c, p * n_out), features major, written into ``out`` when given (c, p * n_out),
        contiguous. Inputs are clamped to the training range first.

        On the CPU, rows go in blocks whose largest temporary is about ``block_bytes`` (default ``BLOCK_BYTES``): a
        single pass over a few thousand rows made temporaries of ~8 MB that glibc hands back to the OS and faults
        in again on every fit (~4500 page faults, a third of a small fit's basis time); blocks are reused from the
        heap instead. A block of one or two rows can round differently from a larger one (BLAS picks another
        kernel), so values may depend on the blocking in the last bits.
        """
        c, p = x.shape
        n_intervals = self.interior.shape[1] + 1
        n_out = self.coeffs.shape[2]
        if out is None:
            out = torch.empty(c, p * n_out, dtype=x.dtype, device=x.device)
        # Each feature's K + 1 cubics stacked as one (4 (K + 1), n_out) matrix, interval major.
        stacked = self.coeffs.reshape(4, p, n_intervals, n_out).permute(1, 2, 0, 3).reshape(p, 4 * n_intervals, n_out)
        offsets = torch.arange(p, device=x.device) * n_intervals
        # The blocks are for glibc's heap: on a GPU each block's dozen operations would be kernel launches.
        block = (max(1, (block_bytes or BLOCK_BYTES) // (max(p, 1) * 4 * n_intervals * x.element_size()))
                 if x.device.type == "cpu" else max(c, 1))
        for start in range(0, c, block):
            rows = slice(start, min(start + block, c))
            out[rows] = self._evaluate_block(x[rows], stacked, offsets).transpose(0, 1).reshape(
                rows.stop - rows.start, p * n_out)
        return out

    def _evaluate_block(self, x: Tensor, stacked: Tensor, offsets: Tensor) -> Tensor:
        """(b, p) rows -> (p, b, n_out): one batched product over features of each row's (1, u, u^2, u^3) placed in
        its interval's slot of a (K + 1) x 4 row with the feature's stacked cubics (half the time of gathering every
        row's own (4, n_out) cubic, whose copy dominated; u is in [0, 1], so plain powers lose nothing)."""
        b, p = x.shape
        n_intervals = self.interior.shape[1] + 1
        clamped = torch.minimum(torch.maximum(x, self.lower), self.upper)
        local = (clamped.unsqueeze(-1) >= self.interior).sum(-1)  # (b, p): each value's knot interval
        flat = local + offsets  # index into the p * (K + 1) intervals
        u = (clamped - self.left[flat]) / self.width[flat]
        u2 = u * u
        powers = torch.stack([torch.ones_like(u), u, u2, u2 * u], dim=-1)  # (b, p, 4)
        slots = torch.zeros(b, p, n_intervals, 4, dtype=x.dtype, device=x.device)
        slots.scatter_(2, local[:, :, None, None].expand(b, p, 1, 4), powers.unsqueeze(2))
        return torch.bmm(slots.reshape(b, p, 4 * n_intervals).transpose(0, 1), stacked)


def fit_spline_basis(x: Tensor, n_basis: int, chunk_rows: int) -> SplineBasis:
    """Knots from training quantiles, then one chunked pass for the per-feature mean and covariance.

    ``x`` is the (n, p) training matrix on the fit device; the statistics are accumulated in float64.
    """
    return fit_spline_basis_and_raw(x, n_basis, chunk_rows, keep_raw=False)[0]


def fit_spline_basis_and_raw(x: Tensor, n_basis: int, chunk_rows: int,
                             keep_raw: bool = True) -> tuple[SplineBasis, Tensor | None]:
    """:func:`fit_spline_basis`, and with ``keep_raw`` the raw spline values of its pass (n, p, n_basis + 1),
    so a design that is to be cached is a product with the transform instead of a second spline evaluation."""
    n, p = x.shape
    n_int = n_interior_knots(n_basis)
    knots = fit_knots(x, n_int)

    raw_basis = PiecewiseCubic.from_splines(torch.as_tensor(knots)).to(x.device, torch.float64)
    n_raw = n_int + DEGREE + 1
    total = torch.zeros(p, n_raw, dtype=torch.float64, device=x.device)
    cross = torch.zeros(p, n_raw, n_raw, dtype=torch.float64, device=x.device)
    kept = torch.empty(n, p * n_raw, dtype=torch.float64, device=x.device) if keep_raw else None
    for start in range(0, n, chunk_rows):
        rows = slice(start, min(start + chunk_rows, n))
        raw = raw_basis.evaluate(x[rows].to(torch.float64), None if kept is None else kept[rows],
                                 BLOCK_BYTES if keep_raw else STREAM_BLOCK_BYTES).reshape(-1, p, n_raw)
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
    # n_raw >= n_basis + 1 always, so the top n_basis directions exist (possibly with zero variance).
    transform = evecs[:, :, :n_basis] * scale[:, None, :]
    offset = torch.einsum("pk,pkd->pd", mean, transform)
    basis = SplineBasis(knots=knots, transform=transform.numpy(), offset=offset.numpy())
    return basis, (None if kept is None else kept.reshape(n, p, n_raw))


def transform_raw(raw: Tensor, basis: SplineBasis, dtype: torch.dtype) -> Tensor:
    """Phi (n, p * n_basis) from the raw spline values (n, p, n_raw) of :func:`fit_spline_basis_and_raw`."""
    transform = torch.as_tensor(basis.transform, device=raw.device)
    offset = torch.as_tensor(basis.offset, device=raw.device)
    phi = torch.einsum("npk,pkd->npd", raw, transform).sub_(offset)  # in place: one (n, dp) buffer fewer
    return phi.reshape(raw.shape[0], -1).to(dtype)
