"""Probabilities for ``CorrentropySAM``: a monotone map from the decision value f to P(classes_[1]).

The C-loss fits f towards +-1, not towards log-odds, so probabilities need a map fitted on decision values. Fitted
on the training decisions the map is overconfident: an overfitted model's training margins are large even when
it is at chance on new data. The estimators therefore fit it out of sample, on cross-fitted decision values (each
training sample scored by a model that did not see it), as scikit-learn's ``CalibratedClassifierCV(ensemble=False)``
does, and keep one map for the final model.

Three maps, each of d = f - t:

* ``"sigmoid"``: P = sigmoid(a d), Platt scaling (its intercept is -a t). A model at chance gets a ~ 0:
  probabilities near 1/2.
* ``"sigmoid-flip"`` (the default): P = rho + (1 - 2 rho) sigmoid(a d), rho in [0, 0.49]: the noisy-label
  posterior when a fraction rho of the labels is flipped at random
  (P(noisy = 1 | x) = rho + (1 - 2 rho) P(clean = 1 | x); Bootkrajang & Kaban 2012, robust logistic regression).
  Platt's sigmoid must tend to 0 and 1 for large |f|, so under label noise it has to compromise between the slope
  near the boundary and the plateaus at rho and 1 - rho; this map fits both; rho = 0 is Platt scaling.
* ``"isotonic"``: a non-decreasing step function (scikit-learn's ``IsotonicRegression``), more flexible and in
  need of more data; its steps tie probabilities. Its values are kept in [1 / (n + 2), 1 - 1 / (n + 2)] for n
  calibration samples, so it never answers a certainty.

The threshold t is where P crosses 1/2. ``threshold="calibrated"`` (the default) fits it with the map, by maximum
likelihood for the sigmoid maps ((a, t, rho) together) and as the isotonic map's 1/2 crossing; a number holds it
there (0: the paper's sign(f)). The C-loss f of a regularised model need not cross the Bayes boundary at 0: on the
SpAM design, whose components are skewed (x^2, exp(-x)), t came out near -0.07 at the cross-validated lambda and
-0.01 to -0.03 at lambda = 0.001 (the penalty shrinks f towards its intercept; docs/afr.md, "Probabilities").
``decision_function`` returns d, so ``predict`` (d > 0), ``predict_proba`` (P > 1/2 exactly where d > 0) and
``decision_function`` agree, and the sigmoid maps, strictly increasing, rank like f (average precision and ROC
AUC unchanged).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

CALIBRATIONS = ("sigmoid", "sigmoid-flip", "isotonic")
CALIBRATED = "calibrated"  # the ``threshold`` that is fitted with the map (the decision value where P = 1/2)
_MAX_FLIP = 0.49  # < 1/2 keeps the map strictly increasing
_MIN_SLOPE = 1e-6  # > 0 keeps P strictly increasing in f (ranks of predict_proba = ranks of decision_function)
_MAX_SLOPE = 1e3


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
        a_new = float(np.clip(a - grad / hess, _MIN_SLOPE, _MAX_SLOPE))
        if abs(a_new - a) <= 1e-10 * max(a, 1e-3):
            a = a_new
            break
        a = a_new
    return a


def _map_nll(params: NDArray[np.float64], decision: NDArray[np.float64], y01: NDArray[np.float64],
             hessian: bool = False) -> tuple[float, NDArray[np.float64], NDArray[np.float64] | None]:
    """Negative log-likelihood of P = rho + (1 - 2 rho) sigmoid(a (f - t)) in params = (a, t, rho), its gradient
    and, with ``hessian``, (2, 3, 3): its Hessian and its Gauss-Newton matrix (sum of l''(p) grad p grad p^T,
    never indefinite). The sums are einsums over stacked rows, not matrix products: those would wake numpy's
    threaded BLAS (see below); few numpy calls, because at a few thousand samples their overhead dominates."""
    a, t, rho = params
    u = decision - t
    s = 0.5 * (1.0 + np.tanh(0.5 * a * u))
    p = np.clip(rho + (1.0 - 2.0 * rho) * s, 1e-300, 1.0 - 1e-16)
    # One log and one division per sample: the probability of the observed label (transcendentals dominate).
    positive = y01 > 0.5
    observed = np.where(positive, p, 1.0 - p)
    nll = -np.sum(np.log(observed))
    dnll_dp = np.where(positive, -1.0, 1.0) / observed
    q = s * (1.0 - s)
    w = (1.0 - 2.0 * rho) * q
    jac = np.empty((3, decision.shape[0]))  # dp / d(a, t, rho)
    np.multiply(w, u, out=jac[0])
    np.multiply(w, -a, out=jac[1])
    np.subtract(1.0, 2.0 * s, out=jac[2])
    grad = np.einsum("kn,n->k", jac, dnll_dp)
    if not hessian:
        return float(nll), grad, None
    d2nll_dp2 = np.maximum(observed, 1e-12) ** -2.0  # keeps 1 / p^2 finite; only certainties that are wrong reach it
    gauss_newton = np.einsum("in,jn->ij", jac * d2nll_dp2, jac)
    # Sums of dnll/dp x the second derivatives of p: (aa, at, tt) from v = w (1 - 2s), (a rho, t rho) from q;
    # d2p / drho2 = 0.
    rows = np.empty((6, decision.shape[0]))
    np.multiply(w, 1.0 - 2.0 * s, out=rows[2])  # v
    np.multiply(rows[2], u, out=rows[0])  # v u
    np.multiply(rows[0], u, out=rows[1])  # v u^2
    np.multiply(q, u, out=rows[3])
    rows[4], rows[5] = w, q
    vu, vuu, sv, qu, sw, sq = np.einsum("kn,n->k", rows, dnll_dp)
    second = np.array([[vuu, -(a * vu + sw), -2.0 * qu],
                       [-(a * vu + sw), a * a * sv, 2.0 * a * sq],
                       [-2.0 * qu, 2.0 * a * sq, 0.0]])
    return float(nll), grad, np.stack([gauss_newton + second, gauss_newton])


def _newton_direction(hess: NDArray[np.float64], grad: NDArray[np.float64], free: NDArray[np.bool_]
                      ) -> NDArray[np.float64] | None:
    """-H_ff^{-1} g_f on the free variables (zero on the others), or None where H_ff is not positive definite.

    A Cholesky factorisation written out for these <= 3 variables: LAPACK, even for this size, goes through
    numpy's threaded BLAS (see below). Definiteness is judged on H scaled to a unit diagonal: a, t and rho differ
    in scale by up to 1e12 (near-separable data leave the likelihood almost flat in a), so one absolute threshold
    would reject good Newton steps."""
    index = [int(i) for i in np.flatnonzero(free)]
    diagonal = [float(hess[i, i]) for i in index]
    if not np.all(np.isfinite(hess)) or min(diagonal) <= 0.0:
        return None
    scale = [d**-0.5 for d in diagonal]
    k = len(index)
    scaled = [[float(hess[index[i], index[j]]) * scale[i] * scale[j] for j in range(k)] for i in range(k)]
    chol = [[0.0] * k for _ in range(k)]
    for i in range(k):
        for j in range(i + 1):
            rest = scaled[i][j] - sum(chol[i][m] * chol[j][m] for m in range(j))
            if i == j:
                if rest <= 1e-12:
                    return None
                chol[i][i] = rest**0.5
            else:
                chol[i][j] = rest / chol[j][j]
    rhs = [-float(grad[index[i]]) * scale[i] for i in range(k)]
    for i in range(k):  # forward: L z = rhs
        rhs[i] = (rhs[i] - sum(chol[i][m] * rhs[m] for m in range(i))) / chol[i][i]
    for i in reversed(range(k)):  # back: L^T y = z
        rhs[i] = (rhs[i] - sum(chol[m][i] * rhs[m] for m in range(i + 1, k))) / chol[i][i]
    direction = np.zeros(grad.shape[0])
    for i in range(k):
        direction[index[i]] = rhs[i] * scale[i]
    return direction


def _minimize_map_nll(start: tuple[float, float, float], decision: NDArray[np.float64], y01: NDArray[np.float64],
                      lower: NDArray[np.float64], upper: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Projected Newton (Bertsekas 1982) for the box-bounded likelihood of (a, t, rho); returns (x, nll).

    A variable whose bounds coincide is fixed. Written out instead of calling scipy's L-BFGS-B: that solver's BLAS
    calls wake scipy's OpenBLAS threads, which then spin for a while and steal the cores torch needs, so the next
    fits in a loop ran ~2.7x slower (measured: 47 ms -> 130 ms per fit at n = 2000 on 2 cores). Over the 300
    problems of the test a start took 5 Newton steps (median; 90th percentile 15); a few near-flat, near-separable
    ones run to the 200-step cap. Where the Hessian of the free variables is not positive definite (the likelihood
    is not concave), the step is Gauss-Newton's.
    """
    x = np.clip(np.asarray(start, dtype=np.float64), lower, upper)
    nll, grad, hess = _map_nll(x, decision, y01, hessian=True)
    for _ in range(200):
        assert hess is not None
        # Variables held at a bound the gradient pushes against stay fixed this step.
        fixed = (lower >= upper) | ((x <= lower) & (grad > 0)) | ((x >= upper) & (grad < 0))
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
            trial = np.clip(x + step * direction, lower, upper)
            # With its derivatives: nearly every first trial is accepted, and they are the next step's.
            trial_nll, trial_grad, trial_hess = _map_nll(trial, decision, y01, hessian=True)
            if trial_nll <= nll + 1e-4 * float(grad @ (trial - x)):
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        change = np.abs(trial - x)
        x, nll, grad, hess = trial, trial_nll, trial_grad, trial_hess
        if np.all(change <= 1e-12 * (1.0 + np.abs(x))):
            break
    return x, nll


def threshold_bounds(decision: NDArray[np.float64]) -> tuple[float, float]:
    """Where a calibrated threshold may sit: the decisions' range widened by itself plus 1 on each side (beyond the
    data the map can still answer the base rate when every decision is the same, e.g. no feature selected)."""
    low, high = float(np.min(decision)), float(np.max(decision))
    margin = high - low + 1.0
    return low - margin, high + margin


def fit_sigmoid_map(decision: NDArray[np.float64], y_pm: NDArray[np.float64], flip: bool,
                    threshold: float | str = 0.0) -> tuple[float, float, float]:
    """(a, t, rho) maximising the likelihood of P = rho + (1 - 2 rho) sigmoid(a (f - t)) (projected Newton, bounded).

    ``flip=False`` holds rho = 0 (Platt scaling); a float ``threshold`` holds t there, ``"calibrated"`` fits it
    (in :func:`threshold_bounds`). a stays in [1e-6, 1e3], rho in [0, 0.49]. With rho free the starts are Platt's
    fit, 2x its slope with rho = 0.1 and a = 1e3 with rho = the error rate of sign(f - t) (the likelihood need not
    be concave); the best optimum wins.
    """
    y01 = (np.asarray(y_pm) > 0).astype(np.float64)
    decision = np.asarray(decision, dtype=np.float64)
    if threshold == CALIBRATED:
        t_low, t_high = threshold_bounds(decision)
        t = float(np.clip(0.0, t_low, t_high))
    else:
        t = t_low = t_high = float(threshold)
    platt = fit_sigmoid_slope(decision - t, y_pm)
    if t_low < t_high:  # Platt scaling with its intercept, the threshold free
        lower, upper = np.array([_MIN_SLOPE, t_low, 0.0]), np.array([_MAX_SLOPE, t_high, 0.0])
        (platt, t, _), _ = _minimize_map_nll((platt, t, 0.0), decision, y01, lower, upper)
    if not flip:
        return float(platt), float(t), 0.0
    lower, upper = np.array([_MIN_SLOPE, t_low, 0.0]), np.array([_MAX_SLOPE, t_high, _MAX_FLIP])
    best: tuple[NDArray[np.float64], float] | None = None
    # The step-function limit (a at its bound, rho = the error rate of sign(f - t)) is a third start: on
    # near-separable data the best optimum can sit on that bound, far from Platt's slope.
    step_rho = float(np.clip(np.mean(y01 != (decision > t)), 0.0, _MAX_FLIP))
    for start in ((platt, t, 0.0), (min(2.0 * platt, _MAX_SLOPE), t, 0.1), (_MAX_SLOPE, t, step_rho)):
        found = _minimize_map_nll(start, decision, y01, lower, upper)
        if best is None or found[1] < best[1]:
            best = found
    assert best is not None
    return float(best[0][0]), float(best[0][1]), float(best[0][2])


def isotonic_crossing(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Where the piecewise-linear map through the knots (x, y), y non-decreasing, crosses 1/2 (P <= 1/2 up to it,
    > 1/2 after it); the first knot when every y > 1/2, the last one when every y <= 1/2 (the map then answers
    one class everywhere on the data)."""
    above = np.flatnonzero(y > 0.5)
    if above.size == 0:
        return float(x[-1])
    k = int(above[0])
    if k == 0:
        return float(x[0])
    x0, x1, y0, y1 = float(x[k - 1]), float(x[k]), float(y[k - 1]), float(y[k])
    return x0 + (0.5 - y0) * (x1 - x0) / (y1 - y0)


class ProbabilityMap:
    """A fitted map from the decision value to P(classes_[1]); see the module docstring.

    The map takes d = f - ``threshold``, the value ``decision_function`` returns: P > 1/2 exactly where d > 0 (for
    the sigmoid maps always; for the isotonic map when it was fitted with ``threshold="calibrated"``, up to the
    ends of its knots when it never crosses 1/2).

    Attributes
    ----------
    kind : {"sigmoid", "sigmoid-flip", "isotonic"}
    slope : float
        a of the sigmoid maps (the isotonic map keeps Platt's slope here).
    flip_rate : float
        rho of the ``"sigmoid-flip"`` map (0 for the others).
    threshold : float
        t, in units of the model's f: where P crosses 1/2 (fitted with ``"calibrated"``, else the value given).
    thresholds_x, thresholds_y : ndarray
        The isotonic map's knots in units of d (empty for the sigmoid maps); linear interpolation between them,
        constant outside.
    """

    def __init__(self, kind: str, slope: float, thresholds_x: NDArray[np.float64] | None = None,
                 thresholds_y: NDArray[np.float64] | None = None, flip_rate: float = 0.0,
                 threshold: float = 0.0) -> None:
        self.kind = kind
        self.slope = float(slope)
        self.flip_rate = float(flip_rate)
        self.threshold = float(threshold)
        self.thresholds_x = np.empty(0) if thresholds_x is None else np.asarray(thresholds_x, dtype=np.float64)
        self.thresholds_y = np.empty(0) if thresholds_y is None else np.asarray(thresholds_y, dtype=np.float64)

    @classmethod
    def fit(cls, kind: str, decision: NDArray[np.float64], y_pm: NDArray[np.float64],
            threshold: float | str = 0.0) -> ProbabilityMap:
        """Fit the map on (f, labels as -1 / +1); ``threshold``: t, or ``"calibrated"`` to fit it."""
        decision = np.asarray(decision, dtype=np.float64)
        if kind != "isotonic":
            slope, t, flip_rate = fit_sigmoid_map(decision, y_pm, kind == "sigmoid-flip", threshold)
            return cls(kind, slope, flip_rate=flip_rate, threshold=t)
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(decision, (y_pm > 0).astype(float))
        if threshold != CALIBRATED:
            t = float(threshold)
        else:
            t = isotonic_crossing(iso.X_thresholds_, iso.y_thresholds_)
            side = "below" if iso.y_thresholds_[-1] <= 0.5 else "above" if iso.y_thresholds_[0] > 0.5 else None
            if side is not None:
                end = "last" if side == "below" else "first"
                warnings.warn(f"the isotonic map stays {side} 1/2 on all {len(decision)} calibration decisions: t is "
                              f"set at its {end} knot, so predict and predict_proba > 1/2 disagree beyond it, outside "
                              "the calibration data; a sigmoid map or a numeric threshold avoids this",
                              UserWarning, stacklevel=2)
        slope = fit_sigmoid_slope(decision - t, y_pm)
        # n samples cannot certify a probability of 0 or 1 (Laplace's rule of succession: the smallest estimate
        # is 1 / (n + 2)); without the bound a pure end bin answers exactly 0 / 1 and log-probabilities -inf.
        floor = 1.0 / (len(decision) + 2.0)
        return cls(kind, slope, iso.X_thresholds_ - t, np.clip(iso.y_thresholds_, floor, 1.0 - floor), threshold=t)

    def __repr__(self) -> str:
        knots = f", {self.thresholds_x.size} knots" if self.kind == "isotonic" else ""
        return (f"ProbabilityMap(kind={self.kind!r}, slope={self.slope:.4g}, flip_rate={self.flip_rate:.4g}, "
                f"threshold={self.threshold:.4g}{knots})")

    def positive(self, decision: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(classes_[1]) for each d = f - ``threshold``."""
        if self.kind == "isotonic":
            return np.interp(decision, self.thresholds_x, self.thresholds_y)
        sigmoid = 0.5 * (1.0 + np.tanh(0.5 * self.slope * decision))
        return self.flip_rate + (1.0 - 2.0 * self.flip_rate) * sigmoid

    def log_proba(self, decision: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n, 2) log-probabilities for each d = f - ``threshold``, computed stably for the sigmoid map."""
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
                          UserWarning, stacklevel=3)  # user -> fit -> here
            n_splits, why = None, f"too few samples of a class for calibration_cv={model.calibration_cv}"
    if n_splits is not None:
        return ProbabilityMap.fit(model.calibration, _cross_fitted(model, X, y, n_splits), y_pm, model.threshold)
    coef = torch.as_tensor(model.coef_.reshape(-1), device=problem.y.device, dtype=problem.y.dtype)
    decision = problem.design.matvec(coef, model.intercept_).cpu().to(torch.float64).numpy()
    if model.coef_.any() and bool(np.all(y_pm * decision > 0)):
        warnings.warn(f"the training data are separable by the fitted model: probabilities fitted on them ({why}) "
                      "are overconfident", UserWarning, stacklevel=3)  # user -> fit -> here
    return ProbabilityMap.fit(model.calibration, decision, y_pm, model.threshold)


def _cross_fitted(model: Any, X: NDArray[Any], y: NDArray[Any], n_splits: int) -> NDArray[np.float64]:
    """f of each training sample from a fit (same settings) on the other folds."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    decision = np.empty(X.shape[0])
    fold_model = clone(model).set_params(calibration_cv=None, threshold=0.0, verbose=False)  # f itself
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # separability etc. of a fold: the final map handles it
        for train, test in StratifiedKFold(n_splits).split(X, y):
            fold_model._fit_solution(X[train], y[train])  # no probability map: only f is used
            decision[test] = fold_model._f(X[test])
    return decision
