"""The settings of the AFR estimators: validation that names the parameter, and the solver objects they make.

``max_iter``, ``tol``, ``eta`` and ``admm_tol`` left at None take the chosen solver's defaults.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from hrr._device import resolve_device, resolve_dtype
from hrr.afr._calibration import CALIBRATED, CALIBRATIONS
from hrr.afr._hq import HQADMM
from hrr.afr._mm import MajorizeMinimize
from hrr.afr._penalties import PENALTIES

_SOLVERS = ("auto", "mm", "hq-admm")
_LINEAR_SOLVERS = ("auto", "dense", "woodbury")
_INITS = ("zeros", "uniform")
_HQ_ACCELERATIONS = ("auto", "anderson", "squarem", "none")
# Per solver: the defaults of the settings left at None (max_iter, tol, eta, admm_tol).
_SOLVER_DEFAULTS = {
    "mm": {"max_iter": 1000, "tol": 1e-6, "eta": 1.0, "admm_tol": 1e-9},
    "hq-admm": {"max_iter": 100, "tol": 1e-5, "eta": 0.1, "admm_tol": 1e-6},
}


def check_params(model: Any) -> None:
    """Raise ValueError naming the first bad parameter of a ``CorrentropySAM``, the expected form and the value."""
    def positive_int(name: str, minimum: int = 1) -> None:
        value = getattr(model, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")

    def real(name: str, strictly_positive: bool) -> None:
        value = getattr(model, name)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > 0 if strictly_positive else value >= 0)
        if not ok:
            bound = "> 0" if strictly_positive else ">= 0"
            raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")

    def choice(name: str, options: tuple[str, ...]) -> None:
        if getattr(model, name) not in options:
            raise ValueError(f"{name} must be one of {list(options)}; got {getattr(model, name)!r}")

    positive_int("n_basis")
    positive_int("max_admm_iter")
    for name in ("max_iter", "chunk_size"):
        if getattr(model, name) is not None:
            positive_int(name)
    if model.calibration_cv is not None:
        positive_int("calibration_cv", minimum=2)
    real("sigma", strictly_positive=True)
    real("lam", strictly_positive=False)
    for name, strict in (("eta", True), ("tol", False), ("admm_tol", True)):
        if getattr(model, name) is not None:
            real(name, strictly_positive=strict)
    choice("solver", _SOLVERS)
    choice("penalty", tuple(PENALTIES))
    choice("init", _INITS)
    choice("linear_solver", _LINEAR_SOLVERS)
    choice("hq_acceleration", _HQ_ACCELERATIONS)
    choice("calibration", CALIBRATIONS)
    threshold = model.threshold
    ok = (threshold == CALIBRATED if isinstance(threshold, str) else
          isinstance(threshold, numbers.Real) and not isinstance(threshold, bool) and math.isfinite(threshold))
    if not ok:
        raise ValueError(f"threshold must be {CALIBRATED!r} or a finite number (a decision value); got {threshold!r}")
    for name in ("verbose", "accelerate", "working_set"):
        if not isinstance(getattr(model, name), (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False; got {getattr(model, name)!r}")
    seed = model.random_state
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, (numbers.Integral, np.random.RandomState))):
        raise ValueError(f"random_state must be None, an integer or a numpy RandomState; got {seed!r}")
    resolve_dtype(model.dtype)
    resolve_device(model.device)


def resolve_solver(model: Any) -> str:
    """``model.solver``, with "auto" resolved to "mm" at every sigma.

    Below sigma = 1.2 MM's fixed curvature bound is more than twice as loose as Algorithm 1's half-quadratic
    weights at the start (exp(-1/sigma^2) < 1/2), so it takes 3-4x as many steps; "auto" used to pick
    "hq-admm" there. Since MM's steps run on a working set and pass over a cached design in one product, they
    are cheap enough that "mm" was faster in 11 of 12 cells at sigma in {1.0, 1.1} and reached an equal or lower
    objective in all 12 (``benchmarks/bench_auto_solver.py``, 2026-11-30); the twelfth is a problem where
    Algorithm 1's relative-decrease rule stopped after 5 steps at an objective 29 % higher.
    """
    return "mm" if model.solver == "auto" else str(model.solver)


def resolve_acceleration(acceleration: str, solver: str) -> str:
    """``hq_acceleration`` with "auto" resolved: SQUAREM for "mm", Anderson for "hq-admm".

    MM stops on the KKT conditions, so either extrapolation ends at the same tolerance; SQUAREM evaluates one
    extrapolated point per two steps instead of one per step, and its fits were 5-22 % faster at every size of
    ``benchmarks/bench_afr_peers.py`` (n = 2000 to 100 000; 2026-12-01). Algorithm 1 stops on a slowing objective,
    which SQUAREM trips early on slowly converging problems: on six problems it stopped up to 1.0e-4 (relative)
    above the optimum, Anderson at most 7.9e-6 (afr.md (k), ``examples/afr_studies.py hq-stopping``).
    """
    if acceleration != "auto":
        return acceleration
    return (MajorizeMinimize if solver == "mm" else HQADMM).acceleration  # each solver object's own default


def make_solver(model: Any) -> HQADMM | MajorizeMinimize:
    """The solver object with this estimator's settings (None: the solver's default)."""
    solver = resolve_solver(model)
    settings = {k: v if getattr(model, k) is None else getattr(model, k)
                for k, v in _SOLVER_DEFAULTS[solver].items()}
    common = {"max_iter": int(settings["max_iter"]), "tol": float(settings["tol"]),
              "eta": float(settings["eta"]), "max_admm_iter": model.max_admm_iter,
              "admm_tol": float(settings["admm_tol"]), "accelerate": bool(model.accelerate),
              "acceleration": resolve_acceleration(model.hq_acceleration, solver), "linear_solver": model.linear_solver,
              "progress": bool(model.verbose), "working_set": bool(model.working_set)}
    if solver == "hq-admm":
        return HQADMM(**common)
    return MajorizeMinimize(**common)


class BinaryClassifier:
    """Mixed in before ``ClassifierMixin``: tells scikit-learn's checks the estimator is binary only."""

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags
