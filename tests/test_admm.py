"""The inner weighted group-lasso step (Eqs. 15-22): KKT, an independent reference solver, linear-algebra paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hrr.afr._admm import (
    DenseSystem,
    WoodburySystem,
    admm_solve,
    kkt_violation,
    subproblem_change,
    subproblem_objective,
)
from hrr.afr._basis import fit_spline_basis
from hrr.afr._design import AdditiveDesign, hq_pass, weighted_cross, weighted_gram
from hrr.afr._hq import build_system
from hrr.afr._penalties import GroupL2Penalty, L1Penalty


def _problem(seed: int, n: int = 150, p: int = 6, d: int = 4, chunk_rows: int = 64, cache: bool = False):
    """A realistic subproblem: spline design of random data, HQ weights at a random iterate."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(size=(n, p)))
    y = torch.from_numpy(np.where(rng.random(n) < 0.5, -1.0, 1.0))
    basis = fit_spline_basis(x, d, chunk_rows)
    design = AdditiveDesign(x, basis.to(torch.device("cpu"), torch.float64), chunk_rows, cache=cache)
    coef = torch.from_numpy(rng.normal(scale=0.3, size=p * d))
    _, weights, moments = hq_pass(design, y, coef, 0.1, sigma=1.0)
    return design, weights, moments


def _quadratic(design, weights, moments):
    """Full (H, h) of the subproblem."""
    everything = torch.arange(design.n_features)
    gram = weighted_gram(design, weights, everything)
    return moments.hessian(gram, design.columns(everything)), moments.linear_term()


def _reference_fista(hessian: np.ndarray, h: np.ndarray, kappa: float, penalty, shape, iters: int = 20_000):
    """Accelerated proximal gradient, written independently of the library's ADMM."""
    step = 1.0 / np.linalg.eigvalsh(hessian).max()
    theta = np.zeros(hessian.shape[0])
    momentum, t = theta.copy(), 1.0
    for _ in range(iters):
        grad = hessian @ momentum - h
        v = (momentum - step * grad).reshape(shape)
        if isinstance(penalty, GroupL2Penalty):
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            new = (np.maximum(0, 1 - step * kappa / np.maximum(norms, 1e-300)) * v).ravel()
        else:
            new = (np.sign(v) * np.maximum(np.abs(v) - step * kappa, 0)).ravel()
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        momentum = new + (t - 1) / t_next * (new - theta)
        theta, t = new, t_next
    return theta.reshape(shape)


@pytest.mark.parametrize("penalty", [GroupL2Penalty(), L1Penalty()], ids=["group", "l1"])
@pytest.mark.parametrize("accelerate", [True, False])
@settings(max_examples=6)
@given(seed=st.integers(0, 10_000), kappa_fraction=st.sampled_from([0.05, 0.2, 0.6]))
def test_admm_satisfies_kkt_and_matches_reference(penalty, accelerate: bool, seed: int, kappa_fraction: float) -> None:
    hessian, h = _quadratic(*_problem(seed))
    shape = (6, 4)
    grad0 = h.reshape(shape)
    kappa_max = float(grad0.norm(dim=1).max() if isinstance(penalty, GroupL2Penalty) else grad0.abs().max())
    kappa = kappa_fraction * kappa_max
    system = DenseSystem(hessian)
    zeros = torch.zeros(shape, dtype=torch.float64)
    result = admm_solve(
        system, h, kappa, penalty, zeros, zeros, eta=0.1, max_iter=20_000, tol=1e-10, accelerate=accelerate
    )
    assert result.converged
    assert float(kkt_violation(system, h, kappa, penalty, result.coef)) < 1e-4
    reference = _reference_fista(hessian.numpy(), h.numpy(), kappa, penalty, shape)
    np.testing.assert_allclose(result.coef.numpy(), reference, atol=1e-5)
    # Exact zeros where the reference is zero (the returned z comes out of the prox).
    assert np.array_equal(result.coef.numpy() == 0, np.abs(reference) < 1e-12)
    assert (
        float(subproblem_objective(system, h, kappa, penalty, result.coef))
        <= float(subproblem_objective(system, h, kappa, penalty, torch.from_numpy(reference))) + 1e-9
    )


def test_kappa_above_max_gives_the_zero_solution() -> None:
    hessian, h = _quadratic(*_problem(1))
    kappa = 1.01 * float(h.reshape(6, 4).norm(dim=1).max())
    zeros = torch.zeros(6, 4, dtype=torch.float64)
    result = admm_solve(DenseSystem(hessian), h, kappa, GroupL2Penalty(), zeros, zeros, 0.1, 5000, 1e-10)
    assert torch.count_nonzero(result.coef) == 0


@given(st.integers(0, 10_000))
def test_woodbury_and_dense_paths_agree(seed: int) -> None:
    design, weights, moments = _problem(seed, n=30, p=12, d=5, cache=True)  # n = 30 < dp = 60
    everything = torch.arange(12)
    dense = build_system(design, moments, weights, everything, "dense")
    woodbury = build_system(design, moments, weights, everything, "woodbury")
    assert isinstance(build_system(design, moments, weights, everything, "auto"), WoodburySystem)
    assert isinstance(build_system(design, moments, weights, everything[:4], "auto"), DenseSystem)  # 20 < n
    assert isinstance(dense, DenseSystem) and isinstance(woodbury, WoodburySystem)
    rhs = torch.from_numpy(np.random.default_rng(seed).normal(size=60))
    np.testing.assert_allclose(woodbury.matvec(rhs).numpy(), dense.matvec(rhs).numpy(), rtol=1e-9, atol=1e-10)
    for eta in (1e-3, 0.1, 10.0):
        dense.factor(eta)
        woodbury.factor(eta)
        np.testing.assert_allclose(woodbury.solve(rhs).numpy(), dense.solve(rhs).numpy(), rtol=1e-7, atol=1e-8)
    h = moments.linear_term()
    zeros = torch.zeros(12, 5, dtype=torch.float64)
    a = admm_solve(dense, h, 0.02, GroupL2Penalty(), zeros, zeros, 0.1, 20_000, 1e-11)
    b = admm_solve(woodbury, h, 0.02, GroupL2Penalty(), zeros, zeros, 0.1, 20_000, 1e-11)
    np.testing.assert_allclose(a.coef.numpy(), b.coef.numpy(), atol=1e-7)


@pytest.mark.parametrize("cache", [False, True])
def test_chunked_and_unchunked_moments_agree(cache: bool) -> None:
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(301, 7)))
    y = torch.from_numpy(np.where(rng.random(301) < 0.4, -1.0, 1.0))
    basis = fit_spline_basis(x, 5, 301).to(torch.device("cpu"), torch.float64)
    coef = torch.from_numpy(rng.normal(scale=0.2, size=35))
    whole_design, chunked_design = AdditiveDesign(x, basis, 301, cache=False), AdditiveDesign(x, basis, 17, cache=cache)
    whole = hq_pass(whole_design, y, coef, -0.2, 1.3)
    chunked = hq_pass(chunked_design, y, coef, -0.2, 1.3)
    torch.testing.assert_close(chunked[0], whole[0])
    torch.testing.assert_close(chunked[1], whole[1])
    for name in ("phi_w", "phi_wy", "phi_wf", "sw", "swy"):
        torch.testing.assert_close(getattr(chunked[2], name), getattr(whole[2], name))
    # The accumulated (working-set) Grams and cross products are those of the explicit weighted design.
    phi = AdditiveDesign(x, basis, 301, cache=True).dense()
    w = whole[1]
    subset = torch.tensor([5, 1, 3])
    columns = chunked_design.columns(subset)
    torch.testing.assert_close(
        weighted_gram(chunked_design, w, subset), phi[:, columns].T @ (phi[:, columns] * w[:, None])
    )
    torch.testing.assert_close(weighted_gram(chunked_design, w, torch.arange(7)), phi.T @ (phi * w[:, None]))
    torch.testing.assert_close(weighted_cross(chunked_design, w, coef), phi.T @ (w * (phi @ coef)))
    torch.testing.assert_close(whole[2].phi_wf, phi.T @ (w * (phi @ coef)))


def test_jitter_fallback_factorises_a_singular_system() -> None:
    singular = torch.zeros(4, 4, dtype=torch.float32)
    system = DenseSystem(singular)
    system.factor(0.0)  # H + 0 I is singular; the jitter makes it factorable
    assert torch.isfinite(system.solve(torch.ones(4))).all()


@settings(max_examples=8)
@given(seed=st.integers(0, 10_000), kappa_fraction=st.sampled_from([0.1, 0.3, 0.7]))
def test_working_set_subproblem_solves_the_full_problem(seed: int, kappa_fraction: float) -> None:
    from hrr.afr._hq import solve_subproblem

    design, weights, moments = _problem(seed, n=200, p=40, d=3)
    hessian, h = _quadratic(design, weights, moments)
    kappa = kappa_fraction * float(h.reshape(40, 3).norm(dim=1).max())
    zeros = torch.zeros(40, 3, dtype=torch.float64)
    # moments were taken at a random iterate; the subproblem gradient at coef0 = 0 is just -h, so rebuild
    # phi_wf for coef0 = 0 (hq_pass contract: moments belong to coef0).
    moments.phi_wf = torch.zeros_like(moments.phi_wf)
    step = solve_subproblem(
        design,
        moments,
        weights,
        penalty=GroupL2Penalty(),
        kappa=kappa,
        coef0=zeros,
        dual0=zeros,
        eta=0.1,
        max_admm_iter=20_000,
        admm_tol=1e-10,
    )
    assert step.accepted
    full = DenseSystem(hessian)
    assert float(kkt_violation(full, h, kappa, GroupL2Penalty(), step.coef)) < 1e-4
    reference = _reference_fista(hessian.numpy(), h.numpy(), kappa, GroupL2Penalty(), (40, 3))
    np.testing.assert_allclose(step.coef.numpy(), reference, atol=1e-5)


@pytest.mark.parametrize("penalty", [GroupL2Penalty(), L1Penalty()], ids=["group", "l1"])
@given(seed=st.integers(0, 10_000))
@settings(max_examples=25, deadline=None)
def test_subproblem_change_is_the_difference_of_the_objectives(penalty, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(30, 12))
    system = DenseSystem(torch.from_numpy(a.T @ a / 30))
    h = torch.from_numpy(rng.normal(size=12))
    start, coef = (torch.from_numpy(rng.normal(size=(4, 3)) * (rng.random((4, 1)) < 0.7)) for _ in range(2))
    expected = (subproblem_objective(system, h, 0.3, penalty, coef)
                - subproblem_objective(system, h, 0.3, penalty, start))
    change = subproblem_change(system, h, 0.3, penalty, start, coef)
    assert float(change) == pytest.approx(float(expected), rel=1e-10, abs=1e-12)
    assert float(subproblem_change(system, h, 0.3, penalty, start, start)) == 0.0


@pytest.mark.parametrize("penalty", [GroupL2Penalty(), L1Penalty()], ids=["group", "l1"])
def test_subproblem_change_resolves_decreases_below_the_rounding_of_the_objective(penalty) -> None:
    # In float32 an objective of ~1 is rounded to ~6e-8, and a step of ~1e-6 changes it by less than 1e-6: the
    # difference of two rounded objectives is mostly rounding, the step form keeps most digits. The reference is
    # the float64 value on the same (float32-representable) inputs.
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 12))
    hessian = torch.from_numpy(a.T @ a / 40).float()
    h = torch.from_numpy(rng.normal(size=12)).float()
    start = torch.from_numpy(rng.normal(size=(4, 3))).float()
    coef = start - 1e-6 * (hessian @ start.reshape(-1) - h).reshape(4, 3)
    kappa = 0.01

    def objective_change(system, h, start, coef):
        return subproblem_objective(system, h, kappa, penalty, coef) - subproblem_objective(system, h, kappa, penalty,
                                                                                               start)
    exact = float(objective_change(DenseSystem(hessian.double()), h.double(), start.double(), coef.double()))
    change = float(subproblem_change(DenseSystem(hessian), h, kappa, penalty, start, coef))
    naive = float(objective_change(DenseSystem(hessian), h, start, coef))
    assert exact < 0
    assert abs(change - exact) <= 1e-3 * abs(exact)
    assert abs(naive - exact) > 10 * abs(change - exact)
