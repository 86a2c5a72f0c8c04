"""``CorrentropySAM``: the scikit-learn estimator of Additive Feature Refinement (HRR paper, Sec. III-B).

A thin shell in the way of skglm's estimators: it validates, builds the :class:`~hrr.afr._problem.Problem` (basis
and design), hands the datafit (:class:`~hrr.afr._closs.CLoss`) and the penalty to a solver object
(:class:`~hrr.afr.MajorizeMinimize` or :class:`~hrr.afr.HQADMM`) and fits the probability map
(:mod:`hrr.afr._calibration`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from hrr._device import resolve_device, resolve_dtype
from hrr._validate import check_matrix_shape
from hrr.afr._acceleration import SolverResult
from hrr.afr._basis import SplineBasis
from hrr.afr._calibration import ProbabilityMap, fit_probability_map
from hrr.afr._closs import CLoss
from hrr.afr._design import AdditiveDesign, auto_chunk_rows
from hrr.afr._explain import AdditiveExplanation
from hrr.afr._params import BinaryClassifier, check_params, make_solver
from hrr.afr._penalties import PENALTIES, GroupL2Penalty, L1Penalty
from hrr.afr._persistence import load_model, save_model
from hrr.afr._problem import Problem, as_tensor, binary_target


class CorrentropySAM(AdditiveExplanation, BinaryClassifier, ClassifierMixin, BaseEstimator):
    r"""Correntropy sparse additive machine: the AFR classifier of the HRR paper (Sec. III-B, Appendix A).

    Fits the additive model :math:`f(x) = b_0 + \sum_j f_j(x_j)` with
    :math:`f_j(x_j) = \sum_k \alpha_{jk} \psi_{jk}(x_j)` (Eq. 5) by minimising Eq. (9),

    .. math:: \frac{1}{n}\sum_i \ell_\sigma(y_i, f(x_i)) + \lambda \sum_j \|\alpha_j\|_q ,
              \qquad \ell_\sigma(y, f) = \beta\,[1 - e^{-(1 - y f)^2/\sigma^2}],\ \beta = (1 - e^{-1/\sigma^2})^{-1}

    (the C-loss of Eq. 8). Two solvers, both torch code for CPU or CUDA in float32 or float64, reach the same
    objective (``solver``): majorise-minimise with the C-loss's fixed curvature bound (one Gram per
    working set; the default) and Appendix A's half-quadratic + ADMM (Eqs. 10-22,
    Algorithm 1).
    The :math:`\psi_{jk}` are cubic B-splines with knots at training quantiles, clamped outside the training
    range (bounded), centred and orthonormalised on the training data: :math:`\|\alpha_j\|_2` is the
    empirical L2 norm of :math:`f_j`.
    The intercept :math:`b_0` is not penalised. Labels may be any two values; they are mapped to -1 / +1
    in the order of ``classes_``.

    Parameters
    ----------
    solver : {"auto", "mm", "hq-admm"}, default="auto"
        ``"mm"``: :class:`~hrr.afr.MajorizeMinimize`; ``"hq-admm"``: :class:`~hrr.afr.HQADMM`, Algorithm 1.
        ``"auto"``: ``"mm"`` at every sigma (measured faster in 11 of 12 settings below sigma = 1.2, where it
        takes more steps than Algorithm 1; ``benchmarks/bench_auto_solver.py``).
        ``max_iter``, ``tol``, ``eta`` and ``admm_tol`` left at None take the chosen solver's defaults.
    n_basis : int, default=5
        Number of basis functions d per feature.
    penalty : {"group", "l1"}, default="group"
        ``"group"``: q = 2 (group lasso, selects whole features); ``"l1"``: q = 1 (lasso on coefficients).
    lam : float, default=5e-4
        Regularisation strength lambda of Eq. (9) (the paper's value, Sec. IV-C). Must be >= 0.
    sigma : float, default=1.5
        C-loss bandwidth sigma of Eq. (8). It acts on the margin residual 1 - y f (labels are +-1), so it
        does not depend on the feature scale. Smaller is more robust to label noise and less convex:
        1.5 gives a point on the wrong side at f = -y weight exp(-4/2.25) = 0.17 of a fitted one. On the
        SpAM design with 0-30 % label flips, 1.5 and 2.0 were clearly better than 1.0 (which collapses to
        too few features under noise); see docs/afr.md.
    eta : float or None, default=None
        ADMM penalty eta of Eq. (17); with ``accelerate=True`` only the initial value. None: 0.1 for
        ``"hq-admm"`` (the paper's value), 1.0 for ``"mm"``.
    max_iter : int or None, default=None
        Maximum outer steps, counted as ``n_iter_``. None: 100 (``"hq-admm"``), 1000 (``"mm"``).
    tol : float or None, default=None
        Outer stopping rule. ``"hq-admm"`` (None: 1e-5): stop when a step lowers the objective by less than
        ``tol * max(1, objective)``. ``"mm"`` (None: 1e-6): stop when the largest violation of the
        optimality conditions of Eq. (9) (per group, and the intercept's gradient) is at most ``tol``.
    max_admm_iter : int, default=1000
        Maximum ADMM iterations per outer step.
    admm_tol : float or None, default=None
        epsilon of the ADMM stopping rule, Eq. (22). None: 1e-6 (``"hq-admm"``); 1e-9 for ``"mm"``, where it
        is the floor of an inner tolerance that follows the outer optimality gap.
    init : {"zeros", "uniform"}, default="zeros"
        ``"zeros"`` starts from no feature: theta = 0 with the intercept at its optimum (both solvers; from
        intercept 0, as Algorithm 1 reads, a non-convex C-loss could select features at lam >= lambda_max_).
        ``"uniform"`` is Algorithm 1's alpha ~ U(0, 1) (seeded by ``random_state``); it starts far from
        any good model, with weights that underflow to ~0, and needs more iterations.
    accelerate : bool, default=True
        Over-relaxation and residual balancing of eta in ADMM (checked every 5 iterations, refactoring only on
        > 2x changes).
        ``False`` runs Algorithm 1's plain ADMM with fixed eta.
    hq_acceleration : {"auto", "anderson", "squarem", "none"}, default="auto"
        Extrapolation of the outer loop (of either solver; the name is historical), which converges only
        linearly: Anderson acceleration (memory 3) or SQUAREM S3 (Varadhan & Roland 2008) over
        (coef, intercept). ``"auto"``: SQUAREM for ``"mm"`` (faster at every benchmarked size; MM stops on the
        KKT conditions, so the extrapolation does not move where it stops), Anderson for ``"hq-admm"`` (whose
        slowing-objective rule stopped at most 7.9e-6 above the optimum after Anderson, 1.0e-4 after SQUAREM, on
        six problems). The next step starts from the extrapolated point only if its objective is no worse than the
        best so far, so ``objective_path_`` stays monotone, the stopping rule is unchanged and the returned
        coefficients are still a solver step's output (exact zeros). ``"none"``: the plain iteration.
    working_set : bool, default=True
        Restrict the work to a working set of features, grown until no group outside it violates its
        optimality condition: the same solution at a lower cost when few features are active.
        ``"hq-admm"``: each half-quadratic step forms only the working set's Gram (support + worst KKT
        violators) instead of the full (dp x dp) one. ``"mm"``: when the features active or violating their
        condition at the start are at most half of all, every step runs on their columns only (cheap near
        ``lambda_max_`` and along a warm-started path). ``False``: every step uses every feature.
    linear_solver : {"auto", "dense", "woodbury"}, default="auto"
        How ADMM solves Eq. (18). ``"woodbury"`` factors an n x n matrix instead of dp x dp (it needs
        the dense n x dp design in memory); ``"auto"`` uses it when n is smaller than the working set's
        columns and the dense design fits in 512 MiB.
    device : str, default="auto"
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype : {"float64", "float32"}, default="float64"
        Working precision of the solver.
    chunk_size : int or None, default=None
        Rows per chunk when accumulating the weighted Gram matrix; None picks ~8 MiB chunks.
    calibration : {"sigmoid-flip", "sigmoid", "isotonic"}, default="sigmoid-flip"
        The map from the decision value d = f - t to ``predict_proba``: P = rho + (1 - 2 rho) sigmoid(a d), Platt
        scaling with plateaus at rho and 1 - rho for labels flipped at rate rho (a and rho fitted; rho = 0 when
        the labels are clean), Platt scaling alone (rho = 0), or isotonic regression (a step function: ties in
        ``predict_proba``). The sigmoid maps keep the ranks of f. See :mod:`hrr.afr._calibration` and docs/afr.md
        (measured ECE of the three maps).
    calibration_cv : int or None, default=5
        Fit that map out of sample, on cross-fitted decision values of ``calibration_cv`` stratified folds
        (each fold one more fit, without shuffling), as ``CalibratedClassifierCV(ensemble=False)`` does; a model
        at chance then answers near 1/2. None fits it on the training decisions (faster; overconfident when
        the model overfits, and a warning says so when the training data are separable).
    threshold : "calibrated" or float, default="calibrated"
        t, the value of f where the probability crosses 1/2 and the predicted class changes
        (``decision_function`` = f - t). ``"calibrated"`` fits it with the map, on the same (cross-fitted)
        decisions; a number holds it there: ``threshold=0.0`` is the paper's classifier sign(f). The fitted f
        need not cross the Bayes boundary at 0 (the penalty shrinks it towards its intercept): on the SpAM design
        (``CorrentropySAMCV``, clean labels) the calibrated t lowered the held-out ECE from 0.052 to 0.018 and
        raised accuracy by 1.3 points; over 20 benchmark cells it was better in 5 and never worse (docs/afr.md).
        ``coef_`` and ``intercept_`` are Eq. (9)'s minimiser either way.
    random_state : int, RandomState or None, default=None
        Seed for ``init="uniform"``.
    verbose : bool, default=False
        Show a progress bar over outer iterations.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    coef_ : ndarray of shape (n_features_in_, n_basis)
        alpha_j per feature, in the orthonormal basis.
    intercept_ : float
    feature_importances_ : ndarray of shape (n_features_in_,)
        ||alpha_j||_2 = empirical L2 norm of the component f_j on the training data.
    selected_features_ : ndarray of int
        Indices of features with a non-zero component.
    n_iter_ : int
        Outer steps run (for ``"hq-admm"`` each one weighted Gram and one ADMM solve), including the steps
        taken from extrapolated points; ``max_iter`` bounds the same count.
    n_admm_iter_ : int
        ADMM iterations run, summed over outer iterations.
    objective_path_ : ndarray
        Objective of Eq. (9) (+ intercept) at the initial point and after every outer step
        (n_iter_ + 1 values, fewer only if a step from an extrapolated point was rejected); non-increasing.
    lambda_max_ : float
        The smallest ``lam`` at which the model with no feature is optimal (``Problem.null_model``).
    proba_scale_ : float
        Slope a > 0 of the sigmoid maps (``predict_proba = rho + (1 - 2 rho) sigmoid(a (f - t))``, rho = 0 for
        ``calibration="sigmoid"``), fitted as ``calibration_cv`` says; Platt's slope for the isotonic map.
    probability_map_ : ProbabilityMap
        The fitted map: ``kind``, ``slope`` (= ``proba_scale_``), ``flip_rate`` (rho), ``threshold`` and the
        isotonic knots.
    threshold_ : float
        t (= ``probability_map_.threshold``): ``decision_function`` is f - t.
    knots_ : ndarray of shape (n_features_in_, n_knots)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Examples
    --------
    >>> from hrr import CorrentropySAM
    >>> from hrr.datasets import make_additive_classification
    >>> X, y = make_additive_classification(n_samples=400, n_features=20, flip=0.2, random_state=0)
    >>> model = CorrentropySAM(lam=0.02).fit(X, y)
    >>> model.selected_features_[:4]
    array([0, 1, 2, 3])
    """

    def __init__(
        self,
        n_basis: int = 5,
        penalty: str = "group",
        lam: float = 5e-4,
        sigma: float = 1.5,
        solver: str = "auto",
        eta: float | None = None,
        max_iter: int | None = None,
        tol: float | None = None,
        max_admm_iter: int = 1000,
        admm_tol: float | None = None,
        init: str = "zeros",
        accelerate: bool = True,
        hq_acceleration: str = "auto",
        working_set: bool = True,
        linear_solver: str = "auto",
        device: str = "auto",
        dtype: str = "float64",
        chunk_size: int | None = None,
        calibration: str = "sigmoid-flip",
        calibration_cv: int | None = 5,
        threshold: float | str = "calibrated",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_basis = n_basis
        self.penalty = penalty
        self.lam = lam
        self.sigma = sigma
        self.solver = solver
        self.eta = eta
        self.max_iter = max_iter
        self.tol = tol
        self.max_admm_iter = max_admm_iter
        self.admm_tol = admm_tol
        self.init = init
        self.accelerate = accelerate
        self.hq_acceleration = hq_acceleration
        self.working_set = working_set
        self.linear_solver = linear_solver
        self.device = device
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.calibration = calibration
        self.calibration_cv = calibration_cv
        self.threshold = threshold
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def fit(self, X: ArrayLike, y: ArrayLike) -> CorrentropySAM:
        """Fit on X (n_samples, n_features) of finite reals and y holding exactly two classes.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Bad parameters (the message names the parameter), non-finite or non-2-D X, not exactly two classes.

        Warns
        -----
        ConvergenceWarning
            The solver stopped at ``max_iter`` (or the last ADMM solve at ``max_admm_iter``).
        UserWarning
            No feature was selected (``lam >= lambda_max_``), or the training data are separable by the model
            while ``calibration_cv=None`` (in-sample probabilities would be overconfident).
        """
        X, y, problem = self._fit_solution(X, y)
        self.probability_map_ = fit_probability_map(self, X, y, problem)
        self.proba_scale_ = self.probability_map_.slope
        return self

    def _fit_solution(self, X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray, Problem]:
        """``fit`` up to Eq. (9)'s solution, without the probability map (cross-fitting's fold models need only
        f): returns the validated (X, y) and the problem."""
        check_params(self)
        check_matrix_shape("X", X)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        classes, y_index = binary_target(y)
        problem = self._problem(X, y_index)
        datafit, penalty = CLoss(float(self.sigma)), self._penalty()
        lam_max, null_intercept = problem.null_model(datafit, penalty)
        coef0, intercept0 = self._start(problem, null_intercept)
        result = make_solver(self).solve(problem.design, problem.y, datafit, penalty, float(self.lam),
                                           coef0, intercept0)
        self._warn_convergence(result, stacklevel=4)  # user -> fit -> _fit_solution -> here
        self.classes_ = classes
        self.lambda_max_ = lam_max
        self._set_solution(problem, result, stacklevel=4)
        return X, y, problem

    def _penalty(self) -> GroupL2Penalty | L1Penalty:
        return PENALTIES[self.penalty]()

    def _problem(self, X: np.ndarray, y_index: NDArray[np.intp]) -> Problem:
        return Problem.build(X, y_index, n_basis=self.n_basis, chunk_size=self.chunk_size,
                             linear_solver=self.linear_solver, device=resolve_device(self.device),
                             dtype=resolve_dtype(self.dtype))

    def _start(self, problem: Problem, null_intercept: float) -> tuple[torch.Tensor, float]:
        """(coef0, intercept0) as ``init`` and ``solver`` say."""
        design = problem.design
        device, dtype = problem.y.device, problem.y.dtype
        coef0 = torch.zeros(design.n_features, self.n_basis, device=device, dtype=dtype)
        if self.init == "uniform":
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            generator = torch.Generator(device="cpu").manual_seed(seed)
            coef0 = torch.rand(design.n_features, self.n_basis, generator=generator,
                               dtype=torch.float64).to(device, dtype)
            return coef0, 0.0
        # Both solvers start from the null model's intercept: at lam >= lambda_max_ that point is optimal, while
        # from b = 0 a non-convex C-loss (sigma < sqrt(2)) could select features there.
        return coef0, null_intercept

    def _warn_convergence(self, result: SolverResult, stacklevel: int = 3) -> None:
        """``stacklevel``: of the warning as seen from this method (3: its caller's caller)."""
        solver = make_solver(self)
        if not result.converged and result.n_iter < solver.max_iter:
            warnings.warn(
                f"CorrentropySAM stopped after {result.n_iter} outer iterations at a KKT violation of "
                f"{result.kkt:.2g} > tol={solver.tol:g}: the inner ADMM could not lower the majoriser at "
                f"admm_tol={solver.admm_tol:g}; lower admm_tol, raise max_admm_iter, or raise tol",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )
        elif not result.converged:
            warnings.warn(
                f"CorrentropySAM did not converge in max_iter={solver.max_iter} outer iterations; "
                "increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )
        elif not result.admm_converged:
            warnings.warn(
                f"the last ADMM solve stopped at max_admm_iter={self.max_admm_iter} before reaching "
                f"admm_tol={solver.admm_tol}; increase max_admm_iter or admm_tol",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )

    def _set_solution(self, problem: Problem, result: SolverResult, warn_empty: bool = True,
                      stacklevel: int = 3) -> None:
        """The fitted attributes of a solver result on ``problem`` (``stacklevel`` as in ``_warn_convergence``)."""
        self.coef_ = result.coef.detach().cpu().to(torch.float64).numpy()
        self.intercept_ = float(result.intercept)
        self.knots_ = problem.basis.knots
        self.basis_transform_ = problem.basis.transform
        self.basis_offset_ = problem.basis.offset
        self.n_iter_ = result.n_iter
        self.n_admm_iter_ = result.n_admm_iter
        self.objective_path_ = np.asarray(result.objective_path)
        if warn_empty and not self.coef_.any():
            where = ">=" if self.lam >= self.lambda_max_ else "close to"  # just below, the solver may stop at 0
            warnings.warn(f"no feature was selected (lam={self.lam:.6g} {where} lambda_max_={self.lambda_max_:.6g}): "
                          "the model predicts one class everywhere; lower lam or use CorrentropySAMCV",
                          UserWarning, stacklevel=stacklevel)

    # ------------------------------------------------------------------ learned quantities
    @property
    def threshold_(self) -> float:
        """t, where the predicted class changes: ``decision_function`` is f - t (the map's own ``threshold``)."""
        check_is_fitted(self, "probability_map_")
        return self.probability_map_.threshold

    @property
    def feature_importances_(self) -> NDArray[np.float64]:
        """||alpha_j||_2 per feature: the empirical L2 norm of f_j on the training data."""
        check_is_fitted(self)
        return np.linalg.norm(self.coef_, axis=1)

    @property
    def selected_features_(self) -> NDArray[np.intp]:
        """Indices of the features whose component f_j is not identically zero."""
        check_is_fitted(self)
        return np.flatnonzero(np.any(self.coef_ != 0, axis=1))

    def _basis(self) -> SplineBasis:
        return SplineBasis(knots=self.knots_, transform=self.basis_transform_, offset=self.basis_offset_)

    def _design(self, X: ArrayLike) -> AdditiveDesign:
        check_is_fitted(self)
        check_matrix_shape("X", X)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        m = self.coef_.size
        chunk_rows = self.chunk_size or auto_chunk_rows(m, torch.finfo(dtype).bits // 8)
        return AdditiveDesign(as_tensor(X, device, dtype), self._basis().to(device, dtype), chunk_rows, cache=False)

    # ------------------------------------------------------------------ prediction
    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """f(x) - t = b_0 + sum_j f_j(x_j) - ``threshold_`` for X (n_samples, n_features); > 0 means ``classes_[1]``.

        f itself is ``decision_function(X) + threshold_`` (they are equal with ``threshold=0.0``).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "probability_map_")
        return self._f(X, self.threshold_)

    def _f(self, X: ArrayLike, shift: float = 0.0) -> NDArray[np.float64]:
        """f(x) - shift for X (n_samples, n_features), from the fitted coefficients alone (no map needed)."""
        design = self._design(X)
        dtype = design.basis.coeffs.dtype
        coef = torch.as_tensor(self.coef_.reshape(-1), device=design.x.device, dtype=dtype)
        return design.matvec(coef, self.intercept_ - shift).cpu().to(torch.float64).numpy()

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class labels for X (n_samples, n_features): ``classes_[1]`` where the decision function is > 0."""
        decision = self.decision_function(X)
        return self.classes_[(decision > 0).astype(int)]

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """(n_samples, 2) probabilities of ``classes_`` for X (n_samples, n_features), from the decision value;
        column 1 is > 1/2 exactly where ``predict`` answers ``classes_[1]``. For the isotonic map this needs
        ``threshold="calibrated"`` and a map that crosses 1/2 on the calibration decisions (``fit`` warns when
        it does not); with a numeric threshold its 1/2 crossing can sit anywhere.

        The map (``calibration``) is fitted out of sample unless ``calibration_cv=None``; see
        :mod:`hrr.afr._calibration`.
        """
        decision = self.decision_function(X)  # checks fitted and X first
        positive = self.probability_map_.positive(decision)
        return np.column_stack([1.0 - positive, positive])

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Logarithm of ``predict_proba``, computed stably for the sigmoid map."""
        decision = self.decision_function(X)
        return self.probability_map_.log_proba(decision)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to one ``.safetensors`` file (arrays + JSON metadata), atomically."""
        check_is_fitted(self)
        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | None = None) -> CorrentropySAM:
        """Read a model written by :meth:`save`. Only arrays and JSON are read; no code is executed.

        ``device`` overrides the stored ``device`` parameter; by default a model saved with a CUDA device
        is loaded for ``"auto"`` when this machine has no CUDA.
        """
        return load_model(cls, path, device)


    def _load_probability_map(self, kind: str, thresholds_x: NDArray[np.float64],
                              thresholds_y: NDArray[np.float64], flip_rate: float = 0.0,
                              threshold: float = 0.0) -> None:
        """Restore the map written by :meth:`save` (used by the persistence module)."""
        self.probability_map_ = ProbabilityMap(kind, self.proba_scale_, thresholds_x, thresholds_y, flip_rate,
                                               threshold)
