"""Accuracy of ``CorrentropySAMCV`` under training-label noise, against spline peers (issue 14).

Data (every dataset is redrawn / resplit per seed; X is standardised with a ``StandardScaler`` fitted on the
training rows):

* (a) SpAM design, ``make_additive_classification``: n=1000 training rows, p=100 independent features (4
  informative: 0-3);
* (b) the same with ``correlation=1.0`` (pairwise feature correlation 0.5);
* (c) small-sample design: n=400, p=20;
* (d) ``sklearn.datasets.load_breast_cancer``: stratified 70/30 split per seed;
* (e) ``sklearn.datasets.load_digits`` as a binary task (digit < 5 vs >= 5): pixels constant on the training
  rows dropped, stratified 70/30 split per seed.

For (a)-(c) one generator call draws n training rows + ``--n-test`` test rows + ``--n-test`` held-out rows, so all
three share the label threshold (the median of f over the call): the test set is a separate clean draw.

Label noise is applied to the TRAINING labels only (the test labels are clean):
* ``clean``: none; ``flip20`` / ``flip30``: exactly 20 % / 30 % of the rows, chosen at random, flipped;
* ``far10``: the 10 % of the rows with the largest margin |score| flipped, where score is the true additive
  function f(x) - median(f) of the generator (reproduced below from hrr/datasets/_additive.py) for (a)-(c), and
  for (d)-(e) the decision value of a ``LogisticRegression(max_iter=5000)`` fitted on the standardised training
  X with the clean training labels.

Calibration is scored on a held-out split carrying the SAME label noise as the training set (that is the
distribution the probabilities estimate): for (a)-(c) the extra held-out draw, for (d)-(e) the test rows with
the noise process applied to their labels (the sets are small: 171 / 540 rows, so their ECE has a sizeable
binning floor). ECE against the clean test labels is printed as well, and the Brier score
(``sklearn.metrics.brier_score_loss``) beside the noisy ECE. ``hrr.afr.expected_calibration_error`` (10
equal-width bins) is used for both ECEs.

Methods (each fitted on the same training rows; nothing is tuned on the test or held-out rows):
1. LR: ``make_pipeline(SplineTransformer(n_knots=4, degree=3), LogisticRegression(max_iter=5000))`` (C=1).
2. skglm logistic group lasso on the same spline basis (one group = the spline columns of one feature):
   ``GeneralizedLinearEstimator(LogisticGroup, WeightedGroupL2(alpha, ones), GroupProxNewton(fit_intercept=True))``,
   alpha chosen by 5-fold CV accuracy (stratified, unshuffled folds, as ``cv=5`` gives ours) over
   ``--skglm-alphas`` values alpha_max * logspace(-0.5, -2.5) (alpha_max from the training rows: the smallest alpha
   selecting nothing; on design (a) with 20 % flips every feature is in from ~0.025 alpha_max on, and smaller
   alphas only make the fits slower: 5 s instead of 0.02 s at 1e-3 alpha_max with tol=1e-5, on the training
   rows), each fold
   fitting the grid from the largest alpha down with warm starts (a manual loop, since ``GridSearchCV`` fits every
   alpha cold); ties go to the largest alpha; the final model is the path on all training rows down to the chosen
   alpha. GroupProxNewton runs at skglm's default tol=1e-4 (``--skglm-tol``). All-zero spline columns (the middle
   splines of a two-valued digits pixel in some folds) are dropped: they make GroupProxNewton fail with NaNs. numba
   is compiled once on a tiny fit before anything is timed.
3. ours: ``CorrentropySAMCV(device="cpu")`` with all other parameters at their defaults (20 lambdas down to
   1e-3 lambda_max, 5 folds, the "1se" rule, roc_auc scoring, n_basis=5, sigma=1.5, solver="auto" (majorise-
   minimise at this sigma), the "sigmoid-flip" probability map and the threshold (``threshold="calibrated"``)
   fitted on the out-of-fold decisions of the 5 folds). The same model's clean test accuracy with the threshold at
   f = 0 (the paper's sign(f)) is printed beside it. Every probability map (``calibration="sigmoid"``,
   ``"sigmoid-flip"``, ``"isotonic"``), with the threshold calibrated and held at 0, is also refitted on the
   same model's out-of-fold decisions (``oof_decision_``) and scored on the noisy held-out rows, so the maps
   are compared on one model, side by side. Each ECE comes with its sampling floor: the mean ECE of the same
   probabilities against 200 label sets drawn from them (a perfectly calibrated model with these predictions
   scores that on a set of this size).

Per (dataset, noise): clean test accuracy (mean +- sd over seeds), the paired difference CSAMCV - LR with a 95 %
t-interval over seeds ("no difference" when it contains 0), ECE (noisy held-out and clean test), the support of
(a)-(c) (features 0-3 all selected with at most 6 others) and the fit seconds (whole fits, CV included).

Targets (issue 14): (i) >= +2 points over LR under 20 % random flips, averaged over datasets; (ii) >= +5 points
under far-from-boundary flips; (iii) >= -1 point on clean labels; (iv) design (a): 4 informative selected with
at most 6 others in >= 80 % of seeds; (v) ECE <= 0.05 on held-out noisy data. (i)-(iii) are judged on the mean
over all datasets of the run and, separately, over the synthetic designs only.

Run: python benchmarks/bench_afr_accuracy.py [--quick] [--seeds 5] [--designs a b c d e]
     [--noises clean flip20 flip30 far10] [--threads 2] [--jobs 1]

``--calibration KIND`` makes ours ``CorrentropySAMCV(calibration=KIND)`` and ``--lambda-rule RULE``
``CorrentropySAMCV(lambda_rule=RULE)``. ``--compare-rule RULE`` fits ``CorrentropySAMCV(lambda_rule=RULE)`` as well,
beside ours, and reports its accuracy, ECE and support.
``--support-diagnostics`` adds
three columns to the support table of the synthetic designs: how many of the 4 informative features the chosen
model has, the support at the 1-SE lambda of the same CV scores, and whether ANY lambda of the CV grid selects
features 0-3 with at most 6 others (an oracle that looks at the true support: it says whether the path contains
a good model, so a miss of the CV choice is down to the choice of lambda).
``--sigmas S1 S2 ...`` makes ours ``CorrentropySAMCV(sigmas=[S1, S2, ...])``: sigma chosen by the same 5-fold
CV as lambda, on the training rows only. ``--no-skglm`` skips the skglm peer (its columns read "not run").
``--jobs N`` runs the (dataset, seed) cells in N worker processes with one thread each (the fits are small, so
two single-threaded workers on 2 cores take about half the wall time of one two-threaded run). The accuracy,
ECE and support tables do not depend on it (every fit is deterministic); the seconds are then those of one
thread, with the other worker competing for memory bandwidth.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from collections.abc import Callable

import numpy as np
from _common import (
    ContentionMeter,
    additive_f,
    configure_threads,
    emit,
    environment_header,
    fit_recording_warnings,
    fmt_seconds,
    markdown_table,
    t_interval,
    verdict,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler

from hrr.afr import CorrentropySAMCV, correntropy_sam_path, expected_calibration_error
from hrr.afr._calibration import CALIBRATIONS, ProbabilityMap
from hrr.afr._cv import choose_lambda
from hrr.datasets import make_additive_classification

INFORMATIVE = (0, 1, 2, 3)
THRESHOLDS = (("", "calibrated"), ("_t0", 0.0))  # (result-key suffix, ProbabilityMap.fit's threshold)
MAX_OTHERS = 6
DESIGNS = {
    "a": dict(kind="synthetic", n=1000, p=100, correlation=0.0, title="SpAM, independent"),
    "b": dict(kind="synthetic", n=1000, p=100, correlation=1.0, title="SpAM, correlation=1 (rho=0.5)"),
    "c": dict(kind="synthetic", n=400, p=20, correlation=0.0, title="SpAM, small sample"),
    "d": dict(kind="real", loader="breast_cancer", title="breast_cancer"),
    "e": dict(kind="real", loader="digits", title="digits < 5 vs >= 5"),
}
NOISES = {  # name -> (kind, fraction of training rows flipped)
    "clean": ("random", 0.0),
    "flip20": ("random", 0.2),
    "flip30": ("random", 0.3),
    "far10": ("far", 0.1),
}
TARGET_FLIP20, TARGET_FAR10, TARGET_CLEAN, TARGET_SUPPORT, TARGET_ECE = 2.0, 5.0, -1.0, 0.8, 0.05


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--designs", nargs="+", choices=sorted(DESIGNS), default=sorted(DESIGNS))
    parser.add_argument("--noises", nargs="+", choices=list(NOISES), default=list(NOISES))
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (data draws / splits)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--n-test", type=int, default=5000, help="clean test rows (and noisy held-out rows), (a)-(c)")
    parser.add_argument("--n-knots", type=int, default=4, help="SplineTransformer knots of the peers")
    parser.add_argument("--skglm-alphas", type=int, default=10, help="alphas in skglm's CV grid")
    parser.add_argument("--skglm-tol", type=float, default=1e-4, help="GroupProxNewton tol (skglm's default)")
    parser.add_argument("--threads", type=int, default=2, help="threads per process")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (each with --threads 1)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=None,
                        help="CorrentropySAMCV(sigmas=...): sigma chosen by CV too (default: sigma=1.5 fixed)")
    parser.add_argument("--no-skglm", dest="skglm", action="store_false", help="skip the skglm peer")
    parser.add_argument("--calibration", choices=list(CALIBRATIONS), default=None,
                        help="CorrentropySAMCV(calibration=...) (default: the estimator's default)")
    parser.add_argument("--calibration-floor-draws", type=int, default=200,
                        help="label draws for the ECE sampling floor (0: skip the floor column)")
    parser.add_argument("--lambda-rule", choices=["1se", "min"], default=None,
                        help="CorrentropySAMCV(lambda_rule=...) of ours (default: the estimator's default)")
    parser.add_argument("--compare-rule", choices=["1se", "min"], default=None,
                        help="also fit CorrentropySAMCV(lambda_rule=RULE), side by side with ours")
    parser.add_argument("--support-diagnostics", action="store_true",
                        help="synthetic designs: also the support at the 1-SE lambda and the best on the CV path")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 seeds, designs (a) at n=300, p=20 and (d), noises clean and flip20, 2000 test rows",
    )
    args = parser.parse_args()
    args.sizes = {k: (v["n"], v["p"]) for k, v in DESIGNS.items() if v["kind"] == "synthetic"}
    if args.quick:
        args.seeds, args.designs, args.noises, args.n_test = 2, ["a", "d"], ["clean", "flip20"], 2000
        args.sizes["a"] = (300, 20)
    return args


# ---------------------------------------------------------------------------------------------------- data
def spam_score(X: np.ndarray) -> np.ndarray:
    """f(x) = sum of the four SpAM components, as in hrr/datasets/_additive.py (threshold not subtracted)."""
    return (
        -2.0 * np.sin(2.0 * X[:, 0])
        + (X[:, 1] ** 2 - 1.0 / 3.0)
        + (X[:, 2] - 0.5)
        + (np.exp(-X[:, 3]) + np.exp(-1.0) - 1.0)
    )


def load_real(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "breast_cancer":
        data = datasets.load_breast_cancer()
        return data.data.astype(np.float64), data.target.astype(np.int64)
    data = datasets.load_digits()
    return data.data.astype(np.float64), (data.target >= 5).astype(np.int64)


def make_split(args: argparse.Namespace, key: str, seed: int) -> dict:
    """Standardised train / test / held-out rows with clean labels and the margin score of every row."""
    spec = DESIGNS[key]
    if spec["kind"] == "synthetic":
        n, p = args.sizes[key]
        m = args.n_test
        X, y = make_additive_classification(n + 2 * m, p, correlation=spec["correlation"], random_state=seed)
        f = spam_score(X)
        score = f - np.median(f)  # the generator's threshold: the median of f over this call
        parts = {"train": slice(0, n), "test": slice(n, n + m), "held": slice(n + m, n + 2 * m)}
        out = {name: (X[s], y[s], score[s]) for name, s in parts.items()}
    else:
        X, y = load_real(spec["loader"])
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
        keep = Xtr.std(axis=0) > 0  # drops pixels constant on the training rows (digits)
        Xtr, Xte = Xtr[:, keep], Xte[:, keep]
        scaler = StandardScaler().fit(Xtr)
        ref = LogisticRegression(max_iter=5000).fit(scaler.transform(Xtr), ytr)  # clean labels
        out = {
            "train": (Xtr, ytr, ref.decision_function(scaler.transform(Xtr))),
            "test": (Xte, yte, ref.decision_function(scaler.transform(Xte))),
        }
        out["held"] = out["test"]  # the test rows, with noisy labels (see the module docstring)
    scaler = StandardScaler().fit(out["train"][0])
    return {name: (scaler.transform(X), y, s) for name, (X, y, s) in out.items()}


def add_noise(y: np.ndarray, score: np.ndarray, noise: str, rng: np.random.Generator) -> np.ndarray:
    kind, rate = NOISES[noise]
    k = round(rate * len(y))
    if k == 0:
        return y.copy()
    idx = rng.choice(len(y), size=k, replace=False) if kind == "random" else np.argsort(-np.abs(score))[:k]
    out = y.copy()
    out[idx] = 1 - out[idx]
    return out


# ---------------------------------------------------------------------------------------------------- peers
class SplineGroupLassoPath:
    """skglm's logistic group lasso on a SplineTransformer basis (one group per input feature), fitted along a
    descending alpha grid with warm starts; ``decision_function(X, i)`` uses the i-th alpha's coefficients."""

    def __init__(self, alphas: np.ndarray, n_knots: int = 4, degree: int = 3, tol: float = 1e-5) -> None:
        self.alphas, self.n_knots, self.degree, self.tol = np.asarray(alphas, dtype=float), n_knots, degree, tol

    def fit(self, X: np.ndarray, y: np.ndarray, stop: int | None = None) -> SplineGroupLassoPath:
        """Fit alphas[0], ..., alphas[stop] (all by default), each from the previous solution."""
        from skglm import GeneralizedLinearEstimator
        from skglm.datafits import LogisticGroup
        from skglm.penalties import WeightedGroupL2
        from skglm.solvers import GroupProxNewton
        from skglm.utils.data import grp_converter

        self.spline_ = SplineTransformer(n_knots=self.n_knots, degree=self.degree).fit(X)
        phi = self.spline_.transform(X)
        d = phi.shape[1] // X.shape[1]
        # All-zero spline columns (e.g. the middle splines of a two-valued digits pixel) make GroupProxNewton
        # divide by zero: drop them; each feature's group is its remaining columns.
        self.columns_ = np.flatnonzero(np.abs(phi).sum(axis=0) > 0)
        self.feature_of_ = self.columns_ // d
        features = np.unique(self.feature_of_)
        groups = [np.flatnonzero(self.feature_of_ == j).tolist() for j in features]
        grp_indices, grp_ptr = grp_converter(groups, len(self.columns_))
        glm = GeneralizedLinearEstimator(
            datafit=LogisticGroup(grp_ptr=grp_ptr, grp_indices=grp_indices),
            penalty=WeightedGroupL2(float(self.alphas[0]), np.ones(len(features)), grp_ptr, grp_indices),
            solver=GroupProxNewton(fit_intercept=True, tol=self.tol, warm_start=True),
        )
        phi = phi[:, self.columns_]
        self.coefs_, self.intercepts_ = [], []
        for i, alpha in enumerate(self.alphas[: None if stop is None else stop + 1]):
            glm.penalty.alpha = float(alpha)
            try:
                glm.fit(phi, y)
            except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:  # keep the alphas fitted so far
                warnings.warn(
                    f"skglm failed at alpha #{i} ({type(exc).__name__}); path stopped", RuntimeWarning, stacklevel=2
                )
                break
            self.coefs_.append(np.ravel(glm.coef_).copy())
            self.intercepts_.append(float(glm.intercept_))
        if not self.coefs_:  # nothing fitted: the intercept-only model
            self.coefs_, self.intercepts_ = [np.zeros(len(self.columns_))], [float(np.log(y.mean() / (1 - y.mean())))]
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X: np.ndarray, i: int = -1) -> np.ndarray:
        return self.spline_.transform(X)[:, self.columns_] @ self.coefs_[i] + self.intercepts_[i]

    def predict(self, X: np.ndarray, i: int = -1) -> np.ndarray:
        return self.classes_[(self.decision_function(X, i) > 0).astype(int)]

    def selected_features(self, i: int = -1) -> np.ndarray:
        return np.unique(self.feature_of_[self.coefs_[i] != 0])


def skglm_alpha_max(X: np.ndarray, y01: np.ndarray, args: argparse.Namespace) -> float:
    """Smallest alpha selecting no group: max_g ||Phi_g^T (mean(y) - y)|| / n (gradient at the intercept-only fit)."""
    phi = SplineTransformer(n_knots=args.n_knots, degree=3).fit_transform(X)
    grad = phi.T @ (y01.mean() - y01) / len(y01)
    return float(np.linalg.norm(grad.reshape(X.shape[1], -1), axis=1).max())


def skglm_cv(X: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> tuple[SplineGroupLassoPath, int, float]:
    """5-fold CV accuracy over the alpha grid (stratified, unshuffled folds: what ``cv=5`` gives
    ``CorrentropySAMCV``); ties go to the larger alpha. Returns (path refitted on all rows down to the chosen
    alpha, index of the chosen alpha, chosen alpha / alpha_max)."""
    from sklearn.model_selection import StratifiedKFold

    alpha_max = skglm_alpha_max(X, y.astype(float), args)
    alphas = alpha_max * np.logspace(-0.5, -2.5, args.skglm_alphas)
    folds = list(StratifiedKFold(n_splits=5).split(X, y))
    scores = np.empty((len(alphas), len(folds)))
    for f, (train, test) in enumerate(folds):
        path = SplineGroupLassoPath(alphas, n_knots=args.n_knots, tol=args.skglm_tol).fit(X[train], y[train])
        for i in range(len(alphas)):  # alphas after a solver failure score -inf: never chosen
            fitted = i < len(path.coefs_)
            scores[i, f] = float((path.predict(X[test], i) == y[test]).mean()) if fitted else -np.inf
    best = int(np.argmax(scores.mean(axis=1)))  # first maximum: the largest alpha
    final = SplineGroupLassoPath(alphas, n_knots=args.n_knots, tol=args.skglm_tol).fit(X, y, stop=best)
    best = min(best, len(final.coefs_) - 1)
    return final, best, float(alphas[best] / alpha_max)


def lr_pipeline(args: argparse.Namespace):
    return make_pipeline(SplineTransformer(n_knots=args.n_knots, degree=3), LogisticRegression(max_iter=5000))


def path_supports(ours: CorrentropySAMCV, X: np.ndarray, y: np.ndarray) -> dict:
    """Where on its own path CSAMCV's choice sits: the support at the 1-SE lambda of the same CV scores, and
    whether ANY lambda of the grid (at the chosen sigma) selects features 0-3 with at most 6 others (an oracle:
    it looks at the true support, so it only says whether the path contains a good model)."""
    sigma, one_se = choose_lambda(ours.scores_, "1se")  # what lambda_rule="1se" would have chosen
    _, coefs, _ = correntropy_sam_path(X, y, lams=ours.lams_, sigma=float(ours.sigmas_[sigma]), device="cpu")
    supports = [np.flatnonzero(np.any(c != 0, axis=1)) for c in coefs]
    return {
        "support_path_1se": support_ok(supports[one_se]),
        "nsel_path_1se": len(supports[one_se]),
        "support_oracle": any(support_ok(sup) for sup in supports),
        "informative_at_choice": len(set(INFORMATIVE) & set(np.asarray(ours.selected_features_).tolist())),
    }


def ece_floor(prob: np.ndarray, draws: int, seed: int) -> float:
    """Mean ECE of these probabilities against labels drawn FROM them: what a perfectly calibrated model with the
    same predictions scores on a held-out set of this size (binning and sampling noise alone)."""
    if draws < 1:
        return float("nan")
    rng = np.random.default_rng([seed, 7])
    return float(np.mean([expected_calibration_error((rng.random(prob.shape) < prob).astype(float), prob)
                          for _ in range(draws)]))


def timed_fit(estimator, X, y) -> tuple[object, float, list[str]]:
    t0 = time.perf_counter()
    estimator, caught = fit_recording_warnings(estimator, X, y)
    return estimator, time.perf_counter() - t0, caught


def support_ok(selected: np.ndarray) -> bool:
    chosen = set(int(j) for j in selected)
    return set(INFORMATIVE) <= chosen and len(chosen - set(INFORMATIVE)) <= MAX_OTHERS


def run_one(args: argparse.Namespace, key: str, seed: int, noise: str, split: dict) -> dict:
    """All three methods on one (dataset, seed, noise)."""
    Xtr, ytr_clean, str_ = split["train"]
    Xte, yte, _ = split["test"]
    Xho, yho_clean, sho = split["held"]
    noise_idx = list(NOISES).index(noise)
    ytr = add_noise(ytr_clean, str_, noise, np.random.default_rng([seed, noise_idx, 0]))
    yho = add_noise(yho_clean, sho, noise, np.random.default_rng([seed, noise_idx, 1]))
    res: dict = dict(key=key, seed=seed, noise=noise, warnings=set())
    if DESIGNS[key]["kind"] == "synthetic":
        res["bayes"] = float(((split["test"][2] > 0).astype(int) == yte).mean())

    lr, t_lr, w_lr = timed_fit(lr_pipeline(args), Xtr, ytr)
    calibration = {} if args.calibration is None else {"calibration": args.calibration}
    rule = {} if args.lambda_rule is None else {"lambda_rule": args.lambda_rule}
    ours, t_ours, w_ours = timed_fit(CorrentropySAMCV(sigmas=args.sigmas, device="cpu", **calibration, **rule),
                                     Xtr, ytr)
    # Every map refitted on the same out-of-fold decisions, with the threshold calibrated and held at f = 0: the
    # maps compared side by side on one model.
    f_held = additive_f(ours, Xho)
    for kind, (suffix, threshold) in itertools.product(CALIBRATIONS, THRESHOLDS):
        fitted_map = ProbabilityMap.fit(kind, ours.oof_decision_, np.where(ytr == 1, 1.0, -1.0), threshold)
        prob = fitted_map.positive(f_held - fitted_map.threshold)
        res[f"ece_map_{kind}{suffix}"] = expected_calibration_error(yho, prob)
        res[f"ece_floor_map_{kind}{suffix}"] = ece_floor(prob, args.calibration_floor_draws, seed)
    f_test = additive_f(ours, Xte)
    res["acc_ours_t0"] = float((ours.classes_[(f_test > 0).astype(int)] == yte).mean())  # sign(f): the paper's
    res["ece_floor_ours"] = res[f"ece_floor_map_{ours.calibration}"]  # the floor of ours' own probabilities
    res["threshold_ours"] = float(ours.threshold_)
    if args.support_diagnostics and DESIGNS[key]["kind"] == "synthetic":
        res.update(path_supports(ours, Xtr, ytr))
    fitted = [("lr", lr, t_lr, w_lr), ("ours", ours, t_ours, w_ours)]
    selections = [("ours", np.asarray(ours.selected_features_))]
    probabilistic = [("lr", lr), ("ours", ours)]
    if args.compare_rule:
        other, t_other, w_other = timed_fit(
            CorrentropySAMCV(sigmas=args.sigmas, lambda_rule=args.compare_rule, device="cpu", **calibration),
            Xtr, ytr,
        )
        fitted.append(("other", other, t_other, w_other))
        selections.append(("other", np.asarray(other.selected_features_)))
        probabilistic.append(("other", other))
        res["lam_other"] = float(other.lam_)
    if args.skglm:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sk, best, alpha_ratio = skglm_cv(Xtr, ytr, args)
        fitted.append(("sk", sk, time.perf_counter() - t0, sorted({w.category.__name__ for w in caught})))
        selections.append(("sk", sk.selected_features(best)))
        res["alpha_ratio_sk"] = alpha_ratio
    for name, model, seconds, caught in fitted:
        res[f"acc_{name}"] = float((model.predict(Xte) == yte).mean())
        res[f"t_{name}"] = seconds
        res["warnings"].update(f"{name}: {w}" for w in caught)
    for name, model in probabilistic:
        p_held, p_test = model.predict_proba(Xho)[:, 1], model.predict_proba(Xte)[:, 1]
        res[f"ece_noisy_{name}"] = expected_calibration_error(yho, p_held)
        res[f"ece_clean_{name}"] = expected_calibration_error(yte, p_test)
        res[f"brier_noisy_{name}"] = brier_score_loss(yho, p_held)
        res[f"brier_clean_{name}"] = brier_score_loss(yte, p_test)
    for name, selected in selections:
        res[f"nsel_{name}"] = len(selected)
        res[f"support_{name}"] = support_ok(selected)
    res["lam_ours"] = float(ours.lam_)
    res["sigma_ours"] = float(ours.sigma_)
    return res


def run_cell(cell: tuple[str, int], args: argparse.Namespace) -> tuple[list[dict], str]:
    """Every noise level of one (dataset, seed): the result rows and a progress line."""
    key, seed = cell
    t0 = time.perf_counter()
    split = make_split(args, key, seed)
    rows = [run_one(args, key, seed, noise, split) for noise in args.noises]
    line = (
        f"- {dataset_label(args, key)}, seed {seed}: {len(args.noises)} noise levels in "
        f"{fmt_seconds(time.perf_counter() - t0)} (train rows {len(split['train'][1])}, "
        f"p={split['train'][0].shape[1]})"
    )
    return rows, line


def init_worker(args: argparse.Namespace) -> None:
    """A worker process of ``--jobs``: one thread, warnings as in the parent, compiled and warmed up."""
    configure_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)
    warm_up(args)


def warm_up(args: argparse.Namespace) -> list[list[str]]:
    """Tiny fits of every method before any timing (numba compilation of skglm, torch kernels)."""
    Xw, yw = make_additive_classification(300, 8, flip=0.1, random_state=12345)
    rows = []
    for name, est in (
        ("skglm group lasso (numba compilation)", SplineGroupLassoPath([1e-2, 5e-3], n_knots=args.n_knots)),
        ("SplineTransformer + LogisticRegression", lr_pipeline(args)),
        ("CorrentropySAMCV(lams=4, cv=2)", CorrentropySAMCV(lams=4, cv=2, device="cpu")),
    ):
        _, seconds, _ = timed_fit(est, Xw, yw)
        rows.append([name, fmt_seconds(seconds)])
    return rows


# ---------------------------------------------------------------------------------------------------- stats
def fmt_diff(values) -> str:
    """Points (x100): mean [95 % t-interval], and "no difference" when the interval contains 0."""
    mean, lo, hi = t_interval(100.0 * np.asarray(values, dtype=float))
    if lo != lo:
        return f"{mean:+.1f} (one seed: no interval)"
    return f"{mean:+.1f} [{lo:+.1f}, {hi:+.1f}] {verdict(lo, hi)}"


def fmt_acc(values) -> str:
    v = 100.0 * np.asarray(values, dtype=float)
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.1f} ± {sd:.1f}"


def fmt_mean_sd(values, digits: int = 3) -> str:
    v = np.asarray(values, dtype=float)
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f}"


def dataset_label(args: argparse.Namespace, key: str) -> str:
    spec = DESIGNS[key]
    if spec["kind"] == "synthetic":
        n, p = args.sizes[key]
        return f"({key}) {spec['title']}, n={n}, p={p}"
    return f"({key}) {spec['title']}"


# ---------------------------------------------------------------------------------------------------- main
def main() -> None:
    args = parse_args()
    if args.jobs < 1:
        raise SystemExit(f"--jobs must be >= 1; got {args.jobs}")
    configure_threads(1 if args.jobs > 1 else args.threads)
    meter = ContentionMeter()
    warnings.simplefilter("ignore", ConvergenceWarning)
    emit(
        environment_header(
            "bench_afr_accuracy: CorrentropySAMCV vs spline LogisticRegression and skglm under label noise",
            args,
            extra_packages=("skglm", "numba"),
        )
    )
    seeds = [args.seed + s for s in range(args.seeds)]
    emit("### Warm-up (tiny fits before any timing; excluded from the tables)\n")
    emit(markdown_table(["warm-up", "time"], warm_up(args)))
    emit()
    emit("### Progress\n")
    results: list[dict] = []
    cells = [(key, seed) for key in args.designs for seed in seeds]
    if args.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch / OpenMP state
        with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=init_worker, initargs=(args,)) as pool:
            for rows, line in pool.map(run_cell, cells, [args] * len(cells)):
                results.extend(rows)
                emit(line)
    else:
        for cell_ in cells:
            rows, line = run_cell(cell_, args)
            results.extend(rows)
            emit(line)
    emit()

    def cell(key: str, noise: str) -> list[dict]:
        return sorted((r for r in results if r["key"] == key and r["noise"] == noise), key=lambda r: r["seed"])

    def col(rows: list[dict], name: str) -> np.ndarray:
        return np.array([r[name] for r in rows], dtype=float)

    def skglm(cell_text: Callable[[], str]) -> str:
        return cell_text() if args.skglm else "not run"

    acc_rows, cal_rows, sup_rows, time_rows, notes = [], [], [], [], []
    other_label = f'lambda_rule="{args.compare_rule}"'
    for key in args.designs:
        synthetic = DESIGNS[key]["kind"] == "synthetic"
        for noise in args.noises:
            rows = cell(key, noise)
            label = [dataset_label(args, key), noise]
            acc_rows.append(
                [
                    *label,
                    fmt_acc(col(rows, "bayes")) if synthetic else "-",
                    fmt_acc(col(rows, "acc_lr")),
                    skglm(lambda: fmt_acc(col(rows, "acc_sk"))),
                    fmt_acc(col(rows, "acc_ours")),
                    fmt_diff(col(rows, "acc_ours") - col(rows, "acc_lr")),
                    skglm(lambda: fmt_diff(col(rows, "acc_ours") - col(rows, "acc_sk"))),
                    fmt_acc(col(rows, "acc_ours_t0")),
                    fmt_diff(col(rows, "acc_ours") - col(rows, "acc_ours_t0")),
                    f"{np.median(col(rows, 'threshold_ours')):+.3f}",
                    *(
                        [fmt_acc(col(rows, "acc_other")), fmt_diff(col(rows, "acc_other") - col(rows, "acc_ours"))]
                        if args.compare_rule
                        else []
                    ),
                ]
            )
            cal_rows.append(
                [
                    *label,
                    fmt_mean_sd(col(rows, "ece_noisy_ours")),
                    fmt_mean_sd(col(rows, "ece_floor_ours")),
                    fmt_mean_sd(col(rows, "ece_noisy_lr")),
                    fmt_mean_sd(col(rows, "brier_noisy_ours")),
                    fmt_mean_sd(col(rows, "brier_noisy_lr")),
                    fmt_mean_sd(col(rows, "ece_clean_ours")),
                    fmt_mean_sd(col(rows, "ece_clean_lr")),
                    *([fmt_mean_sd(col(rows, "ece_noisy_other"))] if args.compare_rule else []),
                    *(fmt_mean_sd(col(rows, f"ece_map_{kind}{suffix}"))
                      for kind, (suffix, _) in itertools.product(CALIBRATIONS, THRESHOLDS)),
                ]
            )
            if synthetic:
                sup_rows.append(
                    [
                        *label,
                        f"{col(rows, 'support_ours').mean():.0%}",
                        f"{col(rows, 'nsel_ours').mean():.1f}",
                        skglm(lambda: f"{col(rows, 'support_sk').mean():.0%}"),
                        skglm(lambda: f"{col(rows, 'nsel_sk').mean():.1f}"),
                        *(
                            [f"{col(rows, 'support_other').mean():.0%} ({col(rows, 'nsel_other').mean():.1f})"]
                            if args.compare_rule
                            else []
                        ),
                        *(
                            [
                                f"{col(rows, 'informative_at_choice').mean():.1f}",
                                f"{col(rows, 'support_path_1se').mean():.0%} "
                                f"({col(rows, 'nsel_path_1se').mean():.1f})",
                                f"{col(rows, 'support_oracle').mean():.0%}",
                            ]
                            if args.support_diagnostics
                            else []
                        ),
                    ]
                )
            time_rows.append(
                [
                    *label,
                    fmt_seconds(col(rows, "t_lr").mean()),
                    skglm(lambda: fmt_seconds(col(rows, "t_sk").mean())),
                    fmt_seconds(col(rows, "t_ours").mean()),
                    f"{np.median(col(rows, 'lam_ours')):.3g}",
                    f"{np.median(col(rows, 'sigma_ours')):.3g}",
                    skglm(lambda: f"{np.median(col(rows, 'alpha_ratio_sk')):.3g}"),
                ]
            )
            caught = sorted(set().union(*(r["warnings"] for r in rows)))
            if caught:
                notes.append(f"- {label[0]}, {noise}: warnings during fits: {', '.join(caught)}")

    n_seeds = len(seeds)
    emit(
        f"### Clean test accuracy (%), mean ± sd over {n_seeds} seeds; differences in points, paired by seed, "
        "with a 95 % t-interval\n"
    )
    emit(
        markdown_table(
            [
                "dataset",
                "training noise",
                "sign(f) (Bayes)",
                "LR",
                "skglm group lasso",
                "CSAMCV (ours)",
                "CSAMCV − LR",
                "CSAMCV − skglm",
                "CSAMCV, same model with threshold 0 (sign f)",
                "CSAMCV − threshold 0",
                "CSAMCV threshold_ (median)",
                *([f"CSAMCV {other_label}", f"{other_label} − ours"] if args.compare_rule else []),
            ],
            acc_rows,
        )
    )
    emit()
    emit("### Calibration: ECE of predict_proba (10 bins) and the Brier score, mean ± sd over seeds\n")
    emit(
        '"noisy held-out": labels carry the training noise (the target of calibration); "clean test": the clean '
        "test labels (a model calibrated to noisy labels is under-confident there by construction). "
        f'"ECE floor": the mean ECE over {args.calibration_floor_draws} label sets drawn from CSAMCV\'s own held-out '
        "probabilities, i.e. what a perfectly calibrated model with the same predictions would score on a held-out "
        "set of this size; an ECE at this floor is as small as the set can show.\n"
    )
    emit(
        markdown_table(
            [
                "dataset",
                "training noise",
                "ECE CSAMCV, noisy held-out",
                "ECE floor: CSAMCV's probabilities, labels drawn from them",
                "ECE LR, noisy held-out",
                "Brier CSAMCV, noisy held-out",
                "Brier LR, noisy held-out",
                "ECE CSAMCV, clean test",
                "ECE LR, clean test",
                *([f"ECE CSAMCV {other_label}, noisy held-out"] if args.compare_rule else []),
                *(f'ECE CSAMCV with calibration="{kind}", threshold={threshold!r}, noisy held-out'
                  for kind, (_, threshold) in itertools.product(CALIBRATIONS, THRESHOLDS)),
            ],
            cal_rows,
        )
    )
    emit()
    if sup_rows:
        emit(
            f"### Support, synthetic designs: features 0-3 all selected with at most {MAX_OTHERS} others "
            "(share of seeds), and mean number of selected features\n"
        )
        emit(
            markdown_table(
                [
                    "dataset",
                    "training noise",
                    "CSAMCV support ok",
                    "CSAMCV selected",
                    "skglm support ok",
                    "skglm selected",
                    *([f"CSAMCV {other_label}: support ok (selected)"] if args.compare_rule else []),
                    *(
                        [
                            "CSAMCV: informative of 4 selected",
                            "CSAMCV at the 1-SE lambda: support ok (selected)",
                            "some lambda on CSAMCV's path: support ok (oracle)",
                        ]
                        if args.support_diagnostics
                        else []
                    ),
                ],
                sup_rows,
            )
        )
        emit()
    emit(
        "### Fit seconds (mean over seeds; whole fits, cross-validation included) and chosen regularisation (median)\n"
    )
    emit(
        markdown_table(
            [
                "dataset",
                "training noise",
                "LR",
                "skglm (5-fold CV paths + refit)",
                "CSAMCV",
                "CSAMCV lam_",
                "CSAMCV sigma_",
                "skglm alpha / alpha_max",
            ],
            time_rows,
        )
    )
    emit()
    if notes:
        emit("\n".join(notes))
        emit()

    # ------------------------------------------------------------------------------------------------ targets
    synthetic_keys = [k for k in args.designs if DESIGNS[k]["kind"] == "synthetic"]

    def averaged_diff(noise: str, keys: list[str], name: str) -> np.ndarray | None:
        """Per seed: the mean over ``keys`` of CSAMCV (variant ``name``) - LR (clean test accuracy)."""
        if noise not in args.noises or not keys:
            return None
        per_key = [col(cell(k, noise), f"acc_{name}") - col(cell(k, noise), "acc_lr") for k in keys]
        return np.mean(per_key, axis=0)

    variants = [("ours", "CSAMCV"), *([("other", f"CSAMCV {other_label}")] if args.compare_rule else [])]
    target_rows = []
    for (name, who), (tag, noise, bound) in itertools.product(variants, (
        ("(i) 20 % random flips: {} − LR >= +2 points", "flip20", TARGET_FLIP20),
        ("(ii) 10 % far-from-boundary flips: {} − LR >= +5 points", "far10", TARGET_FAR10),
        ("(iii) clean labels: {} − LR >= −1 point", "clean", TARGET_CLEAN),
    )):
        for scope, keys in (("all datasets", list(args.designs)), ("synthetic designs", synthetic_keys)):
            values = averaged_diff(noise, keys, name)
            what = f"{tag.format(who)}, mean over {scope} ({', '.join(keys)})"
            if values is None:
                target_rows.append([what, "not run", "-"])
                continue
            mean, lo, hi = t_interval(100.0 * values)
            status = "MET" if mean >= bound else "NOT MET"
            if lo == lo and lo <= 0.0 <= hi:
                status += "; no difference from LR (interval contains 0)"
            target_rows.append([what, fmt_diff(values), status])
    if "a" in args.designs:
        for (name, who), noise in itertools.product(variants, args.noises):
            rows = cell("a", noise)
            share = col(rows, f"support_{name}").mean()
            target_rows.append(
                [
                    f"(iv) {who}, design (a), {noise}: 0-3 selected with <= {MAX_OTHERS} others in >= 80 % of "
                    "seeds",
                    f"{share:.0%} of {len(rows)} seeds (mean selected {col(rows, f'nsel_{name}').mean():.1f})",
                    "MET" if share >= TARGET_SUPPORT else "NOT MET",
                ]
            )
    else:
        target_rows.append(["(iv) design (a) support", "not run", "-"])
    for kind, (suffix, threshold) in itertools.product(CALIBRATIONS, THRESHOLDS):
        ece_cells = [
            (k, n, col(cell(k, n), f"ece_map_{kind}{suffix}").mean(), col(cell(k, n), "ece_noisy_lr").mean(),
             col(cell(k, n), f"ece_floor_map_{kind}{suffix}").mean())
            for k in args.designs
            for n in args.noises
        ]
        worst = max(ece_cells, key=lambda c: c[2])
        met = sum(c[2] <= TARGET_ECE for c in ece_cells)
        above_floor = max(ece_cells, key=lambda c: c[2] - c[4])
        target_rows.append(
            [
                f'(v) ECE <= 0.05 on held-out noisy data (CSAMCV with calibration="{kind}", '
                f"threshold={threshold!r}, mean over seeds, "
                "worst dataset × noise)",
                f"worst {worst[2]:.3f} ({worst[0]}, {worst[1]}; LR there {worst[3]:.3f}; floor there "
                f"{worst[4]:.3f}); mean over all {np.mean([c[2] for c in ece_cells]):.3f}; {met}/{len(ece_cells)} "
                f"cells <= 0.05; largest excess over the floor {above_floor[2] - above_floor[4]:+.3f} "
                f"({above_floor[0]}, {above_floor[1]})",
                "MET" if worst[2] <= TARGET_ECE else "NOT MET",
            ]
        )
    emit("### Targets (issue 14)\n")
    emit(
        "Differences in points, mean over seeds of the per-seed average over the datasets, with a 95 % t-interval "
        f"over {n_seeds} seeds; a target is met when the mean reaches it.\n"
    )
    emit(markdown_table(["target", "measured", "verdict"], target_rows))
    emit()
    emit(meter.report())


if __name__ == "__main__":
    main()
