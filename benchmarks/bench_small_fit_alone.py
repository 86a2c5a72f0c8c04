"""Issue 14's small-size target (one fit no slower than LR on the spline basis), each method timed in a fresh process.

``bench_afr_peers.py`` times every method in one process, after the others. At n = 2000, p = 40 a fit takes
30-40 ms, and what ran before (other thread pools waking up, numba's compiled code, the allocator's state) moves
those medians by several ms: in that script LR took 36-37 ms, alone in a process 30-35 ms. Here each method runs
in its own fresh interpreter, which builds the same data as ``bench_afr_peers.py`` (``make_data``, seed 0, 20 %
flips), warms up with 3 fits and times ``--fits`` more; the rounds alternate the methods so that slow drifts of
the machine hit them alike. The ratio to LR is taken per round and summarised with a 95 % t interval over rounds.

Methods: LR = ``make_pipeline(SplineTransformer(n_knots=4, include_bias=False), LogisticRegression(max_iter=1000))``;
``mm`` = ``CorrentropySAM(solver="mm", lam=..., n_basis=5, calibration_cv=None, device="cpu")`` (validation,
basis, solver and the in-sample probability map, as in ``bench_afr_peers.py``).

``--parts`` instead times the parts of one ``mm`` fit at lam = 0.02 (in one fresh process): validation and
basis construction (``Problem.build``), the null model and lambda_max, the solver, the probability map, and the
rest, each wrapped with a timer for the run.

Run: python benchmarks/bench_small_fit_alone.py [--rounds 5] [--fits 21] [--quick] [--parts]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    configure_threads,
    emit,
    environment_header,
    fmt_interval,
    load_line,
    markdown_table,
    python_executable,
)

METHODS = {"LR": None, "mm, lam=0.02": 0.02, "mm, lam=5e-4": 5e-4}


def child(method: str, fits: int, threads: int) -> None:
    """Time ``fits`` fits of ``method`` in this (fresh) process and print the median in ms as JSON."""
    configure_threads(threads)
    from bench_afr_peers import make_data
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import SplineTransformer

    from hrr import CorrentropySAM

    X, y, _, _ = make_data(2000, 40, 20_000, 0.2, 0)  # bench_afr_peers.py's training rows (20000 test rows drawn too)
    lam = METHODS[method]
    if lam is None:
        def fit() -> object:
            return make_pipeline(SplineTransformer(n_knots=4, include_bias=False),
                                 LogisticRegression(max_iter=1000)).fit(X, y)
    else:
        def fit() -> object:
            return CorrentropySAM(solver="mm", lam=lam, n_basis=5, calibration_cv=None, device="cpu").fit(X, y)
    for _ in range(3):
        fit()
    times = []
    for _ in range(fits):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_ms": 1e3 * statistics.median(times)}))


def parts(fits: int, threads: int) -> None:
    """Time the parts of ``fits`` fits of ``mm`` at lam = 0.02 and print a table (run in a fresh process)."""
    import functools

    import numpy as np
    from bench_afr_peers import make_data

    import hrr.afr._estimator as estimator
    from hrr import CorrentropySAM
    from hrr.afr._mm import MajorizeMinimize
    from hrr.afr._problem import Problem

    configure_threads(threads)
    X, y, _, _ = make_data(2000, 40, 20_000, 0.2, 0)
    spent: dict[str, float] = {}

    def timed(owner: object, name: str, label: str) -> None:
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def wrapper(*a: object, **k: object) -> object:
            start = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

        setattr(owner, name, wrapper)  # Problem.build is called on the class: a plain function works there too

    timed(estimator, "validate_data", "validation")
    timed(Problem, "build", "problem: knots, spline values, covariance, transform, cached design")
    timed(Problem, "null_model", "null model and lambda_max")
    timed(MajorizeMinimize, "solve", "solver (mm)")
    timed(estimator, "fit_probability_map", "in-sample probability map")

    def fit() -> None:
        CorrentropySAM(solver="mm", lam=0.02, n_basis=5, calibration_cv=None, device="cpu").fit(X, y)

    for _ in range(3):
        fit()
    spent.clear()
    totals = []
    for _ in range(fits):
        start = time.perf_counter()
        fit()
        totals.append(time.perf_counter() - start)
    whole = 1e3 * float(np.mean(totals))
    rows = [[label, f"{1e3 * value / fits:.2f}"] for label, value in spent.items()]
    rows.append(["rest (estimator bookkeeping, attributes)", f"{whole - 1e3 * sum(spent.values()) / fits:.2f}"])
    rows.append(["whole fit (mean; median)", f"{whole:.2f}; {1e3 * statistics.median(totals):.2f}"])
    emit(markdown_table([f"part of a fit (mean ms over {fits} fits)", "ms"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per method")
    parser.add_argument("--fits", type=int, default=21, help="timed fits per process (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 fits")
    parser.add_argument("--parts", action="store_true", help="time the parts of one mm fit instead")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.fits, args.threads)
        return
    if args.parts:
        emit(environment_header("The parts of one small mm fit (n=2000, p=40, lam=0.02)", args))
        parts(args.fits, args.threads)
        return
    if args.quick:
        args.rounds, args.fits = 2, 5
    emit(environment_header("One small fit, each method alone in a fresh process (n=2000, p=40)", args))
    start = time.perf_counter()
    medians: dict[str, list[float]] = {m: [] for m in METHODS}
    for r in range(args.rounds):
        order = list(METHODS) if r % 2 == 0 else list(METHODS)[::-1]
        for method in order:
            out = subprocess.run([python_executable(), str(Path(__file__)), "--child", method, "--fits",
                                  str(args.fits), "--threads", str(args.threads)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"the {method!r} process failed:\n{out.stderr}")
            medians[method].append(json.loads(out.stdout.strip().splitlines()[-1])["median_ms"])
    rows = []
    for method, values in medians.items():
        ratios = [v / b for v, b in zip(values, medians["LR"], strict=True)]
        rows.append([method, ", ".join(f"{v:.1f}" for v in values), f"{statistics.median(values):.2f}",
                     "-" if method == "LR" else fmt_interval(ratios, 3)])
    emit(markdown_table(["method", f"median ms per process ({args.fits} fits each)", "median over processes",
                         "time / LR (mean, 95 % t interval over rounds)"], rows))
    emit()
    emit(f"Target: mm / LR <= 1 (no slower). {time.perf_counter() - start:.0f} s; {load_line()}")


if __name__ == "__main__":
    main()
