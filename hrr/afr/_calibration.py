"""Probabilities for ``CorrentropySAM``: a monotone map from the decision value f to P(classes_[1]).

The C-loss fits f towards +-1, not towards log-odds, so probabilities need a map fitted on decision values. Fitted
on the training decisions the map is overconfident: an overfitted model's training margins are large even when
it is at chance on new data. The estimators therefore fit it out of sample, on cross-fitted decision values (each
training sample scored by a model that did not see it), as scikit-learn's ``CalibratedClassifierCV(ensemble=False)``
does, and keep one map for the final model.

Three maps:

* ``"sigmoid"``: P = sigmoid(a f), Platt scaling through the origin. It keeps P = 1/2 exactly at f = 0, so
  ``predict`` (f > 0) and ``predict_proba`` never disagree. A model at chance gets a ~ 0: probabilities near 1/2.
* ``"sigmoid-flip"`` (the default): P = rho + (1 - 2 rho) sigmoid(a f), rho in [0, 0.49]: the noisy-label
  posterior when a fraction rho of the labels is flipped at random
  (P(noisy = 1 | x) = rho + (1 - 2 rho) P(clean = 1 | x); Bootkrajang & Kaban 2012, robust logistic regression).
  Platt's sigmoid must tend to 0 and 1 for large |f|, so under label noise it has to compromise between the slope
  near the boundary and the plateaus at rho and 1 - rho; this map fits both. (a, rho) maximise the likelihood of
  the cross-fitted decisions. Like the sigmoid it keeps P = 1/2 at f = 0 and is strictly increasing, so
  ``predict_proba`` ranks like ``decision_function`` (average precision and ROC AUC unchanged); rho = 0 is Platt
  scaling.
* ``"isotonic"``: a non-decreasing step function of f (scikit-learn's ``IsotonicRegression``), more flexible and
  in need of more data; its 1/2 crossing can sit well off f = 0 (then ``predict`` and ``predict_proba > 1/2``
  disagree), and its steps tie probabilities. Its values are kept in
  [1 / (n + 2), 1 - 1 / (n + 2)] for n calibration samples, so it never answers a certainty.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

CALIBRATIONS = ("sigmoid", "sigmoid-flip", "isotonic")
_MAX_FLIP = 0.49  # < 1/2 keeps the map strictly increasing
_MIN_SLOPE = 1e-6  # > 0 keeps P strictly increasing in f (ranks of predict_proba = ranks of decision_function)


def fit_sigmoid_slope(decision: NDArray[np.float64], y_pm: NDArray[np.float64]) -> float:
    """Slope a > 0 minimising the logistic loss of sigmoid(a f) (Newton in 1-D, from a = 1).

    ``y_pm`` holds the labels as -1 / +1. The slope stays in [1e-6, 1e3]; it falls towards 0 when the decisions carry no
    information about the labels (or point the wrong way): it stops at 1e-6, and the model answers ~1/2.
    """
    a = 1.0
    for _ in range(100):
        margin = np.clip(a * y_pm * decision, -500.0, 500.0)
        prob_wrong = 1.0 / (1.0 + np.exp(margin))
        grad = -np.sum(prob_wrong * y_pm * decision)
        hess = np.sum(prob_wrong * (1.0 - prob_wrong) * decision**2)
        if hess <= 1e-12:
            break
        a_new = float(np.clip(a - grad / hess, _MIN_SLOPE, 1e3))
        if abs(a_new - a) <= 1e-10 * max(a, 1e-3):
            a = a_new
            break
        a = a_new
    return a


def _flip_nll(params: NDArray[np.float64], decision: NDArray[np.float64], y01: NDArray[np.float64],
              hessian: bool = False) -> tuple[float, NDArray[np.float64], NDArray[np.float64] | None]:
    """Negative log-likelihood of P = rho + (1 - 2 rho) sigmoid(a f), its gradient in (a, rho) and, with
    ``hessian``, (2, 2, 2): its Hessian and its Gauss-Newton matrix (sum of l''(p) grad p grad p^T, never
    indefinite)."""
    a, rho = params
    s = 0.5 * (1.0 + np.tanh(0.5 * a * decision))
    p = np.clip(rho + (1.0 - 2.0 * rho) * s, 1e-300, 1.0 - 1e-16)
    # One log and one division per sample: the probability of the observed label (transcendentals dominate).
    positive = y01 > 0.5
    observed = np.where(positive, p, 1.0 - p)
    nll = -np.sum(np.log(observed))
    dnll_dp = np.where(positive, -1.0, 1.0) / observed
    ds = s * (1.0 - s)
    dp_da = (1.0 - 2.0 * rho) * ds * decision
    dp_drho = 1.0 - 2.0 * s
    grad = np.array([np.sum(dnll_dp * dp_da), np.sum(dnll_dp * dp_drho)])
    if not hessian:
        return float(nll), grad, None
    d2nll_dp2 = np.maximum(observed, 1e-12) ** -2.0  # keeps 1 / p^2 finite; only certainties that are wrong reach it
    gauss_newton = np.array([[np.sum(d2nll_dp2 * dp_da**2), np.sum(d2nll_dp2 * dp_da * dp_drho)],
                             [0.0, np.sum(d2nll_dp2 * dp_drho**2)]])
    gauss_newton[1, 0] = gauss_newton[0, 1]
    h_aa = gauss_newton[0, 0] + np.sum(dnll_dp * dp_da * (1.0 - 2.0 * s) * decision)
    h_ar = gauss_newton[0, 1] - np.sum(2.0 * dnll_dp * ds * decision)
    return float(nll), grad, np.stack([np.array([[h_aa, h_ar], [h_ar, gauss_newton[1, 1]]]), gauss_newton])


_FLIP_LOWER = np.array([_MIN_SLOPE, 0.0])
_FLIP_UPPER = np.array([1e3, _MAX_FLIP])


def _newton_direction(hess: NDArray[np.float64], grad: NDArray[np.float64], free: NDArray[np.bool_]
                      ) -> NDArray[np.float64] | None:
    """-H_ff^{-1} g_f on the free variables (zero on the others), or None where H_ff is not positive definite.

    2 x 2 in closed form: LAPACK, even for this size, goes through numpy's threaded BLAS (see below). Definiteness
    is judged relative to each variable's own curvature: a and rho differ in scale by up to 1e12 (near-separable
    data leave the likelihood almost flat in a), so one absolute threshold would reject good Newton steps."""
    if not np.all(np.isfinite(hess)):
        return None
    direction = np.zeros(2)
    if free.all():
        det = hess[0, 0] * hess[1, 1] - hess[0, 1] ** 2
        if hess[0, 0] <= 0.0 or hess[1, 1] <= 0.0 or det <= 1e-12 * hess[0, 0] * hess[1, 1]:
            return None
        direction[0] = -(hess[1, 1] * grad[0] - hess[0, 1] * grad[1]) / det
        direction[1] = -(hess[0, 0] * grad[1] - hess[0, 1] * grad[0]) / det
        return direction
    i = int(np.flatnonzero(free)[0])
    if hess[i, i] <= 0.0:
        return None
    direction[i] = -grad[i] / hess[i, i]
    return direction


def _minimize_flip_nll(start: tuple[float, float], decision: NDArray[np.float64], y01: NDArray[np.float64]
                       ) -> tuple[NDArray[np.float64], float]:
    """Projected Newton (Bertsekas 1982) for the box-bounded 2-parameter likelihood; returns (x, nll).

    Written out instead of calling scipy's L-BFGS-B: that solver's BLAS calls wake scipy's OpenBLAS threads,
    which then spin for a while and steal the cores torch needs, so the next fits in a loop ran ~2.7x slower
    (measured: 47 ms -> 130 ms per fit at n = 2000 on 2 cores). Over the 300 problems of the test a start took 5
    Newton steps (median; 90th percentile 15); a few near-flat, near-separable ones run to the 200-step cap.
    Where the Hessian of the free variables is not positive definite (the likelihood is not concave in (a, rho)),
    the step is Gauss-Newton's.
    """
    x = np.clip(np.asarray(start, dtype=np.float64), _FLIP_LOWER, _FLIP_UPPER)
    nll, grad, hess = _flip_nll(x, decision, y01, hessian=True)
    for _ in range(200):
        assert hess is not None
        # Variables held at a bound the gradient pushes against stay fixed this step.
        fixed = ((x <= _FLIP_LOWER) & (grad > 0)) | ((x >= _FLIP_UPPER) & (grad < 0))
        free = ~fixed
        if not free.any():
            break
        direction = _newton_direction(hess[0], grad, free)
        if direction is None or float(grad @ direction) >= 0.0:
            direction = _newton_direction(hess[1], grad, free)
        if direction is None:
            direction = -grad * free
        # Newton decrement: the predicted decrease is below what float64 resolves in the likelihood.
        if -float(grad @ direction) <= 1e-13 * max(1.0, abs(nll)):
            break
        step, accepted = 1.0, False
        for _ in range(60):
            trial = np.clip(x + step * direction, _FLIP_LOWER, _FLIP_UPPER)
            trial_nll = _flip_nll(trial, decision, y01)[0]
            if trial_nll <= nll + 1e-4 * float(grad @ (trial - x)):
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        change = np.abs(trial - x)
        x = trial
        nll, grad, hess = _flip_nll(x, decision, y01, hessian=True)
        if np.all(change <= 1e-12 * (1.0 + np.abs(x))):
            break
    return x, nll


def fit_sigmoid_flip(decision: NDArray[np.float64], y_pm: NDArray[np.float64]) -> tuple[float, float]:
    """(a, rho) maximising the likelihood of P = rho + (1 - 2 rho) sigmoid(a f) (projected Newton, bounded).

    Started from Platt's slope with rho = 0, from 2x that slope with rho = 0.1 and from a = 1e3 with rho = the error
    rate of sign(f) (the likelihood need not be concave in (a, rho)); the best optimum wins. a stays in [1e-6, 1e3],
    rho in [0, 0.49].
    """
    y01 = (np.asarray(y_pm) > 0).astype(np.float64)
    decision = np.asarray(decision, dtype=np.float64)
    platt = fit_sigmoid_slope(decision, y_pm)
    best: tuple[NDArray[np.float64], float] | None = None
    # The step-function limit (a at its bound, rho = the error rate of sign(f)) is a third start: on near-separable
    # data the best optimum can sit on that bound, far from Platt's slope.
    step_rho = float(np.clip(np.mean(y01 != (decision > 0)), 0.0, _MAX_FLIP))
    for start in ((platt, 0.0), (min(2.0 * platt, 1e3), 0.1), (1e3, step_rho)):
        found = _minimize_flip_nll(start, decision, y01)
        if best is None or found[1] < best[1]:
            best = found
    assert best is not None
    return float(best[0][0]), float(best[0][1])


class ProbabilityMap:
    """A fitted map f -> P(classes_[1]); see the module docstring.

    Attributes
    ----------
    kind : {"sigmoid", "sigmoid-flip", "isotonic"}
    slope : float
        a of the sigmoid maps (the isotonic map keeps Platt's slope here).
    flip_rate : float
        rho of the ``"sigmoid-flip"`` map (0 for the others).
    thresholds_x, thresholds_y : ndarray
        The isotonic map's knots (empty for the sigmoid map); linear interpolation between them, constant outside.
    """

    def __init__(self, kind: str, slope: float, thresholds_x: NDArray[np.float64] | None = None,
                 thresholds_y: NDArray[np.float64] | None = None, flip_rate: float = 0.0) -> None:
        self.kind = kind
        self.slope = float(slope)
        self.flip_rate = float(flip_rate)
        self.thresholds_x = np.empty(0) if thresholds_x is None else np.asarray(thresholds_x, dtype=np.float64)
        self.thresholds_y = np.empty(0) if thresholds_y is None else np.asarray(thresholds_y, dtype=np.float64)

    @classmethod
    def fit(cls, kind: str, decision: NDArray[np.float64], y_pm: NDArray[np.float64]) -> ProbabilityMap:
        """Fit the map on (decision values, labels as -1 / +1)."""
        if kind == "sigmoid-flip":
            slope, flip_rate = fit_sigmoid_flip(decision, y_pm)
            return cls(kind, slope, flip_rate=flip_rate)
        slope = fit_sigmoid_slope(decision, y_pm)
        if kind == "sigmoid":
            return cls(kind, slope)
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(decision, (y_pm > 0).astype(float))
        # n samples cannot certify a probability of 0 or 1 (Laplace's rule of succession: the smallest estimate
        # is 1 / (n + 2)); without the bound a pure end bin answers exactly 0 / 1 and log-probabilities -inf.
        floor = 1.0 / (len(decision) + 2.0)
        return cls(kind, slope, iso.X_thresholds_, np.clip(iso.y_thresholds_, floor, 1.0 - floor))

    def positive(self, decision: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(classes_[1]) for each decision value."""
        if self.kind == "isotonic":
            return np.interp(decision, self.thresholds_x, self.thresholds_y)
        sigmoid = 0.5 * (1.0 + np.tanh(0.5 * self.slope * decision))
        return self.flip_rate + (1.0 - 2.0 * self.flip_rate) * sigmoid

    def log_proba(self, decision: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n, 2) log-probabilities, computed stably for the sigmoid map."""
        if self.kind == "isotonic" or self.flip_rate > 0.0:  # probabilities bounded away from 0 and 1
            positive = self.positive(decision)
            return np.log(np.column_stack([1.0 - positive, positive]))
        scaled = self.slope * decision
        return np.column_stack([-np.logaddexp(0.0, scaled), -np.logaddexp(0.0, -scaled)])


def expected_calibration_error(y_true: NDArray[np.float64], prob: NDArray[np.float64], n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width bins of P(positive): sum over bins of |mean(y) - mean(p)| x bin share.

    ``y_true`` holds 0 / 1 labels (or, where it is known, the true probability of label 1), ``prob`` the
    predicted probability of label 1. 0 is perfect; a model that always answers the base rate has ECE 0 too
    (calibration is not sharpness: report the Brier score beside it).
    """
    ece = 0.0
    for mean_prob, share, weight in zip(*calibration_bins(y_true, prob, n_bins), strict=True):
        ece += weight * abs(share - mean_prob)
    return float(ece)


def calibration_bins(y_true: NDArray[np.float64], prob: NDArray[np.float64], n_bins: int = 10
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The bins of :func:`expected_calibration_error` (and of a reliability diagram): per non-empty equal-width bin
    of ``prob``, in increasing order, the mean probability, the mean of ``y_true`` and the bin's share of all
    samples."""
    y_true, prob = np.asarray(y_true, dtype=np.float64), np.asarray(prob, dtype=np.float64)
    bins = np.minimum((prob * n_bins).astype(int), n_bins - 1)
    used = [k for k in range(n_bins) if (bins == k).any()]
    mean_prob = np.array([prob[bins == k].mean() for k in used])
    share = np.array([y_true[bins == k].mean() for k in used])
    weight = np.array([(bins == k).mean() for k in used])
    return mean_prob, share, weight


def fit_probability_map(model: Any, X: NDArray[Any], y: NDArray[Any], problem: Any) -> ProbabilityMap:
    """The map of a just-fitted ``CorrentropySAM`` (``model``), as its ``calibration`` and ``calibration_cv`` say.

    ``calibration_cv`` folds: a clone with the same settings is fitted on each fold's complement and scores the
    fold (stratified, not shuffled, so refits are identical); the map is fitted on those cross-fitted decisions.
    None (or too few samples of a class for the folds, with a warning): on the training decisions, with a warning
    when the model separates the training data.
    """
    import torch

    y_pm = problem.y.cpu().to(torch.float64).numpy()
    n_splits, why = model.calibration_cv, "calibration_cv=None"
    if n_splits is not None:
        smallest = int(np.bincount((y_pm > 0).astype(int)).min())
        if smallest < n_splits:
            warnings.warn(f"calibration_cv={n_splits} needs at least {n_splits} samples of each class; the "
                          f"smallest class has {smallest}: probabilities are fitted in sample",
                          UserWarning, stacklevel=4)
            n_splits, why = None, f"too few samples of a class for calibration_cv={model.calibration_cv}"
    if n_splits is not None:
        return ProbabilityMap.fit(model.calibration, _cross_fitted(model, X, y, n_splits), y_pm)
    coef = torch.as_tensor(model.coef_.reshape(-1), device=problem.y.device, dtype=problem.y.dtype)
    decision = problem.design.matvec(coef, model.intercept_).cpu().to(torch.float64).numpy()
    if model.coef_.any() and bool(np.all(y_pm * decision > 0)):
        warnings.warn(f"the training data are separable by the fitted model: probabilities fitted on them ({why}) "
                      "are overconfident", UserWarning, stacklevel=4)
    return ProbabilityMap.fit(model.calibration, decision, y_pm)


def _cross_fitted(model: Any, X: NDArray[Any], y: NDArray[Any], n_splits: int) -> NDArray[np.float64]:
    """Decision values of each training sample from a fit (same settings) on the other folds."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    decision = np.empty(X.shape[0])
    fold_model = clone(model).set_params(calibration_cv=None, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # separability etc. of a fold: the final map handles it
        for train, test in StratifiedKFold(n_splits).split(X, y):
            decision[test] = fold_model.fit(X[train], y[train]).decision_function(X[test])
    return decision
