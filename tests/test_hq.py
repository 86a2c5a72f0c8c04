"""Half-quadratic outer loop (Algorithm 1): the objective R(alpha_t, b_t) never increases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from hrr import CorrentropySAM
from hrr.afr._closs import correntropy_loss


def _objective(model: CorrentropySAM, X: np.ndarray, y01: np.ndarray) -> float:
    residual = torch.from_numpy((2.0 * y01 - 1.0) - (model.decision_function(X) + model.threshold_))  # f
    loss = float(correntropy_loss(residual, model.sigma).mean())
    pen = np.linalg.norm(model.coef_, axis=1).sum() if model.penalty == "group" else np.abs(model.coef_).sum()
    return loss + model.lam * pen


@settings(max_examples=15)
@given(
    seed=st.integers(0, 10_000),
    sigma=st.sampled_from([0.5, 1.0, 2.0]),
    lam=st.sampled_from([0.0, 1e-3, 0.05]),
    penalty=st.sampled_from(["group", "l1"]),
    init=st.sampled_from(["zeros", "uniform"]),
    flip=st.sampled_from([0.0, 0.3]),
    solver=st.sampled_from(["mm", "hq-admm"]),
)
def test_objective_path_is_monotone_non_increasing(seed, sigma, lam, penalty, init, flip, solver) -> None:
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(20, 120)), int(rng.integers(1, 8))
    X = rng.normal(size=(n, p))
    y = (X[:, 0] + 0.5 * np.sin(3 * X[:, -1]) + 0.3 * rng.normal(size=n) > 0).astype(int)
    y = np.where(rng.random(n) < flip, 1 - y, y)
    if len(np.unique(y)) < 2:
        y[:2] = [0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = CorrentropySAM(
            sigma=sigma, lam=lam, penalty=penalty, init=init, random_state=seed, max_iter=30, device="cpu",
            solver=solver, calibration_cv=None,
        ).fit(X, y)
    path = model.objective_path_
    assert np.all(np.isfinite(path))
    assert np.all(np.diff(path) <= 1e-10 * np.maximum(1.0, np.abs(path[:-1])))
    # The recorded final value is the true objective of Eq. (9) at the returned model.
    assert path[-1] == pytest.approx(_objective(model, X, y), rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("solver", ["hq-admm", "mm"])
@pytest.mark.parametrize("sigma", [0.8, 1.5])
def test_init_zeros_starts_from_the_null_model(solver: str, sigma: float) -> None:
    # The first iterate is theta = 0 with the null model's intercept, so the first objective is the null
    # model's loss, and at lam >= lambda_max_ (where that point is optimal) nothing is selected, even for a
    # non-convex C-loss (sigma < sqrt(2)); from b = 0 the HQ solver used to select features there.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=120) > 0.7).astype(int)  # unbalanced: the null intercept is not 0
    kwargs = {"device": "cpu", "solver": solver, "sigma": sigma, "calibration_cv": None}
    probe = CorrentropySAM(lam=1.0, **kwargs).fit(X, y)
    with pytest.warns(UserWarning, match="[Nn]o feature"):
        null = CorrentropySAM(lam=1.001 * probe.lambda_max_, **kwargs).fit(X, y)
    assert not np.any(null.coef_)
    fitted = CorrentropySAM(lam=0.01 * probe.lambda_max_, **kwargs).fit(X, y)
    assert fitted.objective_path_[0] == pytest.approx(null.objective_path_[-1], rel=1e-12)
    assert fitted.objective_path_[-1] < fitted.objective_path_[0]


def test_uniform_init_does_not_produce_nan_when_weights_underflow() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 40))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = CorrentropySAM(init="uniform", sigma=0.5, random_state=0, device="cpu").fit(X, y)
    assert np.all(np.isfinite(model.coef_)) and np.isfinite(model.intercept_)
    assert np.all(np.diff(model.objective_path_) <= 1e-12)


def test_working_set_gives_the_full_solution_with_smaller_grams(monkeypatch) -> None:
    from hrr.afr import _hq
    from hrr.datasets import make_additive_classification

    X, y = make_additive_classification(800, 60, flip=0.1, random_state=4)
    widths: list[int] = []
    original = _hq.weighted_gram

    def recording(design, weights, features):
        widths.append(features.numel())
        return original(design, weights, features)

    monkeypatch.setattr(_hq, "weighted_gram", recording)
    kwargs = {"lam": 0.1, "device": "cpu", "tol": 1e-10, "admm_tol": 1e-9, "max_iter": 200, "solver": "hq-admm",
              "calibration_cv": None}
    sparse = CorrentropySAM(working_set=True, **kwargs).fit(X, y)
    # Only the first step (from theta = 0, where most groups violate) may need all groups.
    assert all(w < 30 for w in widths[1:]) and len(widths) > 2
    assert set(sparse.selected_features_[:4]) == {0, 1, 2, 3}
    widths.clear()
    full = CorrentropySAM(working_set=False, **kwargs).fit(X, y)
    assert set(widths) == {60}
    np.testing.assert_allclose(sparse.coef_, full.coef_, atol=1e-5)
    np.testing.assert_array_equal(sparse.selected_features_, full.selected_features_)
    assert sparse.objective_path_[-1] == pytest.approx(full.objective_path_[-1], rel=1e-9)
