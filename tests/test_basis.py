"""Eq. (5) basis: cubic B-splines, quantile knots, centred, orthonormal, bounded outside the training range."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.interpolate import BSpline

from hrr.afr._basis import bspline_design, fit_spline_basis


def _basis(x: np.ndarray, n_basis: int = 5):
    return fit_spline_basis(torch.from_numpy(x), n_basis, chunk_rows=97)


def _evaluate(basis, x: np.ndarray) -> np.ndarray:
    return basis.to(torch.device("cpu"), torch.float64).evaluate(torch.from_numpy(x)).numpy()


@given(st.integers(0, 6), st.integers(0, 10_000))
def test_cox_de_boor_matches_scipy_design_matrix(n_interior: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    interior = np.sort(rng.uniform(0.05, 0.95, n_interior))
    knots = np.concatenate([[0.0] * 4, interior, [1.0] * 4])
    x = np.concatenate([rng.uniform(0, 1, 50), [0.0, 1.0], interior])
    ours = bspline_design(torch.from_numpy(x[:, None]), torch.from_numpy(knots[None, :]))[:, 0, :].numpy()
    reference = BSpline.design_matrix(x, knots, 3).toarray()
    np.testing.assert_allclose(ours, reference, atol=1e-12)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-12)  # partition of unity


@pytest.mark.parametrize("n_basis", [1, 2, 3, 5, 8])
def test_basis_is_centred_and_orthonormal_per_feature(n_basis: int) -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=500), rng.exponential(size=500), rng.uniform(-3, 7, 500)])
    basis = _basis(x, n_basis)
    phi = _evaluate(basis, x).reshape(500, 3, n_basis)
    np.testing.assert_allclose(phi.mean(axis=0), 0.0, atol=1e-10)
    for j in range(3):
        gram = phi[:, j, :].T @ phi[:, j, :] / 500
        np.testing.assert_allclose(gram, np.eye(n_basis), atol=1e-8)


def test_interior_knots_are_training_quantiles() -> None:
    x = np.random.default_rng(1).lognormal(size=(1000, 1))
    basis = _basis(x, n_basis=5)  # 2 interior knots at the 1/3 and 2/3 quantiles
    np.testing.assert_allclose(basis.knots[0, 4:6], np.quantile(x[:, 0], [1 / 3, 2 / 3]))
    assert basis.knots[0, 0] == x.min() and basis.knots[0, -1] == x.max()


def test_basis_is_constant_outside_training_range() -> None:
    x = np.random.default_rng(2).normal(size=(300, 2))
    basis = _basis(x)
    lo, hi = x.min(axis=0), x.max(axis=0)
    far = np.array([lo - 100.0, lo - 0.5, hi + 0.5, hi + 1e6])
    edge = np.array([lo, lo, hi, hi])
    np.testing.assert_allclose(_evaluate(basis, far), _evaluate(basis, edge), atol=1e-12)


def test_constant_and_few_valued_features_are_rank_limited() -> None:
    rng = np.random.default_rng(3)
    n = 400
    x = np.column_stack(
        [np.full(n, 7.0), rng.integers(0, 2, n).astype(float), rng.integers(0, 3, n).astype(float), rng.normal(size=n)]
    )
    basis = _basis(x, n_basis=5)
    phi = _evaluate(basis, x).reshape(n, 4, 5)
    ranks = [np.linalg.matrix_rank(phi[:, j, :], tol=1e-8) for j in range(4)]
    assert ranks == [0, 1, 2, 5]
    assert np.all(np.isfinite(phi))
    # The directions that exist are still orthonormal; the others are exactly zero.
    np.testing.assert_allclose(phi[:, 1, 0] @ phi[:, 1, 0] / n, 1.0, atol=1e-8)
    assert np.all(phi[:, 0, :] == 0) and np.all(phi[:, 1, 1:] == 0)


def test_chunk_size_does_not_change_the_basis() -> None:
    x = np.random.default_rng(4).normal(size=(1000, 3))
    a = fit_spline_basis(torch.from_numpy(x), 5, chunk_rows=1000)
    b = fit_spline_basis(torch.from_numpy(x), 5, chunk_rows=33)
    np.testing.assert_allclose(_evaluate(a, x), _evaluate(b, x), atol=1e-10)


@given(st.integers(0, 5), st.integers(0, 10_000))
def test_piecewise_cubic_evaluation_matches_the_recursion(n_interior: int, seed: int) -> None:
    from hrr.afr._basis import PiecewiseCubic

    rng = np.random.default_rng(seed)
    p = 3
    knots = np.stack(
        [
            np.concatenate([[lo] * 4, np.sort(rng.uniform(lo + 0.1, lo + 0.9, n_interior)), [lo + 1.0] * 4])
            for lo in rng.normal(size=p)
        ]
    )
    t = torch.from_numpy(knots)
    x = np.concatenate(
        [rng.uniform(knots[:, 0] - 0.5, knots[:, -1] + 0.5, (200, p)), knots[:, 4:-4].T, knots[:, [0, -1]].T]
    )
    x_t = torch.from_numpy(x)
    ours = PiecewiseCubic.from_splines(t).evaluate(x_t).reshape(len(x), p, -1)
    clamped = torch.minimum(torch.maximum(x_t, t[:, 0]), t[:, -1])
    np.testing.assert_allclose(ours.numpy(), bspline_design(clamped, t).numpy(), atol=1e-11)


@pytest.mark.parametrize("block_bytes", [1, 3000, 2**30])
def test_evaluation_in_row_blocks_and_into_out(block_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Row blocks bound the temporaries (no page faults per fit). Each row's values do not depend on the blocks
    # beyond round-off (BLAS may sum a one-row product in another order), and ``out`` receives exactly what a
    # returned evaluation holds.
    import hrr.afr._basis as basis_module

    x = torch.from_numpy(np.random.default_rng(5).normal(size=(301, 7)))
    basis = fit_spline_basis(x, 5, chunk_rows=301).to(torch.device("cpu"), torch.float64)
    whole = basis.evaluate(x)
    monkeypatch.setattr(basis_module, "BLOCK_BYTES", block_bytes)
    out = torch.full((301, 7 * 5), float("nan"), dtype=torch.float64)
    assert basis.evaluate(x, out) is out
    assert torch.equal(out, basis.evaluate(x))
    np.testing.assert_allclose(out.numpy(), whole.numpy(), rtol=0, atol=1e-13)


def test_evaluation_of_no_rows_and_no_features() -> None:
    x = torch.from_numpy(np.random.default_rng(6).normal(size=(50, 3)))
    basis = fit_spline_basis(x, 5, chunk_rows=50).to(torch.device("cpu"), torch.float64)
    assert basis.evaluate(x[:0]).shape == (0, 15)
    empty = basis.subset(torch.zeros(0, dtype=torch.long))
    assert empty.evaluate(x[:, :0]).shape == (50, 0)


@pytest.mark.parametrize("n_basis", [2, 5, 8])
def test_design_from_the_basis_fits_raw_values_equals_a_fresh_evaluation(n_basis: int) -> None:
    # The cached design reuses the raw splines of the basis fit; it must be the Phi that predict evaluates.
    from hrr.afr._basis import fit_spline_basis_and_raw, transform_raw

    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(size=400), rng.integers(0, 3, 400), np.full(400, 2.0), rng.exponential(size=400)])
    basis, raw = fit_spline_basis_and_raw(torch.from_numpy(x), n_basis, chunk_rows=97)
    assert raw is not None and raw.shape == (400, 4, max(n_basis + 1, 4))
    np.testing.assert_allclose(transform_raw(raw, basis, torch.float64).numpy(), _evaluate(basis, x), atol=1e-12)
    reference = fit_spline_basis(torch.from_numpy(x), n_basis, chunk_rows=97)
    np.testing.assert_array_equal(basis.knots, reference.knots)
    np.testing.assert_array_equal(basis.transform, reference.transform)
