"""``CorrentropySAM``: the scikit-learn estimator of Additive Feature Refinement (HRR paper, Sec. III-B)."""

from __future__ import annotations

import math
import numbers
import os
import warnings
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from hrr._device import resolve_device, resolve_dtype
from hrr._memory import pin_mmap_threshold
from hrr.afr._basis import SplineBasis, fit_spline_basis
from hrr.afr._design import CACHE_BYTES, AdditiveDesign, auto_chunk_rows
from hrr.afr._hq import fit_hq
from hrr.afr._penalties import PENALTIES
from hrr.afr._persistence import load_model, save_model

_LINEAR_SOLVERS = ("auto", "dense", "woodbury")
_INITS = ("zeros", "uniform")
_HQ_ACCELERATIONS = ("anderson", "squarem", "none")


class CorrentropySAM(ClassifierMixin, BaseEstimator):
    r"""Correntropy sparse additive machine: the AFR classifier of the HRR paper (Sec. III-B, Appendix A).

    Fits the additive model :math:`f(x) = b_0 + \sum_j f_j(x_j)` with
    :math:`f_j(x_j) = \sum_k \alpha_{jk} \psi_{jk}(x_j)` (Eq. 5) by minimising Eq. (9),

    .. math:: \frac{1}{n}\sum_i \ell_\sigma(y_i, f(x_i)) + \lambda \sum_j \|\alpha_j\|_q ,
              \qquad \ell_\sigma(y, f) = \beta\,[1 - e^{-(1 - y f)^2/\sigma^2}],\ \beta = (1 - e^{-1/\sigma^2})^{-1}

    (the C-loss of Eq. 8), with the half-quadratic + ADMM solver of Appendix A (Eqs. 10-22, Algorithm 1)
    written in torch, so it runs on CPU or CUDA in float32 or float64. The :math:`\psi_{jk}` are cubic
    B-splines with knots at training quantiles, clamped outside the training range (bounded), centred and
    orthonormalised on the training data: :math:`\|\alpha_j\|_2` is the empirical L2 norm of :math:`f_j`.
    The intercept :math:`b_0` is not penalised. Labels may be any two values; they are mapped to -1 / +1
    in the order of ``classes_``.

    Parameters
    ----------
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
    eta : float, default=0.1
        ADMM penalty eta of Eq. (17) (the paper's value). With ``accelerate=True`` it is only the initial value.
    max_iter : int, default=100
        Maximum half-quadratic (outer) steps, counted as ``n_iter_``.
    tol : float, default=1e-5
        Outer stopping rule: stop when an HQ step lowers the objective by less than
        ``tol * max(1, objective)`` (the objective starts at 1 from ``init="zeros"``).
    max_admm_iter : int, default=1000
        Maximum ADMM iterations per half-quadratic step.
    admm_tol : float, default=1e-6
        epsilon of the ADMM stopping rule, Eq. (22).
    init : {"zeros", "uniform"}, default="zeros"
        ``"zeros"`` starts from f = 0, whose HQ weights are all equal, so the first step is the
        least-squares sparse additive fit and the C-loss then reweights from a sensible model.
        ``"uniform"`` is Algorithm 1's alpha ~ U(0, 1) (seeded by ``random_state``); it starts far from
        any good model, with weights that underflow to ~0, and needs more iterations.
    accelerate : bool, default=True
        Over-relaxation and residual balancing of eta in ADMM (checked every 5 iterations, refactoring only on
        > 2x changes).
        ``False`` runs Algorithm 1's plain ADMM with fixed eta.
    hq_acceleration : {"anderson", "squarem", "none"}, default="anderson"
        Extrapolation of the half-quadratic outer loop, which converges only linearly: Anderson acceleration
        (memory 3) or SQUAREM S3 (Varadhan & Roland 2008) over (coef, intercept). The next HQ step starts
        from the extrapolated point only if its objective is no worse than the best so far, so
        ``objective_path_`` stays monotone, the stopping rule is unchanged and the returned coefficients are
        still an HQ output (exact zeros). ``"none"`` runs Algorithm 1's plain HQ iteration.
    working_set : bool, default=True
        Solve each half-quadratic step on a working set of features (support + worst KKT violators, grown
        until no group outside violates its optimality condition): the same solution, but only the Gram
        of the working set is formed. ``False`` forms the full (dp x dp) Gram every step.
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
    random_state : int, RandomState or None, default=None
        Seed for ``init="uniform"``.
    verbose : bool, default=False
        Show a progress bar over half-quadratic iterations.

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
        Half-quadratic steps run (each one weighted Gram and one ADMM solve), including the steps taken
        from extrapolated points; ``max_iter`` bounds the same count.
    n_admm_iter_ : int
        ADMM iterations run, summed over half-quadratic iterations.
    objective_path_ : ndarray
        Objective of Eq. (9) (+ intercept) at the initial point and after every half-quadratic step
        (n_iter_ + 1 values, fewer only if a step from an extrapolated point was rejected); non-increasing.
    proba_scale_ : float
        Positive slope a of ``predict_proba = sigmoid(a f)``, fitted on the training decision values.
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
        eta: float = 0.1,
        max_iter: int = 100,
        tol: float = 1e-5,
        max_admm_iter: int = 1000,
        admm_tol: float = 1e-6,
        init: str = "zeros",
        accelerate: bool = True,
        hq_acceleration: str = "anderson",
        working_set: bool = True,
        linear_solver: str = "auto",
        device: str = "auto",
        dtype: str = "float64",
        chunk_size: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_basis = n_basis
        self.penalty = penalty
        self.lam = lam
        self.sigma = sigma
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
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")

        def real(name: str, strictly_positive: bool) -> None:
            value = getattr(self, name)
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and (value > 0 if strictly_positive else value >= 0)
            if not ok:
                bound = "> 0" if strictly_positive else ">= 0"
                raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")

        def choice(name: str, options: tuple[str, ...]) -> None:
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {list(options)}; got {getattr(self, name)!r}")

        positive_int("n_basis")
        positive_int("max_iter")
        positive_int("max_admm_iter")
        if self.chunk_size is not None:
            positive_int("chunk_size")
        real("sigma", strictly_positive=True)
        real("lam", strictly_positive=False)
        real("eta", strictly_positive=True)
        real("tol", strictly_positive=False)
        real("admm_tol", strictly_positive=True)
        choice("penalty", tuple(PENALTIES))
        choice("init", _INITS)
        choice("linear_solver", _LINEAR_SOLVERS)
        choice("hq_acceleration", _HQ_ACCELERATIONS)
        resolve_dtype(self.dtype)
        resolve_device(self.device)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(self, X: ArrayLike, y: ArrayLike) -> CorrentropySAM:
        """Fit on X (n_samples, n_features) of finite reals and y holding exactly two classes.

        Returns
        -------
        self
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        classes, y_index = np.unique(y, return_inverse=True)
        if y_type != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}; "
                f"y has {len(classes)} classes."
            )
        if len(classes) != 2:
            raise ValueError(f"y must contain samples of 2 classes; got 1 class: {classes.tolist()!r}")

        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        n, p = X.shape
        m = p * self.n_basis
        itemsize = torch.finfo(dtype).bits // 8
        chunk_rows = self.chunk_size or auto_chunk_rows(m, itemsize)
        x_t = _as_tensor(X, device, dtype)
        y_t = torch.as_tensor(2.0 * y_index - 1.0, device=device, dtype=dtype)

        basis = fit_spline_basis(x_t, self.n_basis, chunk_rows)
        cache = n * m * itemsize <= CACHE_BYTES or self.linear_solver == "woodbury"
        if not cache:
            pin_mmap_threshold()  # streaming: make freed chunk buffers go back to the OS
        design = AdditiveDesign(x_t, basis.to(device, dtype), chunk_rows, cache=cache)

        coef0 = torch.zeros(p, self.n_basis, device=device, dtype=dtype)
        if self.init == "uniform":
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            generator = torch.Generator(device="cpu").manual_seed(seed)
            coef0 = torch.rand(p, self.n_basis, generator=generator, dtype=torch.float64).to(device, dtype)

        result = fit_hq(
            design,
            y_t,
            penalty=PENALTIES[self.penalty](),
            lam=float(self.lam),
            sigma=float(self.sigma),
            eta=float(self.eta),
            coef0=coef0,
            intercept0=0.0,
            max_iter=self.max_iter,
            tol=float(self.tol),
            max_admm_iter=self.max_admm_iter,
            admm_tol=float(self.admm_tol),
            accelerate=bool(self.accelerate),
            linear_solver=self.linear_solver,
            working_set=bool(self.working_set),
            progress=bool(self.verbose),
            acceleration=self.hq_acceleration,
        )
        if not result.converged:
            warnings.warn(
                f"CorrentropySAM did not converge in max_iter={self.max_iter} half-quadratic iterations; "
                "increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        elif not result.admm_converged:
            warnings.warn(
                f"the last ADMM solve stopped at max_admm_iter={self.max_admm_iter} before reaching "
                f"admm_tol={self.admm_tol}; increase max_admm_iter or admm_tol",
                ConvergenceWarning,
                stacklevel=2,
            )

        self.classes_ = classes
        self.coef_ = result.coef.detach().cpu().to(torch.float64).numpy()
        self.intercept_ = float(result.intercept)
        self.knots_ = basis.knots
        self.basis_transform_ = basis.transform
        self.basis_offset_ = basis.offset
        self.n_iter_ = result.n_iter
        self.n_admm_iter_ = result.n_admm_iter
        self.objective_path_ = np.asarray(result.objective_path)
        decision = design.matvec(result.coef.reshape(-1), result.intercept).cpu().to(torch.float64).numpy()
        self.proba_scale_ = _fit_proba_scale(decision, 2.0 * y_index - 1.0)
        return self

    # ------------------------------------------------------------------ learned quantities
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
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        m = self.coef_.size
        chunk_rows = self.chunk_size or auto_chunk_rows(m, torch.finfo(dtype).bits // 8)
        return AdditiveDesign(_as_tensor(X, device, dtype), self._basis().to(device, dtype), chunk_rows, cache=False)

    # ------------------------------------------------------------------ prediction
    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """f(x) = b_0 + sum_j f_j(x_j) for X (n_samples, n_features); > 0 means ``classes_[1]``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        design = self._design(X)
        dtype = design.basis.coeffs.dtype
        coef = torch.as_tensor(self.coef_.reshape(-1), device=design.x.device, dtype=dtype)
        return design.matvec(coef, self.intercept_).cpu().to(torch.float64).numpy()

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class labels for X (n_samples, n_features): ``classes_[1]`` where the decision function is > 0."""
        decision = self.decision_function(X)
        return self.classes_[(decision > 0).astype(int)]

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """(n_samples, 2) probabilities sigmoid(proba_scale_ * f), consistent with ``predict``.

        The slope is fitted on the training data (Platt scaling through the origin), so the threshold stays
        at f = 0; wrap the model in ``CalibratedClassifierCV`` for held-out calibration.
        """
        decision = self.decision_function(X)
        positive = 0.5 * (1.0 + np.tanh(0.5 * self.proba_scale_ * decision))
        return np.column_stack([1.0 - positive, positive])

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Logarithm of ``predict_proba``, computed stably."""
        decision = self.decision_function(X)
        scaled = self.proba_scale_ * decision
        return np.column_stack([-np.logaddexp(0.0, scaled), -np.logaddexp(0.0, -scaled)])

    # ------------------------------------------------------------------ explanation
    def basis_expansion(self, X: ArrayLike) -> NDArray[np.float64]:
        """Phi(X): the (n_samples, n_features * n_basis) design the model is linear in (features major).

        Useful to fit other linear models "on the same basis", e.g. ``LogisticRegression``.
        """
        design = self._design(X)
        return torch.cat([phi for _, phi in design.chunks()]).cpu().to(torch.float64).numpy()

    def _feature_index(self, feature: int | str) -> int:
        check_is_fitted(self)
        if isinstance(feature, str):
            names = list(getattr(self, "feature_names_in_", []))
            if feature not in names:
                raise ValueError(f"feature {feature!r} is not among the fitted feature names {names[:10]}...")
            return names.index(feature)
        if not isinstance(feature, numbers.Integral) or not 0 <= feature < self.n_features_in_:
            raise ValueError(f"feature must be an index in [0, {self.n_features_in_}) or a name; got {feature!r}")
        return int(feature)

    def component_function(self, feature: int | str, x: ArrayLike) -> NDArray[np.float64]:
        """f_j(x) (Eq. 5) of one feature (index or name) at the 1-D values ``x``; zero mean on training data."""
        j = self._feature_index(feature)
        values = np.asarray(x, dtype=np.float64)
        if values.ndim != 1 or not np.all(np.isfinite(values)):
            raise ValueError(f"x must be a 1-D array of finite values; got shape {values.shape}")
        single = SplineBasis(
            knots=self.knots_[j : j + 1],
            transform=self.basis_transform_[j : j + 1],
            offset=self.basis_offset_[j : j + 1],
        ).to(torch.device("cpu"), torch.float64)
        psi = single.evaluate(torch.from_numpy(values[:, None].copy()))
        return (psi @ torch.from_numpy(self.coef_[j])).numpy()

    def plot_components(
        self,
        features: list[int | str] | None = None,
        *,
        max_features: int = 12,
        n_points: int = 200,
        n_cols: int = 4,
        X: ArrayLike | None = None,
    ):  # type: ignore[no-untyped-def]
        """Plot f_j over each feature's training range; returns a matplotlib Figure.

        ``features`` defaults to the selected features, largest ``feature_importances_`` first (at most
        ``max_features``). Pass the training ``X`` to draw a rug of the data under each curve.
        """
        from hrr.afr._plotting import plot_components

        return plot_components(self, features, max_features=max_features, n_points=n_points, n_cols=n_cols, X=X)

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


def _as_tensor(X: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Zero-copy on CPU when the dtype already matches and the array is writeable (torch needs that)."""
    if not X.flags.writeable:
        X = np.array(X)
    return torch.from_numpy(np.ascontiguousarray(X)).to(device=device, dtype=dtype)


def _fit_proba_scale(decision: NDArray[np.float64], y_pm: NDArray[np.float64]) -> float:
    """Slope a > 0 minimising the logistic loss of sigmoid(a f) on the training data (Newton in 1-D)."""
    a = 2.0
    for _ in range(50):
        margin = np.clip(a * y_pm * decision, -500.0, 500.0)
        prob_wrong = 1.0 / (1.0 + np.exp(margin))
        grad = -np.sum(prob_wrong * y_pm * decision)
        hess = np.sum(prob_wrong * (1.0 - prob_wrong) * decision**2)
        if hess <= 1e-12:
            break
        a_new = float(np.clip(a - grad / hess, 1e-2, 1e3))
        if abs(a_new - a) <= 1e-8 * a:
            a = a_new
            break
        a = a_new
    return a
