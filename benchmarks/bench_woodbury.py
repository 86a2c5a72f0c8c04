"""Wide problems (n < dp): ``linear_solver="woodbury"`` vs ``linear_solver="dense"`` in ``CorrentropySAM``.

Default instance: n=500, p=1000, n_basis=5, so dp = 5000 > n. The dense path forms the 5000 x 5000 weighted
Gram H every HQ step and factors H + eta I (O(n m^2 + m^3)); the Woodbury path works with
B = sqrt(2/n) W^{1/2} Phi_c (n x m) and factors the 500 x 500 matrix eta I + B B^T (O(n^2 m + n^3)).
Both fits use identical parameters and data, so they minimise the same objective and (up to ADMM tolerance
and round-off) follow the same iterates; the script reports the objective and coefficient differences.
The comparison is made for both solvers of the library (``--solvers``), each with its stopping settings written
out rather than left at None: ``"mm"`` (the default; KKT violation <= 1e-6, max_iter 1000, eta 1, admm_tol 1e-9;
its curvature system is formed and factored once per fit) and ``"hq-admm"`` (Algorithm 1: relative objective
decrease <= 1e-5, max_iter 100, eta 0.1, admm_tol 1e-6; one weighted system per HQ step). Every fit is one fit
(``calibration_cv=None``).

Part 2 times the linear-algebra components at the final HQ weights of the "hq-admm" Woodbury fit (the "mm"
system has the same shape, with constant weights), with the library's
``DenseSystem`` / ``WoodburySystem`` classes on H = B^T B and B = sqrt(2/n) W^{1/2} Phi_c formed here in torch
from ``basis_expansion(X)`` (the same formulas as the library's system construction): forming H or B, one
factorisation (eta = 0.1), one solve and one matvec with H -- the per-HQ-step and per-ADMM-iteration costs
behind the whole-fit ratio.

Run: python benchmarks/bench_woodbury.py [--quick] [--n 500 --p 1000 --n-basis 5]
"""

from __future__ import annotations

import argparse
import itertools
import warnings

import numpy as np
import torch
from _common import (
    ContentionMeter,
    additive_f,
    configure_threads,
    emit,
    environment_header,
    fmt_float,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    measure,
)
from sklearn.exceptions import ConvergenceWarning

from hrr import CorrentropySAM
from hrr.afr._admm import DenseSystem, WoodburySystem
from hrr.datasets import make_additive_classification


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--p", type=int, default=1000)
    parser.add_argument("--n-basis", type=int, default=5)
    parser.add_argument("--lam", type=float, default=5e-4)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--flip", type=float, default=0.2)
    parser.add_argument(
        "--solvers", nargs="+", choices=("mm", "hq-admm"), default=["mm", "hq-admm"], help="library solvers compared"
    )
    parser.add_argument("--max-iter", type=int, default=100, help="solver='hq-admm': HQ steps at most")
    parser.add_argument("--tol", type=float, default=1e-5, help="solver='hq-admm': relative-decrease tolerance")
    parser.add_argument("--eta", type=float, default=0.1, help="solver='hq-admm': initial ADMM penalty")
    parser.add_argument("--admm-tol", type=float, default=1e-6, help="solver='hq-admm': epsilon of Eq. (22)")
    parser.add_argument("--mm-max-iter", type=int, default=1000, help="solver='mm': outer steps at most")
    parser.add_argument("--mm-tol", type=float, default=1e-6, help="solver='mm': KKT-violation tolerance")
    parser.add_argument("--mm-eta", type=float, default=1.0, help="solver='mm': initial ADMM penalty")
    parser.add_argument("--mm-admm-tol", type=float, default=1e-9, help="solver='mm': floor of the inner tolerance")
    parser.add_argument("--max-admm-iter", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per solver (median)")
    parser.add_argument("--solve-repeats", type=int, default=30, help="timed solves / matvecs in part 2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="n=300, p=400 (dp=2000), 2 repeats (< 60 s)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.p, args.repeats, args.solve_repeats = 300, 400, 2, 10
    return args


def main() -> None:
    args = parse_args()
    configure_threads(args.threads)
    meter = ContentionMeter()
    warnings.simplefilter("ignore", ConvergenceWarning)
    # n < dp: the fits separate the training data, and with calibration_cv=None (one fit, no cross-fitting) the
    # library warns that in-sample probabilities are overconfident; predict_proba is not used here.
    warnings.filterwarnings("ignore", message="the training data are separable", category=UserWarning)
    emit(environment_header("bench_woodbury: linear_solver='woodbury' vs 'dense' (n < dp)", args))
    n, p, d = args.n, args.p, args.n_basis
    m = p * d
    X, y = make_additive_classification(n, p, flip=args.flip, random_state=args.seed)
    common = dict(
        n_basis=d,
        lam=args.lam,
        sigma=args.sigma,
        max_admm_iter=args.max_admm_iter,
        calibration_cv=None,
        device="cpu",
        dtype="float64",
    )
    stopping = {
        "hq-admm": dict(max_iter=args.max_iter, tol=args.tol, eta=args.eta, admm_tol=args.admm_tol),
        "mm": dict(max_iter=args.mm_max_iter, tol=args.mm_tol, eta=args.mm_eta, admm_tol=args.mm_admm_tol),
    }

    def params(solver: str, linear_solver: str) -> dict:
        return dict(common, solver=solver, linear_solver=linear_solver, **stopping[solver])

    # Warm up LAPACK/BLAS code paths on a tiny problem so neither side pays one-off initialisation.
    Xw, yw = make_additive_classification(60, 20, random_state=1)
    for solver in args.solvers:
        for linear_solver in ("woodbury", "dense"):
            CorrentropySAM(**params(solver, linear_solver)).fit(Xw, yw)

    emit(f"### Whole fit: n={n}, p={p}, d={d} (dp={m}), lam={args.lam}, sigma={args.sigma}\n")
    rows, agreement, fits, ratios = [], [], {}, {}
    for solver in args.solvers:
        t_wood, wood = measure(lambda: CorrentropySAM(**params(solver, "woodbury")).fit(X, y), args.repeats)
        t_dense, dense = measure(lambda: CorrentropySAM(**params(solver, "dense")).fit(X, y), args.repeats)
        fits[solver] = wood
        ratios[solver] = t_dense.median / t_wood.median
        for label, timing, model, ratio in (
            ("dense (baseline)", t_dense, dense, "1.00x"),
            ("woodbury", t_wood, wood, fmt_ratio(ratios[solver])),
        ):
            rows.append(
                [
                    solver,
                    label,
                    fmt_seconds(timing.median),
                    ratio,
                    model.n_iter_,
                    model.n_admm_iter_,
                    fmt_float(float(model.objective_path_[-1]), 12),
                    len(model.selected_features_),
                    timing.spread(),
                ]
            )
        coef_diff = float(np.abs(wood.coef_ - dense.coef_).max())
        coef_rel = coef_diff / max(float(np.abs(dense.coef_).max()), 1e-300)
        obj_w, obj_d = float(wood.objective_path_[-1]), float(dense.objective_path_[-1])
        dec_diff = float(np.abs(additive_f(wood, X) - additive_f(dense, X)).max())
        same_support = np.array_equal(wood.selected_features_, dense.selected_features_)
        agreement.append(
            f"- {solver} ({', '.join(f'{k}={v:g}' for k, v in stopping[solver].items())}): "
            f"|objective diff| = {abs(obj_w - obj_d):.2e} (relative {abs(obj_w - obj_d) / abs(obj_d):.2e}); "
            f"max |coef diff| = {coef_diff:.2e} (relative to max |coef| {coef_rel:.2e}); "
            f"max |decision diff| on X = {dec_diff:.2e}; same selected features: {same_support}."
        )
    emit(
        markdown_table(
            [
                "solver",
                "linear_solver",
                "fit time",
                "speed-up vs dense",
                "outer iters",
                "ADMM iters",
                "objective",
                "selected",
                "spread",
            ],
            rows,
        )
    )
    emit()
    emit("Agreement of woodbury with dense:")
    emit("\n".join(agreement))
    target = 50.0
    for solver, ratio in ratios.items():
        emit(f"Target >= {target:.0f}x, {solver}: {'MET' if ratio >= target else 'NOT MET'} ({fmt_ratio(ratio)}).")
    emit()

    # Part 2: components at the final HQ weights of the Woodbury fit, with the library's system classes.
    dtype = torch.float64
    phi = torch.from_numpy(wood.basis_expansion(X))
    wood = fits.get("hq-admm", next(iter(fits.values())))  # HQ weights at this fit's solution
    y_t = torch.from_numpy(2.0 * y - 1.0)
    w = torch.exp(-((y_t - torch.from_numpy(additive_f(wood, X))) ** 2) / args.sigma**2)

    def centred_scaled() -> torch.Tensor:  # B = sqrt(2/n) W^{1/2} Phi_c
        phi_c = phi - (w @ phi) / w.sum()
        return phi_c * torch.sqrt(w * (2.0 / n))[:, None]

    def build_dense() -> DenseSystem:  # H = B^T B = (2/n) Phi_c^T W Phi_c
        b = centred_scaled()
        return DenseSystem(b.T @ b)

    def build_woodbury() -> WoodburySystem:
        return WoodburySystem(centred_scaled())

    rows = []
    timings = {}
    for solver, build in (("dense", build_dense), ("woodbury", build_woodbury)):
        t_build, system = measure(build, max(1, args.repeats), warmup=1)
        # factor() keeps its factor while eta is unchanged (the MM solver's fixed system relies on it), so every
        # timed call gets a new eta, 0.1 up to round-off: a full factorisation each time, not a cache hit.
        calls = itertools.count(1)
        t_factor, _ = measure(lambda: system.factor(0.1 * (1.0 + 1e-12 * next(calls))), max(1, args.repeats), warmup=1)
        system.factor(0.1)
        v = torch.randn(m, dtype=dtype, generator=torch.Generator().manual_seed(0))
        t_solve, _ = measure(lambda: system.solve(v), args.solve_repeats, warmup=2)
        t_matvec, _ = measure(lambda: system.matvec(v), args.solve_repeats, warmup=2)
        timings[solver] = (t_build.median, t_factor.median, t_solve.median, t_matvec.median)
    for i, label in enumerate(
        [
            "form H (dense) or B (woodbury) from Phi, w (per HQ step)",
            "factor(eta) (per HQ step / eta change)",
            "solve (per ADMM iteration)",
            "matvec with H (objective/KKT)",
        ]
    ):
        td, tw = timings["dense"][i], timings["woodbury"][i]
        rows.append([label, fmt_seconds(td), fmt_seconds(tw), fmt_ratio(td / tw)])
    emit("### Components at the fitted HQ weights (median)\n")
    emit(markdown_table(["component", "dense (baseline)", "woodbury", "speed-up"], rows))
    emit()
    emit(meter.report())


if __name__ == "__main__":
    main()
