"""Safeguarded extrapolation of the half-quadratic outer loop (``hq_acceleration``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from hrr import CorrentropySAM
from hrr.datasets import make_additive_classification


def _fit(X: np.ndarray, y: np.ndarray, acceleration: str, **kwargs: object) -> CorrentropySAM:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CorrentropySAM(device="cpu", hq_acceleration=acceleration, solver="hq-admm", calibration_cv=None,
                              **kwargs).fit(X, y)


@pytest.mark.parametrize("acceleration", ["anderson", "squarem"])
def test_acceleration_needs_fewer_steps_and_reaches_the_plain_objective(acceleration: str) -> None:
    # sigma = 1 with 20 % flips: the plain HQ iteration converges slowly (linear rate ~0.7).
    X, y = make_additive_classification(1000, 20, flip=0.2, random_state=0)
    kwargs = {"lam": 5e-4, "sigma": 1.0, "tol": 1e-5, "admm_tol": 1e-7, "max_iter": 200}
    plain = _fit(X, y, "none", **kwargs)
    fast = _fit(X, y, acceleration, **kwargs)
    assert fast.n_iter_ < plain.n_iter_
    assert fast.objective_path_[-1] <= plain.objective_path_[-1] * (1 + 1e-6)
    path = fast.objective_path_
    assert np.all(np.diff(path) <= 1e-12 * np.abs(path[:-1]))
    assert len(path) <= fast.n_iter_ + 1


@pytest.mark.parametrize("acceleration", ["anderson", "squarem"])
def test_accelerated_solution_keeps_exact_zeros(acceleration: str) -> None:
    X, y = make_additive_classification(400, 20, flip=0.1, random_state=3)
    kwargs = {"lam": 0.05, "sigma": 1.0, "tol": 1e-8, "admm_tol": 1e-8, "max_iter": 300}
    plain = _fit(X, y, "none", **kwargs)
    fast = _fit(X, y, acceleration, **kwargs)
    # The returned coefficients are an output of the HQ map (a prox), so unselected groups are exactly 0.
    assert 0 < len(fast.selected_features_) < 20
    assert np.all(fast.coef_[np.setdiff1d(np.arange(20), fast.selected_features_)] == 0.0)
    np.testing.assert_array_equal(fast.selected_features_, plain.selected_features_)
    assert fast.objective_path_[-1] <= plain.objective_path_[-1] * (1 + 1e-6)
    np.testing.assert_allclose(fast.coef_, plain.coef_, atol=2e-3)  # plain HQ converges slowly (linear rate)


def test_invalid_hq_acceleration_is_rejected() -> None:
    X, y = make_additive_classification(50, 4, random_state=0)
    with pytest.raises(ValueError, match="hq_acceleration"):
        CorrentropySAM(hq_acceleration="aitken", device="cpu").fit(X, y)


@pytest.mark.parametrize(("solver", "expected"), [("mm", "squarem"), ("auto", "squarem"), ("hq-admm", "anderson")])
def test_auto_acceleration_is_squarem_for_mm_and_anderson_for_algorithm_1(solver: str, expected: str) -> None:
    from hrr.afr._params import make_solver

    model = CorrentropySAM(solver=solver)
    assert model.hq_acceleration == "auto"
    assert make_solver(model).acceleration == expected
    assert make_solver(model.set_params(hq_acceleration="none")).acceleration == "none"


def test_mm_reaches_the_same_kkt_point_with_either_extrapolation() -> None:
    # MM stops on the KKT conditions, so the extrapolation changes the steps, not where they stop.
    X, y = make_additive_classification(600, 15, flip=0.2, random_state=2)
    fits = {acc: CorrentropySAM(device="cpu", solver="mm", hq_acceleration=acc, lam=0.01, tol=1e-9,
                                calibration_cv=None).fit(X, y) for acc in ("none", "anderson", "squarem")}
    for fit in fits.values():
        np.testing.assert_allclose(fit.coef_, fits["none"].coef_, atol=1e-7)
        assert fit.objective_path_[-1] == pytest.approx(fits["none"].objective_path_[-1], rel=1e-12)
    assert fits["squarem"].n_iter_ < fits["none"].n_iter_
