"""``CorrentropySAMCV``: lambda (and optionally sigma) of Eq. (9) chosen by cross-validation, like
scikit-learn's ``LogisticRegressionCV``.

Each fold fits the warm-started regularisation path (:mod:`hrr.afr._path`) on its training part and scores every
lambda on its held-out part. The held-out decision values at the chosen lambda are the cross-fitted decisions the
probability map is fitted on (:mod:`hrr.afr._calibration`), so the final model's probabilities are out of sample
at no extra cost. The final model is the full-data path down to the chosen lambda.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from hrr._validate import check_matrix_shape
from hrr.afr._calibration import ProbabilityMap, fit_sigmoid_slope
from hrr.afr._closs import CLoss
from hrr.afr._design import AdditiveDesign
from hrr.afr._estimator import CorrentropySAM
from hrr.afr._params import BinaryClassifier, check_params, make_solver
from hrr.afr._path import check_lams, lambda_grid, solve_path
from hrr.afr._problem import Problem, as_tensor, binary_target

Scorer = Callable[[NDArray[np.float64], NDArray[np.float64]], float]


def _decision_scorer(scoring: str | Scorer) -> tuple[Scorer, bool]:
    """(score(y01, value) -> float, greater is better; whether it needs probabilities rather than decisions)."""
    from sklearn import metrics

    if hasattr(scoring, "_score_func"):  # a scikit-learn scorer object wants (estimator, X, y)
        raise ValueError("scoring must be a name or a callable score(y_true, decision) -> float; a scikit-learn "
                         f"scorer object needs a fitted estimator: pass its name instead; got {scoring!r}")
    if callable(scoring):
        return scoring, False
    by_decision: dict[str, Scorer] = {
        "accuracy": lambda y, f: metrics.accuracy_score(y, f > 0),
        "balanced_accuracy": lambda y, f: metrics.balanced_accuracy_score(y, f > 0),
        "roc_auc": metrics.roc_auc_score,
        "average_precision": metrics.average_precision_score,
    }
    by_probability: dict[str, Scorer] = {
        "neg_log_loss": lambda y, p: -metrics.log_loss(y, p, labels=[0, 1]),
        "neg_brier_score": lambda y, p: -metrics.brier_score_loss(y, p),
    }
    if scoring in by_decision:
        return by_decision[scoring], False
    if scoring in by_probability:
        return by_probability[scoring], True
    raise ValueError(f"scoring must be one of {sorted([*by_decision, *by_probability])} or a callable "
                     f"score(y_true, decision) -> float (greater is better); got {scoring!r}")


class CorrentropySAMCV(BinaryClassifier, ClassifierMixin, BaseEstimator):
    """:class:`~hrr.CorrentropySAM` with lambda (and optionally sigma) chosen by K-fold cross-validation.

    For each sigma, the lambda grid runs from the exact lambda_max of the full data (no feature selected) down to
    ``eps * lambda_max``; every fold fits that path with warm starts and scores each lambda on its held-out part.
    The sigma with the best mean score wins, and its lambda by ``lambda_rule`` (ties: the larger lambda). The final
    model is fitted on all the data, and its probability map (and, with ``threshold="calibrated"``, the threshold)
    on the cross-fitted held-out decisions at the chosen point: out of sample, as
    ``CalibratedClassifierCV(ensemble=False)`` would, without extra fits.

    Parameters
    ----------
    lams : int >= 2 or array-like of float, default=20
        Number of grid values, or the lambda values themselves.
    eps : float, default=1e-3
        lambda_min / lambda_max of the grid when ``lams`` is an int.
    sigmas : array-like of float or None, default=None
        C-loss bandwidths to cross-validate as well; None keeps ``sigma``.
    cv : int or cross-validation splitter, default=5
        As in scikit-learn (an int means stratified folds without shuffling).
    lambda_rule : {"1se", "min"}, default="1se"
        ``"1se"``: the largest lambda whose mean score is within one standard error (over folds) of the best,
        glmnet's ``lambda.1se`` (also glmnet's default for ``predict``): a sparser model that CV cannot tell apart
        from the best one. ``"min"``: the lambda with the best mean score. Measured side by side
        (``benchmarks/bench_afr_accuracy.py``, docs/afr.md): on the SpAM design "1se" selects the 4 informative
        features with at most 6 others in 80-100 % of seeds where "min" does in 60-80 % (clean, 20 % and far
        flips), at a cost of 0-3.7 points of accuracy (mean gains over logistic regression +3.8 / +5.5 / +1.7
        points under 20 % / far flips / clean labels, against +5.9 / +7.4 / +2.5 with "min"). ``fit_hrr`` and
        ``hrr train`` use "min": a detector wants accuracy, not a sparse explanation.
    scoring : str or callable, default="roc_auc"
        "roc_auc" (threshold-free, so smooth in lambda; held-out accuracy on noisy labels is coarse and kept 43
        of 100 features where AUC kept 8 on the SpAM design with 20 % flips), "accuracy", "balanced_accuracy",
        "average_precision", "neg_log_loss", "neg_brier_score"
        (the last two on probabilities from a sigmoid map fitted on all held-out decisions at that lambda), or
        ``score(y_true, decision) -> float``, greater is better, with ``y_true`` in {0, 1} (1: ``classes_[1]``).
    n_basis, penalty, sigma, solver, max_iter, tol, working_set, calibration, threshold, device, dtype, chunk_size,
    verbose
        As in :class:`~hrr.CorrentropySAM` (``chunk_size`` bounds memory for large n).

    Attributes
    ----------
    lam_, sigma_ : float
        The chosen point.
    lams_ : ndarray of shape (n_lams,)
        The lambda grid (descending) of the chosen sigma.
    sigmas_ : ndarray of shape (n_sigmas,)
    scores_ : ndarray of shape (n_sigmas, n_lams, n_folds)
        Held-out score of every sigma, lambda and fold.
    n_iter_ : int
        Outer solver steps of all the fits (every fold's paths and the final path).
    n_selected_ : ndarray of shape (n_sigmas, n_lams)
        Features selected on the full data along the chosen sigma's path, down to ``lam_`` (the final path stops
        there: -1 below it, and for the other sigmas).
    oof_decision_ : ndarray of shape (n_samples,)
        Out-of-fold decision values at the chosen point: each training row scored by the fold model that did not
        see it. The probability map is fitted on them; they also let you compare other maps (or your own)
        without refitting the model.
    estimator_ : CorrentropySAM
        The final model (``save`` writes it; ``CorrentropySAM.load`` reads it back). Its probability map came from
        the CV folds, so it carries ``calibration_cv=None``: refitting it (or a clone) fits the map in sample
        unless you set ``calibration_cv`` first.
    classes_, coef_, intercept_, lambda_max_, probability_map_, proba_scale_, threshold_, n_features_in_,
    feature_names_in_
        As in :class:`~hrr.CorrentropySAM` (of ``estimator_``).

    Examples
    --------
    >>> from hrr.afr import CorrentropySAMCV
    >>> from hrr.datasets import make_additive_classification
    >>> X, y = make_additive_classification(n_samples=400, n_features=20, flip=0.2, random_state=0)
    >>> model = CorrentropySAMCV(lams=8, cv=3, device="cpu").fit(X, y)
    >>> sorted(model.selected_features_[:4].tolist())
    [0, 1, 2, 3]
    """

    def __init__(
        self,
        lams: int | ArrayLike = 20,
        eps: float = 1e-3,
        sigmas: ArrayLike | None = None,
        cv: Any = 5,
        lambda_rule: str = "1se",
        scoring: str | Scorer = "roc_auc",
        n_basis: int = 5,
        penalty: str = "group",
        sigma: float = 1.5,
        solver: str = "auto",
        max_iter: int | None = None,
        tol: float | None = None,
        working_set: bool = True,
        calibration: str = "sigmoid-flip",
        threshold: float | str = "calibrated",
        device: str = "auto",
        dtype: str = "float64",
        chunk_size: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.lams = lams
        self.eps = eps
        self.sigmas = sigmas
        self.cv = cv
        self.lambda_rule = lambda_rule
        self.scoring = scoring
        self.n_basis = n_basis
        self.penalty = penalty
        self.sigma = sigma
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.working_set = working_set
        self.calibration = calibration
        self.threshold = threshold
        self.device = device
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.verbose = verbose

    def _model(self, sigma: float, lam: float = 0.0) -> CorrentropySAM:
        return CorrentropySAM(n_basis=self.n_basis, penalty=self.penalty, lam=lam, sigma=sigma, solver=self.solver,
                              max_iter=self.max_iter, tol=self.tol, working_set=self.working_set,
                              calibration=self.calibration, calibration_cv=None, threshold=self.threshold,
                              device=self.device, dtype=self.dtype,
                              chunk_size=self.chunk_size, verbose=self.verbose)

    def _check_grid(self) -> tuple[list[float], Scorer, bool]:
        if self.sigmas is None:
            sigmas = [self.sigma]  # checked (by name) with the other CorrentropySAM parameters below
        else:
            message = f"sigmas must be None or a non-empty sequence of finite numbers > 0; got {self.sigmas!r}"
            try:
                sigmas = [float(s) for s in np.asarray(self.sigmas, dtype=np.float64).reshape(-1)]
            except (TypeError, ValueError):  # e.g. a string: numpy's message would not name sigmas
                raise ValueError(message) from None
            if not sigmas or not all(np.isfinite(s) and s > 0 for s in sigmas):
                raise ValueError(message)
        if isinstance(self.lams, numbers.Integral) and not isinstance(self.lams, bool):
            if self.lams < 2:  # a grid of one is lambda_max alone: the model with no feature
                raise ValueError(f"lams must be an integer >= 2 (the grid size) or a sequence of lambda values; "
                                 f"got {self.lams!r}; to try one lambda value pass a list, e.g. lams=[0.01]")
        elif isinstance(self.lams, numbers.Real):
            raise ValueError(f"lams must be an integer >= 2 (the grid size) or a sequence of lambda values; got the "
                             f"number {self.lams!r}; for that lambda value pass lams=[{self.lams!r}]")
        else:
            check_lams(self.lams)
        if isinstance(self.cv, numbers.Integral) and not isinstance(self.cv, bool) and self.cv < 2:
            raise ValueError(f"cv must be an integer >= 2 (the number of folds), a splitter or an iterable of "
                             f"(train, test) splits; got {self.cv!r}")
        if not (isinstance(self.eps, numbers.Real) and 0.0 < self.eps < 1.0):
            raise ValueError(f"eps must be a number in (0, 1); got {self.eps!r}")
        if self.lambda_rule not in ("1se", "min"):
            raise ValueError(f"lambda_rule must be one of ['1se', 'min']; got {self.lambda_rule!r}")
        scorer, needs_proba = _decision_scorer(self.scoring)
        for sigma in sigmas:
            check_params(self._model(sigma))
        return sigmas, scorer, needs_proba

    def fit(self, X: ArrayLike, y: ArrayLike) -> CorrentropySAMCV:
        """Cross-validate the path(s) on X (n_samples, n_features) and y (two classes); refit on all data.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Bad parameters (named), bad X or y, or fewer than 2 samples of a class for the folds.
        """
        sigmas, scorer, needs_proba = self._check_grid()
        check_matrix_shape("X", X)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        classes, y_index = binary_target(y)
        folds = self._folds(X, y)
        y_pm = 2.0 * y_index - 1.0
        grids, held_out = [], []
        self._fold_iterations = 0
        for sigma in sigmas:
            model = self._model(sigma)
            full = model._problem(X, y_index)
            lam_max, _ = full.null_model(CLoss(sigma), model._penalty())
            grid = (lambda_grid(lam_max, int(self.lams), float(self.eps)) if isinstance(self.lams, numbers.Integral)
                    and not isinstance(self.lams, bool) else check_lams(self.lams))
            grids.append(grid)
            held_out.append(self._held_out_decisions(model, X, y_index, folds, grid))
        self.scores_ = self._scores(held_out, folds, y_index, y_pm, scorer, needs_proba)
        best_sigma, best_lam = self._choose()
        self.sigmas_, self.lams_ = np.asarray(sigmas), grids[best_sigma]
        self.sigma_, self.lam_ = float(sigmas[best_sigma]), float(self.lams_[best_lam])
        self._refit(X, y_index, classes, best_sigma, best_lam, held_out[best_sigma][best_lam], y_pm)
        return self

    def _choose(self) -> tuple[int, int]:
        return choose_lambda(self.scores_, self.lambda_rule)

    def _folds(self, X: np.ndarray, y: NDArray[Any]) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
        from sklearn.model_selection import check_cv

        cv = self.cv
        if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
            smallest = int(np.unique(y, return_counts=True)[1].min())
            if smallest < 2:
                raise ValueError(f"cross-validation needs at least 2 samples of each class; the smallest class "
                                 f"has {smallest}")
            if smallest < cv:
                warnings.warn(f"cv={cv} folds need {cv} samples of each class; the smallest class has {smallest}: "
                              f"using {smallest} folds", UserWarning, stacklevel=3)
                cv = smallest
        return list(check_cv(cv, y, classifier=True).split(X, y))

    def _held_out_decisions(self, model: CorrentropySAM, X: np.ndarray, y_index: NDArray[np.intp],
                            folds: list[tuple[NDArray[np.intp], NDArray[np.intp]]],
                            grid: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n_lams, n_samples): each sample's decision value from the path fitted without its fold (screening
        tolerance: ``hrr.afr._path.SCREENING_TOL``)."""
        datafit, penalty, solver = CLoss(float(model.sigma)), model._penalty(), make_solver(model)
        out = np.empty((len(grid), X.shape[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fold's convergence at a far-off lambda does not decide anything
            for train, test in folds:
                problem = model._problem(X[train], y_index[train])
                _, intercept0 = problem.null_model(datafit, penalty)
                results = solve_path(problem, datafit, penalty, solver, grid, intercept0, screening=True)
                self._fold_iterations += sum(r.n_iter for r in results)
                design = _design_for(problem, X[test])
                for k, result in enumerate(results):
                    out[k, test] = design.matvec(result.coef.reshape(-1), result.intercept).cpu().double().numpy()
        return out

    @staticmethod
    def _scores(held_out: list[NDArray[np.float64]], folds: list[tuple[NDArray[np.intp], NDArray[np.intp]]],
                y_index: NDArray[np.intp], y_pm: NDArray[np.float64], scorer: Scorer,
                needs_proba: bool) -> NDArray[np.float64]:
        scores = np.empty((len(held_out), held_out[0].shape[0], len(folds)))
        for s, decisions in enumerate(held_out):
            for k, decision in enumerate(decisions):
                value = decision
                if needs_proba:  # one map for all folds at this lambda, fitted on their held-out decisions
                    value = 0.5 * (1.0 + np.tanh(0.5 * fit_sigmoid_slope(decision, y_pm) * decision))
                for f, (_, test) in enumerate(folds):
                    scores[s, k, f] = scorer(y_index[test], value[test])
        return scores

    def _refit(self, X: np.ndarray, y_index: NDArray[np.intp], classes: NDArray[Any], best_sigma: int,
               best_lam: int, held_out: NDArray[np.float64], y_pm: NDArray[np.float64]) -> None:
        """The full-data path down to the chosen lambda; the probability map from the held-out decisions."""
        final = self._model(self.sigma_, self.lam_)
        problem = final._problem(X, y_index)
        datafit, penalty = CLoss(self.sigma_), final._penalty()
        final.lambda_max_, intercept0 = problem.null_model(datafit, penalty)
        results = solve_path(problem, datafit, penalty, make_solver(final), self.lams_[: best_lam + 1],
                             intercept0, screening=True)
        self.n_iter_ = self._fold_iterations + sum(r.n_iter for r in results)
        self.n_selected_ = np.full(self.scores_.shape[:2], -1)
        self.n_selected_[best_sigma, : best_lam + 1] = [int(torch.any(r.coef != 0, dim=1).sum()) for r in results]
        final.classes_ = classes
        final.n_features_in_ = self.n_features_in_
        if hasattr(self, "feature_names_in_"):
            final.feature_names_in_ = self.feature_names_in_
        final._warn_convergence(results[-1])
        final._set_solution(problem, results[-1], warn_empty=False)
        if not final.coef_.any():
            warnings.warn(f"cross-validation chose lam = {self.lam_:.4g} (lambda_max_ = {final.lambda_max_:.4g}, "
                          f"lambda_rule={self.lambda_rule!r}): no feature is selected and the model predicts one "
                          "class everywhere", UserWarning, stacklevel=3)
        final.probability_map_ = ProbabilityMap.fit(self.calibration, held_out, y_pm, self.threshold)
        self.oof_decision_ = held_out
        final.proba_scale_ = final.probability_map_.slope
        self.estimator_ = final
        self.classes_ = classes
        for name in ("coef_", "intercept_", "lambda_max_", "probability_map_", "proba_scale_", "threshold_"):
            setattr(self, name, getattr(final, name))

    # ------------------------------------------------------------------ the final model's methods
    def _checked(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        check_matrix_shape("X", X)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def _final(self, method: str, X: ArrayLike) -> Any:
        """``estimator_.<method>(X)`` after this estimator's own checks of X (shape, feature names)."""
        X = self._checked(X)
        with warnings.catch_warnings():
            # The names were checked (and warned about) above; the array has none left to compare.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return getattr(self.estimator_, method)(X)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """f(x) - ``threshold_`` of the final model for X (n_samples, n_features); > 0 means ``classes_[1]``."""
        return self._final("decision_function", X)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class labels for X (n_samples, n_features)."""
        return self._final("predict", X)

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """(n_samples, 2) probabilities from the cross-fitted map."""
        return self._final("predict_proba", X)

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Logarithm of ``predict_proba``."""
        return self._final("predict_log_proba", X)

    @property
    def feature_importances_(self) -> NDArray[np.float64]:
        """||alpha_j||_2 per feature of the final model."""
        check_is_fitted(self)
        return self.estimator_.feature_importances_

    @property
    def selected_features_(self) -> NDArray[np.intp]:
        """Indices of the features the final model uses."""
        check_is_fitted(self)
        return self.estimator_.selected_features_

    def basis_expansion(self, X: ArrayLike) -> NDArray[np.float64]:
        """The final model's design Phi(X), (n_samples, n_features * n_basis)."""
        return self._final("basis_expansion", X)

    def component_function(self, feature: int | str, x: ArrayLike) -> NDArray[np.float64]:
        """f_j(x) of the final model (:meth:`CorrentropySAM.component_function`)."""
        check_is_fitted(self)
        return self.estimator_.component_function(feature, x)

    def plot_components(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        """:meth:`CorrentropySAM.plot_components` of the final model."""
        check_is_fitted(self)
        return self.estimator_.plot_components(*args, **kwargs)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the final model (a :class:`~hrr.CorrentropySAM`; read it with ``CorrentropySAM.load``)."""
        check_is_fitted(self)
        self.estimator_.save(path)


def _design_for(problem: Problem, X: np.ndarray) -> AdditiveDesign:
    """The design of new rows X in the basis fitted on ``problem``'s training rows."""
    device, dtype = problem.y.device, problem.y.dtype
    return AdditiveDesign(as_tensor(X, device, dtype), problem.basis.to(device, dtype), problem.design.chunk_rows,
                          cache=False)


def choose_lambda(scores: NDArray[np.float64], lambda_rule: str) -> tuple[int, int]:
    """(sigma index, lambda index) from CV scores (n_sigmas, n_lams, n_folds) by the best mean score and
    ``lambda_rule`` ("min" or "1se"); grids are descending, so ties and the 1-SE rule go to the larger lambda."""
    if not np.all(np.isfinite(scores)):
        sigma, lam, fold = (int(i[0]) for i in np.nonzero(~np.isfinite(scores)))
        raise ValueError(f"the held-out score of fold {fold} is not finite (sigma index {sigma}, lambda index {lam}): "
                         "a test fold with one class only makes roc_auc / average_precision undefined. Use "
                         "stratified folds (cv=int, or StratifiedKFold with shuffle=True when the rows are sorted by "
                         "label), or a scoring that returns finite values")
    mean = scores.mean(axis=2)
    best_sigma, best_lam = np.unravel_index(int(np.argmax(mean)), mean.shape)  # first max: largest lambda
    if lambda_rule == "1se":
        folds = scores.shape[2]
        se = scores[best_sigma, best_lam].std(ddof=1) / np.sqrt(folds) if folds > 1 else 0.0
        best_lam = int(np.flatnonzero(mean[best_sigma] >= mean[best_sigma, best_lam] - se)[0])
    return int(best_sigma), int(best_lam)
