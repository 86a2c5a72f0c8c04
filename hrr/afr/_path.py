"""The regularisation path of Eq. (9): fits at decreasing lambda, each warm-started from the previous one.

Like scikit-learn's ``lasso_path``: the grid starts at the exact ``lambda_max`` (the model with no feature is
optimal there and above) and falls geometrically to ``eps * lambda_max``. Warm starts make the whole path cost a
few cold fits, and with the default solver the curvature system is built once for all of them.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.utils.validation import check_X_y

from hrr.afr._acceleration import SolverResult
from hrr.afr._closs import CLoss
from hrr.afr._hq import HQADMM
from hrr.afr._mm import MajorizeMinimize
from hrr.afr._params import check_params, make_solver
from hrr.afr._penalties import GroupL2Penalty, L1Penalty
from hrr.afr._problem import Problem, binary_target


def lambda_grid(lam_max: float, n_lams: int, eps: float) -> NDArray[np.float64]:
    """``n_lams`` values from ``lam_max`` down to ``eps * lam_max``, evenly spaced on a log scale."""
    if n_lams == 1:
        return np.array([lam_max])
    return np.geomspace(lam_max, lam_max * eps, n_lams)


def check_lams(lams: Any) -> NDArray[np.float64]:
    """A user's lambda values, as a descending float array, or ValueError naming ``lams``."""
    message = f"lams must be a non-empty sequence of finite numbers >= 0; got {lams!r}"
    try:
        values = np.asarray(lams, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):  # e.g. a string among the values: numpy's message would not name lams
        raise ValueError(message) from None
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(message)
    return np.sort(values)[::-1].copy()


# CorrentropySAM parameters about probabilities or the starting point: the path returns neither.
_NOT_PATH_PARAMS = frozenset({"calibration", "calibration_cv", "threshold", "init", "random_state"})

# Cross-validation only ranks lambdas and warm-starts the next one: a KKT violation of 1e-4 at the points it does
# not keep changes no held-out score; the MM steps to go from 1e-4 to 1e-6 are about a third of a fit.
SCREENING_TOL = 1e-4


def solve_path(problem: Problem, datafit: CLoss, penalty: GroupL2Penalty | L1Penalty,
               solver: HQADMM | MajorizeMinimize, lams: NDArray[np.float64], intercept0: float,
               screening: bool = False) -> list[SolverResult]:
    """Fits at each of the descending ``lams``, from theta = 0 (with ``intercept0``), each warm-starting the next.

    ``screening``: the majorise-minimise solver stops at KKT <= max(tol, ``SCREENING_TOL``) at every lambda but
    the last (cross-validation's fold paths and the refit's way down to the chosen lambda).
    """
    device, dtype = problem.y.device, problem.y.dtype
    coef = torch.zeros(problem.design.n_features, problem.design.n_basis, device=device, dtype=dtype)
    intercept, results = intercept0, []
    loose = solver
    if screening and isinstance(solver, MajorizeMinimize):
        loose = dataclasses.replace(solver, tol=max(solver.tol, SCREENING_TOL))
    for k, lam in enumerate(lams):
        step = solver if k == len(lams) - 1 else loose
        result = step.solve(problem.design, problem.y, datafit, penalty, float(lam), coef, intercept)
        coef, intercept = result.coef, result.intercept
        results.append(result)
    return results


def correntropy_sam_path(
    X: ArrayLike,
    y: ArrayLike,
    *,
    lams: ArrayLike | None = None,
    n_lams: int = 20,
    eps: float = 1e-3,
    **params: Any,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Compute the regularisation path of :class:`~hrr.CorrentropySAM` (Eq. 9) with warm starts.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Finite reals.
    y : array-like of shape (n_samples,)
        Exactly two classes (mapped to -1 / +1 in sorted order, as ``classes_``).
    lams : array-like of float, optional
        The lambda values (any order; they are fitted largest first). Default: ``n_lams`` values from the exact
        lambda_max down to ``eps * lambda_max``, log-spaced.
    n_lams : int, default=20
    eps : float, default=1e-3
        lambda_min / lambda_max of the default grid.
    **params
        Any other :class:`~hrr.CorrentropySAM` parameter (``sigma``, ``penalty``, ``solver``, ``n_basis``,
        ``device``, ...); ``lam``, ``calibration``, ``calibration_cv``, ``threshold``, ``init`` and
        ``random_state`` are not among them (the path starts from theta = 0 and fits no probabilities).

    Returns
    -------
    lams : ndarray of shape (n_lams,)
        Descending.
    coefs : ndarray of shape (n_lams, n_features, n_basis)
        The coefficients at each lambda (in the orthonormal basis of a ``CorrentropySAM`` fitted on the same X).
    intercepts : ndarray of shape (n_lams,)

    Raises
    ------
    ValueError
        Bad parameters, a parameter the path does not use among ``params``, X not finite or 2-D, y not exactly
        two classes.

    Examples
    --------
    >>> from hrr.afr import correntropy_sam_path
    >>> from hrr.datasets import make_additive_classification
    >>> X, y = make_additive_classification(n_samples=300, n_features=10, random_state=0)
    >>> lams, coefs, _ = correntropy_sam_path(X, y, n_lams=5, device="cpu")
    >>> [int((abs(c).sum(axis=1) > 0).sum()) for c in coefs][0]  # at lambda_max: no feature
    0
    """
    grid, results = path_results(X, y, lams=lams, n_lams=n_lams, eps=eps, **params)
    coefs = np.stack([r.coef.detach().cpu().to(torch.float64).numpy() for r in results])
    return grid, coefs, np.array([r.intercept for r in results])


def path_results(X: ArrayLike, y: ArrayLike, *, lams: ArrayLike | None = None, n_lams: int = 20, eps: float = 1e-3,
                 screening: bool = False, **params: Any) -> tuple[NDArray[np.float64], list[SolverResult]]:
    """:func:`correntropy_sam_path`'s validation and fits, returning (grid, solver results with step counts);
    ``screening`` as in :func:`solve_path` (the benchmarks time both variants through this one routine)."""
    from hrr.afr._estimator import CorrentropySAM

    if "lam" in params:
        raise ValueError("lam is not a parameter of correntropy_sam_path; pass lams (the grid) instead")
    ignored = sorted(set(params) & _NOT_PATH_PARAMS)
    if ignored:
        raise ValueError(f"{', '.join(ignored)} would have no effect on correntropy_sam_path: it fits only the "
                         "coefficients along the lambda path, from all-zero coefficients (no probability map, no "
                         "threshold); set it on CorrentropySAM or CorrentropySAMCV")
    if isinstance(n_lams, bool) or not isinstance(n_lams, (int, np.integer)) or n_lams < 1:
        raise ValueError(f"n_lams must be an integer >= 1; got {n_lams!r}")
    if isinstance(eps, bool) or not (isinstance(eps, numbers.Real) and 0.0 < eps < 1.0):
        raise ValueError(f"eps must be a number in (0, 1); got {eps!r}")
    unknown = sorted(set(params) - set(CorrentropySAM._get_param_names()))
    if unknown:
        raise ValueError(f"correntropy_sam_path got unexpected keyword argument(s) {', '.join(unknown)}; it takes "
                         "lams, n_lams, eps and CorrentropySAM's parameters except lam")
    model = CorrentropySAM(**params)
    check_params(model)
    X, y = check_X_y(X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
    _, y_index = binary_target(y)
    problem = model._problem(X, y_index)
    datafit, penalty = CLoss(float(model.sigma)), model._penalty()
    lam_max, intercept0 = problem.null_model(datafit, penalty)
    grid = lambda_grid(lam_max, int(n_lams), float(eps)) if lams is None else check_lams(lams)
    return grid, solve_path(problem, datafit, penalty, make_solver(model), grid, intercept0, screening=screening)
