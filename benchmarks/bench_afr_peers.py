"""``CorrentropySAM`` against the peers a user would try first, on the same additive task, in one process.

Data: ``make_additive_classification`` (4 informative features among p), generated in one call of
n_train + n_test rows so train and test share the label threshold; the training labels have 20 % random
flips (``--flip``), the test labels are the clean ones (before flipping). X is standardised with a
``StandardScaler`` fitted on the training rows (untimed preprocessing, applied to both).

Methods (every time is a whole fit from the standardised X, median of --repeats):
* LR: ``make_pipeline(SplineTransformer(n_knots=4, include_bias=False), LogisticRegression(max_iter=1000))``.
  ``include_bias=False`` gives 5 splines per feature (cubic, 4 uniform knots), the same d as ``n_basis=5``
  (the default ``include_bias=True`` adds a sixth, redundant with the intercept). The spline transform is
  timed.
* skglm: the logistic group lasso on the same spline basis, ``make_pipeline(SplineTransformer(...),
  GeneralizedLinearEstimator(LogisticGroup(grp_ptr, grp_indices), WeightedGroupL2(alpha, ones(p), grp_ptr,
  grp_indices), GroupProxNewton(fit_intercept=True, tol=--skglm-tol)))`` with one group of d columns per
  feature. numba compilation is done once on a tiny fit before any timing and reported separately. alpha is
  the one whose number of selected groups is closest to CorrentropySAM's ("mm") at the same row's lam: a
  warm-started grid of --alpha-grid values from alpha_max (no group) down to 1e-3 alpha_max, stopped at the
  first alpha that selects at least as many groups as ours, then up to --alpha-refine geometric bisection steps
  between the two alphas that bracket the target count (ties: the largest alpha). The search is not timed; the
  chosen alpha and its count are printed.
* ours: ``CorrentropySAM(solver=..., lam=..., calibration_cv=None, device="cpu")`` with the chosen solver's
  default stopping settings ("mm": KKT violation <= 1e-6; "hq-admm": relative objective decrease <= 1e-5),
  whole fit (validation, spline basis, design, solver, in-sample probability map). ``calibration_cv=None``
  makes it one fit (the default, 5, adds 5 cross-fitted fits for the probability map).

Solver agreement: per row, "mm" with tol=1e-8 and "hq-admm" with tol=1e-10, admm_tol=1e-10, max_iter=500 are
fitted once more and both final objectives are re-scored with ``closs_objective`` (Eq. 9 in float64, the
library's own value is not used); the issue requires a relative difference <= 1e-6.

Path: ``correntropy_sam_path(X, y, n_lams=20, eps=1e-2, solver="mm", device="cpu")`` (the basis is built
once, warm starts along the grid) against ONE cold ``CorrentropySAM`` fit at the smallest lambda of that
grid; target: path time <= 3x the cold fit. The path's last objective is re-scored against the cold fit's.
The path is timed through ``hrr.afr._path.path_results``, the routine ``correntropy_sam_path`` runs (without its
final conversion of the 20 results to numpy arrays), so the step counts of the timed runs can be printed.
A second path row stops every lambda but the last at KKT 1e-4 (``hrr.afr._path.SCREENING_TOL``, what
``CorrentropySAMCV``'s fold paths do), and the MM steps per lambda of both are printed.

Targets: small (n=2000, p=40): one fit no slower than LR on the spline basis and <= 1.5x skglm; medium
(n=100000, p=64; also n=20000, p=100): no slower than skglm; path <= 3x one cold fit.

Run: python benchmarks/bench_afr_peers.py [--quick] [--sizes small:2000x40 medium:100000x64 medium-extra:20000x100]
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import torch
from _common import (
    ContentionMeter,
    additive_f,
    closs_objective,
    configure_threads,
    emit,
    environment_header,
    fit_recording_warnings,
    fmt_float,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    measure,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler

from hrr import CorrentropySAM
from hrr.afr._path import SCREENING_TOL, path_results
from hrr.datasets import make_additive_classification

SOLVERS = ("mm", "hq-admm")
TIGHT = {"mm": dict(tol=1e-8), "hq-admm": dict(tol=1e-10, admm_tol=1e-10, max_iter=500)}
AGREEMENT_TARGET = 1e-6
SMALL_LR_TARGET, SMALL_SKGLM_TARGET, MEDIUM_SKGLM_TARGET, PATH_TARGET = 1.0, 1.5, 1.0, 3.0


def parse_size(text: str) -> tuple[str, int, int]:
    try:
        name, shape = text.split(":")
        n, p = (int(v) for v in shape.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must read NAME:NxP (e.g. small:2000x40); got {text!r}") from exc
    return name, n, p


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        type=parse_size,
        nargs="+",
        default=[("small", 2_000, 40), ("medium", 100_000, 64), ("medium-extra", 20_000, 100)],
        help="NAME:NxP training sizes; names starting with 'small' get the small targets, the others the medium one",
    )
    parser.add_argument("--n-test", type=int, default=20_000, help="clean test rows")
    parser.add_argument("--n-basis", type=int, default=5, help="d: CorrentropySAM n_basis")
    parser.add_argument("--n-knots", type=int, default=4, help="SplineTransformer knots of the peers")
    parser.add_argument("--lams", type=float, nargs="+", default=[0.02], help="lam of ours at every size")
    parser.add_argument(
        "--small-lams", type=float, nargs="+", default=[0.02, 5e-4], help="lam of ours at the 'small*' sizes"
    )
    parser.add_argument("--flip", type=float, default=0.2, help="fraction of flipped training labels")
    parser.add_argument("--skglm-tol", type=float, default=1e-6, help="GroupProxNewton tol (KKT, like mm's tol)")
    parser.add_argument("--alpha-grid", type=int, default=15, help="skglm alphas tried to match ours' selection")
    parser.add_argument("--alpha-refine", type=int, default=6, help="bisection steps after the alpha grid")
    parser.add_argument("--n-lams", type=int, default=20, help="path length")
    parser.add_argument("--path-eps", type=float, default=1e-2, help="path: lambda_min / lambda_max")
    parser.add_argument("--path-sizes", nargs="*", default=None, help="size names that get a path row (default: all)")
    parser.add_argument("--no-agreement", action="store_true", help="skip the tight mm vs hq-admm fits")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per method (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="small:2000x40 and medium:5000x64, 5000 test rows, 1 repeat"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes = [("small", 2_000, 40), ("medium", 5_000, 64)]
        args.n_test, args.repeats, args.alpha_grid, args.alpha_refine = 5_000, 1, 10, 3
    return args


# ------------------------------------------------------------------------------------------------- helpers
def make_data(n: int, p: int, n_test: int, flip: float, seed: int):
    """Standardised train (flipped labels) and test (clean labels) from one generator call."""
    X, y, y_clean = make_additive_classification(n + n_test, p, flip=flip, random_state=seed, return_clean=True)
    scaler = StandardScaler().fit(X[:n])
    return scaler.transform(X[:n]), y[:n], scaler.transform(X[n:]), y_clean[n:]


def splines(args: argparse.Namespace) -> SplineTransformer:
    return SplineTransformer(n_knots=args.n_knots, include_bias=False)


def skglm_estimator(alpha: float, n_features: int, d: int, tol: float, warm_start: bool = False):
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import LogisticGroup
    from skglm.penalties import WeightedGroupL2
    from skglm.solvers import GroupProxNewton
    from skglm.utils.data import grp_converter

    grp_indices, grp_ptr = grp_converter(d, n_features * d)
    return GeneralizedLinearEstimator(
        datafit=LogisticGroup(grp_ptr=grp_ptr, grp_indices=grp_indices),
        penalty=WeightedGroupL2(alpha, np.ones(n_features), grp_ptr, grp_indices),
        solver=GroupProxNewton(fit_intercept=True, tol=tol, warm_start=warm_start),
    )


def skglm_groups(glm, d: int) -> int:
    coef = np.asarray(glm.coef_).reshape(-1, d)
    return int(np.any(coef != 0, axis=1).sum())


def skglm_alpha_max(phi: np.ndarray, y01: np.ndarray, d: int) -> float:
    """Smallest alpha with no group: max_g ||Phi_g^T (mean(y) - y)|| / n at the optimal intercept alone."""
    grad = phi.T @ (y01.mean() - y01) / len(y01)
    return float(np.linalg.norm(grad.reshape(-1, d), axis=1).max())


def match_alpha(phi: np.ndarray, y01: np.ndarray, target: int, args: argparse.Namespace) -> dict:
    """The skglm alpha whose selected-group count is closest to ``target`` (ties: the largest alpha)."""
    d, n_features = args.n_basis, phi.shape[1] // args.n_basis
    start = time.perf_counter()
    alpha_max = skglm_alpha_max(phi, y01, d)
    tried: dict[float, int] = {}
    glm = skglm_estimator(alpha_max, n_features, d, args.skglm_tol, warm_start=True)
    for alpha in alpha_max * np.geomspace(1.0, 1e-3, args.alpha_grid):  # descending: warm starts
        glm.penalty.alpha = float(alpha)
        glm.fit(phi, y01)
        tried[float(alpha)] = skglm_groups(glm, d)
        if tried[float(alpha)] >= target:  # bracketed: smaller alphas only select more (and cost more)
            break
    for _ in range(args.alpha_refine):
        above = [a for a, c in tried.items() if c < target]  # larger alphas, too few groups
        below = [a for a, c in tried.items() if c > target]
        if target in tried.values() or not above or not below:
            break
        alpha = float(np.sqrt(min(above) * max(below)))
        tried[alpha] = skglm_groups(skglm_estimator(alpha, n_features, d, args.skglm_tol).fit(phi, y01), d)
    best = min(tried, key=lambda a: (abs(tried[a] - target), -a))
    return dict(
        alpha=best, groups=tried[best], alpha_max=alpha_max, n_fits=len(tried), seconds=time.perf_counter() - start
    )


def rescored(model: CorrentropySAM, X: np.ndarray, y: np.ndarray, coef=None, intercept=None) -> float:
    """Eq. (9) of (coef, intercept) (default: the model's) on the model's basis, by ``closs_objective``."""
    if coef is not None:
        model = copy.copy(model)
        model.coef_, model.intercept_ = np.asarray(coef), float(intercept)
    return closs_objective(additive_f(model, X), 2.0 * y - 1.0, model.coef_, model.lam, model.sigma)


def solver_settings(solver: str) -> str:
    """The resolved default stopping settings of a solver, as the estimator builds them."""
    try:
        s = CorrentropySAM(solver=solver)._make_solver()
        return f"max_iter={s.max_iter}, tol={s.tol:g}, eta={s.eta:g}, admm_tol={s.admm_tol:g}"
    except AttributeError:
        return "library defaults"


def warm_up(args: argparse.Namespace) -> list[list]:
    """Tiny fits of every method before any timing: torch kernels, numba compilation of skglm, sklearn."""
    Xw, yw = make_additive_classification(300, 8, flip=args.flip, random_state=args.seed + 1)
    rows = []
    t0 = time.perf_counter()
    phi = splines(args).fit_transform(Xw)
    skglm_estimator(1e-2, 8, phi.shape[1] // 8, args.skglm_tol).fit(phi, yw)
    rows.append(["skglm GroupProxNewton (numba compilation)", fmt_seconds(time.perf_counter() - t0)])
    for solver in SOLVERS:
        t0 = time.perf_counter()
        fit_recording_warnings(CorrentropySAM(solver=solver, lam=0.02, calibration_cv=None, device="cpu"), Xw, yw)
        rows.append([f"CorrentropySAM solver={solver!r}", fmt_seconds(time.perf_counter() - t0)])
    t0 = time.perf_counter()
    make_pipeline(splines(args), LogisticRegression(max_iter=1000)).fit(Xw, yw)
    rows.append(["SplineTransformer + LogisticRegression", fmt_seconds(time.perf_counter() - t0)])
    return rows


# ------------------------------------------------------------------------------------------------ one size
def run_size(args: argparse.Namespace, name: str, n: int, p: int) -> dict:
    d = args.n_basis
    small = name.startswith("small")
    lams = args.small_lams if small else args.lams
    Xtr, ytr, Xte, yte = make_data(n, p, args.n_test, args.flip, args.seed)
    emit(f"### {name}: n={n}, p={p}, d={d} (dp={p * d}), test rows={args.n_test}, flip={args.flip}\n")

    # LR on the spline basis (dense, no selection)
    t_lr, lr = measure(
        lambda: make_pipeline(splines(args), LogisticRegression(max_iter=1000)).fit(Xtr, ytr), args.repeats
    )
    lr_acc = float((lr.predict(Xte) == yte).mean())
    phi_tr = splines(args).fit_transform(Xtr)  # for the alpha search and the solve-only timing
    per_feature = phi_tr.shape[1] // p

    rows = [
        [
            "LR: SplineTransformer + LogisticRegression",
            "C=1 (L2)",
            fmt_seconds(t_lr.median),
            t_lr.spread(),
            f"{lr_acc:.4f}",
            p,
            "1.00x",
            "-",
            f"lbfgs {int(np.max(lr[-1].n_iter_))} iters",
        ]
    ]
    fits, summary = [], dict(name=name, small=small, n=n, p=p, rows=[], agreement=[], path=None)
    for lam in lams:
        ours = {}
        for solver in SOLVERS:
            params = dict(solver=solver, lam=lam, n_basis=d, calibration_cv=None, device="cpu")
            timing, (model, caught) = measure(
                lambda: fit_recording_warnings(CorrentropySAM(**params), Xtr, ytr), args.repeats
            )
            ours[solver] = (timing, model, caught)
        target = len(ours["mm"][1].selected_features_)
        match = match_alpha(phi_tr, ytr, target, args)
        t_sk, sk = measure(
            lambda: make_pipeline(splines(args), skglm_estimator(match["alpha"], p, per_feature, args.skglm_tol)).fit(
                Xtr, ytr
            ),
            args.repeats,
        )
        t_sk_solve, _ = measure(
            lambda: skglm_estimator(match["alpha"], p, per_feature, args.skglm_tol).fit(phi_tr, ytr), args.repeats
        )
        glm = sk[-1]
        sk_acc = float((sk.predict(Xte) == yte).mean())
        rows.append(
            [
                f"skglm group lasso (matched to lam={lam:g})",
                f"alpha={match['alpha']:.4g} ({match['alpha'] / match['alpha_max']:.3g} alpha_max)",
                fmt_seconds(t_sk.median),
                t_sk.spread(),
                f"{sk_acc:.4f}",
                skglm_groups(glm, per_feature),
                fmt_ratio(t_sk.median / t_lr.median),
                "1.00x",
                f"{glm.n_iter_} outer, KKT {float(glm.stop_crit_):.1e}; solve only {fmt_seconds(t_sk_solve.median)}",
            ]
        )
        for solver in SOLVERS:
            timing, model, caught = ours[solver]
            acc = float((model.predict(Xte) == yte).mean())
            r_lr, r_sk = timing.median / t_lr.median, timing.median / t_sk.median
            rows.append(
                [
                    f"ours: CorrentropySAM solver={solver!r}",
                    f"lam={lam:g}",
                    fmt_seconds(timing.median),
                    timing.spread(),
                    f"{acc:.4f}",
                    len(model.selected_features_),
                    fmt_ratio(r_lr),
                    fmt_ratio(r_sk),
                    f"{model.n_iter_} outer / {model.n_admm_iter_} ADMM" + (f"; {', '.join(caught)}" if caught else ""),
                ]
            )
            summary["rows"].append(dict(lam=lam, solver=solver, r_lr=r_lr, r_sk=r_sk))
            fits.append((lam, solver, model))
        summary.setdefault("matches", []).append((lam, match, target))

    emit(
        markdown_table(
            [
                "method",
                "lam / alpha",
                "fit time (median)",
                "spread",
                "test accuracy (clean)",
                "selected features",
                "time / LR",
                "time / skglm",
                "notes",
            ],
            rows,
        )
    )
    emit()
    emit(
        f"Peers use SplineTransformer(n_knots={args.n_knots}, include_bias=False): {per_feature} columns per "
        f"feature. lambda_max_ (ours, exact) = {fits[0][2].lambda_max_:.4g}."
    )
    for lam, match, target in summary["matches"]:
        emit(
            f"- lam={lam:g}: ours ('mm') selects {target} features; skglm alpha={match['alpha']:.4g} selects "
            f"{match['groups']} groups (alpha_max={match['alpha_max']:.4g}; {match['n_fits']} untimed search fits "
            f"in {fmt_seconds(match['seconds'])})."
        )
    emit()

    # Solver agreement: default-stopping fits (the timed ones) and tight fits, all re-scored.
    rows = []
    for lam in lams:
        default = {s: m for lam_, s, m in fits if lam_ == lam}
        obj = {s: rescored(m, Xtr, ytr) for s, m in default.items()}
        rel = (obj["hq-admm"] - obj["mm"]) / abs(obj["mm"])
        rows.append(
            [
                lam,
                "library defaults (timed fits above)",
                fmt_float(obj["mm"], 12),
                fmt_float(obj["hq-admm"], 12),
                f"{rel:+.2e}",
                "info",
                "-",
            ]
        )
        if args.no_agreement:
            continue
        tight, seconds, notes = {}, {}, []
        for solver in SOLVERS:
            t0 = time.perf_counter()
            model, caught = fit_recording_warnings(
                CorrentropySAM(solver=solver, lam=lam, n_basis=d, calibration_cv=None, device="cpu", **TIGHT[solver]),
                Xtr,
                ytr,
            )
            seconds[solver] = time.perf_counter() - t0
            tight[solver] = rescored(model, Xtr, ytr)
            notes.append(
                f"{solver}: {model.n_iter_} outer, {fmt_seconds(seconds[solver])}"
                + (f", {', '.join(caught)}" if caught else "")
            )
        rel = (tight["hq-admm"] - tight["mm"]) / abs(tight["mm"])
        ok = abs(rel) <= AGREEMENT_TARGET
        summary["agreement"].append(dict(lam=lam, rel=rel, ok=ok))
        rows.append(
            [
                lam,
                "mm tol=1e-8; hq-admm tol=1e-10, admm_tol=1e-10, max_iter=500",
                fmt_float(tight["mm"], 12),
                fmt_float(tight["hq-admm"], 12),
                f"{rel:+.2e}",
                f"|rel| <= {AGREEMENT_TARGET:g}: {'MET' if ok else 'NOT MET'}",
                "; ".join(notes),
            ]
        )
    emit("Final objectives of Eq. (9) on the training rows, re-scored with `closs_objective`:\n")
    emit(
        markdown_table(
            ["lam", "stopping", "mm objective", "hq-admm objective", "(hq - mm) / |mm|", "target", "notes"], rows
        )
    )
    emit()

    # Path vs one cold fit at the smallest lambda of its grid.
    if args.path_sizes is None or name in args.path_sizes:
        path_kw = dict(n_lams=args.n_lams, eps=args.path_eps, solver="mm", n_basis=d, device="cpu")
        t_path, (lams_path, exact_steps) = measure(lambda: path_results(Xtr, ytr, **path_kw), args.repeats)
        lam_min = float(lams_path[-1])
        t_cold, (cold, caught) = measure(
            lambda: fit_recording_warnings(
                CorrentropySAM(solver="mm", lam=lam_min, n_basis=d, calibration_cv=None, device="cpu"), Xtr, ytr
            ),
            args.repeats,
        )
        obj_cold = rescored(cold, Xtr, ytr)
        obj_path = rescored(cold, Xtr, ytr, exact_steps[-1].coef.numpy(), exact_steps[-1].intercept)
        ratio = t_path.median / t_cold.median
        summary["path"] = dict(ratio=ratio)
        t_screened, (_, screened) = measure(
            lambda: path_results(Xtr, ytr, screening=True, **path_kw), args.repeats
        )
        obj_screened = rescored(cold, Xtr, ytr, screened[-1].coef.numpy(), screened[-1].intercept)
        emit(
            f"Path: `correntropy_sam_path(n_lams={args.n_lams}, eps={args.path_eps:g}, solver='mm')`, lambda from "
            f"{lams_path[0]:.4g} (lambda_max) to {lam_min:.4g}, vs one cold fit at {lam_min:.4g}:\n"
        )
        emit(
            markdown_table(
                ["run", "time (median)", "spread", "ratio", "selected at lambda_min", "objective at lambda_min"],
                [
                    [
                        f"cold CorrentropySAM(lam={lam_min:.4g}) (baseline)",
                        fmt_seconds(t_cold.median),
                        t_cold.spread(),
                        "1.00x",
                        len(cold.selected_features_),
                        fmt_float(obj_cold, 12) + (f" ({', '.join(caught)})" if caught else ""),
                    ],
                    [
                        f"path, {args.n_lams} lambdas, warm starts",
                        fmt_seconds(t_path.median),
                        t_path.spread(),
                        fmt_ratio(ratio),
                        int(torch.any(exact_steps[-1].coef != 0, dim=1).sum()),
                        fmt_float(obj_path, 12) + f" (vs cold {(obj_path - obj_cold) / abs(obj_cold):+.1e})",
                    ],
                    [
                        f"path, intermediate lambdas to KKT {SCREENING_TOL:g} (CorrentropySAMCV's folds)",
                        fmt_seconds(t_screened.median),
                        t_screened.spread(),
                        fmt_ratio(t_screened.median / t_cold.median),
                        int(torch.any(screened[-1].coef != 0, dim=1).sum()),
                        fmt_float(obj_screened, 12) + f" (vs cold {(obj_screened - obj_cold) / abs(obj_cold):+.1e})",
                    ],
                ],
            )
        )
        emit()
        emit(
            f"MM steps per lambda (largest first): exact path {[r.n_iter for r in exact_steps]} "
            f"(sum {sum(r.n_iter for r in exact_steps)}); screened {[r.n_iter for r in screened]} "
            f"(sum {sum(r.n_iter for r in screened)}); the cold fit took {cold.n_iter_}.\n"
        )
    return summary


def main() -> None:
    args = parse_args()
    configure_threads(args.threads)
    meter = ContentionMeter()
    warnings.simplefilter("ignore", ConvergenceWarning)
    emit(
        environment_header(
            "bench_afr_peers: CorrentropySAM vs spline LogisticRegression and skglm",
            args,
            extra_packages=("skglm", "numba"),
        )
    )
    emit("Ours at the library defaults: " + "; ".join(f"{s}: {solver_settings(s)}" for s in SOLVERS) + ".\n")
    emit("### Warm-up (tiny fits before any timing; excluded from the tables)\n")
    emit(markdown_table(["warm-up", "time"], warm_up(args)))
    emit()
    summaries = [run_size(args, name, n, p) for name, n, p in args.sizes]

    rows = []
    for s in summaries:
        size = f"{s['name']} (n={s['n']}, p={s['p']})"
        for r in s["rows"]:
            label = f"one fit, {r['solver']}, lam={r['lam']:g}"
            if s["small"]:
                checks = [
                    (f"{label}: time / LR <= {SMALL_LR_TARGET:g}", r["r_lr"], SMALL_LR_TARGET),
                    (f"{label}: time / skglm <= {SMALL_SKGLM_TARGET:g}", r["r_sk"], SMALL_SKGLM_TARGET),
                ]
            else:
                checks = [(f"{label}: time / skglm <= {MEDIUM_SKGLM_TARGET:g}", r["r_sk"], MEDIUM_SKGLM_TARGET)]
            for text, value, bound in checks:
                rows.append([size, text, fmt_ratio(value), "MET" if value <= bound else "NOT MET"])
        if s["path"] is not None:
            value = s["path"]["ratio"]
            rows.append(
                [
                    size,
                    f"path / one cold fit <= {PATH_TARGET:g}",
                    fmt_ratio(value),
                    "MET" if value <= PATH_TARGET else "NOT MET",
                ]
            )
        for a in s["agreement"]:
            rows.append(
                [
                    size,
                    f"mm vs hq-admm objective, lam={a['lam']:g}: |rel| <= {AGREEMENT_TARGET:g}",
                    f"{a['rel']:+.1e}",
                    "MET" if a["ok"] else "NOT MET",
                ]
            )
    emit("### Targets\n")
    emit(markdown_table(["size", "target", "measured", "verdict"], rows))
    emit()
    emit(meter.report())


if __name__ == "__main__":
    main()
