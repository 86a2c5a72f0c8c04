"""Peak memory of ``CorrentropySAM(...).fit(X, y)`` on a tall problem whose dense design would not fit the budget.

Default instance: n = 1 000 000, p = 64, n_basis = 5 (m = 320). X itself is 512 MB (float64); a dense Phi would
be n * m * 8 = 2.56 GB. The library never materialises Phi above its cache limit: the spline basis and the
weighted moments are accumulated in row chunks. Target: the fit adds < 1.5 GB on top of X.

Method: the parent process generates the data and writes it to a temporary .npy pair; a fresh child process
imports torch/hrr, loads X and y (this RSS is the "baseline"), resets the kernel's peak-RSS mark
(``/proc/self/clear_refs`` = 5, Linux >= 4.0), then fits while a thread samples RSS every --sample-ms. It
reports
* fit peak over baseline: VmHWM after the fit (peak since the reset) - baseline, and the sampled max - baseline;
* total peak of the child process: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (lifetime, imports and
  loading included) and VmHWM;
* fit wall time, outer / ADMM iterations (``--max-iter`` caps the outer iterations to keep the run short).
Each fit is one fit (``calibration_cv=None``) of each solver in ``--solvers``: ``"mm"`` (the default solver;
``--runs`` children) and ``"hq-admm"`` (Algorithm 1; ``--hq-admm-runs`` children, 1 by default since its 5 HQ
steps at full size take minutes); the target is judged per solver, on its worst run.
Generating the data in its own process keeps the generator's temporaries (about 3 x 512 MB) out of the child's
peak, also out of ru_maxrss, which on Linux a child inherits from its parent across fork/exec.

Run: python benchmarks/bench_memory.py [--quick] [--n 1000000 --p 64 --n-basis 5 --max-iter 5] [--solvers mm hq-admm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

GiB = 2**30
MiB = 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=64)
    parser.add_argument("--n-basis", type=int, default=5)
    parser.add_argument("--lam", type=float, default=5e-4)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--flip", type=float, default=0.2)
    parser.add_argument("--max-iter", type=int, default=5, help="outer (MM / HQ) iterations cap (reported)")
    parser.add_argument(
        "--solvers", nargs="+", choices=("mm", "hq-admm"), default=["mm", "hq-admm"], help="solvers measured"
    )
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--chunk-size", type=int, default=0, help="rows per chunk (0 = library default)")
    parser.add_argument("--sample-ms", type=float, default=5.0, help="RSS sampling interval of the child")
    parser.add_argument("--target-gb", type=float, default=1.5, help="budget for the fit, in GB (1e9 bytes)")
    parser.add_argument(
        "--runs", type=int, default=3, help="fresh child processes for solver='mm' (peak RSS varies run to run)"
    )
    parser.add_argument("--hq-admm-runs", type=int, default=1, help="fresh child processes for solver='hq-admm'")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="n=100000, 2 runs (< 60 s)")
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--generate", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--solver", default="mm", help=argparse.SUPPRESS)  # the child's solver
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.runs = 100_000, 2
    return args


# ------------------------------------------------------------------------------------------------ child side
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def child(args: argparse.Namespace) -> None:
    import resource
    import warnings

    import psutil

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import configure_threads
    from sklearn.exceptions import ConvergenceWarning

    from hrr import CorrentropySAM

    configure_threads(args.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)
    proc = psutil.Process()
    rss_imports = proc.memory_info().rss
    X = np.load(os.path.join(args.child, "X.npy"))
    y = np.load(os.path.join(args.child, "y.npy"))
    rss_base = proc.memory_info().rss
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False

    peak = [rss_base]
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            rss = proc.memory_info().rss
            if rss > peak[0]:
                peak[0] = rss
            time.sleep(args.sample_ms / 1e3)

    thread = threading.Thread(target=sampler, daemon=True)
    model = CorrentropySAM(
        solver=args.solver,
        n_basis=args.n_basis,
        lam=args.lam,
        sigma=args.sigma,
        max_iter=args.max_iter,
        calibration_cv=None,  # one fit
        device="cpu",
        dtype=args.dtype,
        chunk_size=args.chunk_size or None,
    )
    thread.start()
    t0 = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - t0
    stop.set()
    thread.join()
    out = {
        "rss_imports": rss_imports,
        "rss_base": rss_base,
        "maxrss_before_fit": maxrss_before,
        "rss_after": proc.memory_info().rss,
        "sampled_peak": peak[0],
        "vmhwm": _status_kib("VmHWM") * 1024,
        "hwm_reset": hwm_reset,
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "fit_s": fit_s,
        "n_iter": int(model.n_iter_),
        "n_admm_iter": int(model.n_admm_iter_),
        "objective": float(model.objective_path_[-1]),
        "selected": len(model.selected_features_),
        "x_bytes": int(X.nbytes),
    }
    print("RESULT " + json.dumps(out), flush=True)


def generate(args: argparse.Namespace) -> None:
    from hrr.datasets import make_additive_classification

    t0 = time.perf_counter()
    X, y = make_additive_classification(args.n, args.p, flip=args.flip, random_state=args.seed)
    np.save(os.path.join(args.generate, "X.npy"), X)
    np.save(os.path.join(args.generate, "y.npy"), y)
    print(f"GENERATED {time.perf_counter() - t0:.6f}", flush=True)


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout)
        print(proc.stderr)
        raise SystemExit(f"{argv[2:4]} failed with exit code {proc.returncode}")
    return proc.stdout


# ----------------------------------------------------------------------------------------------- parent side
def report_solver(
    args: argparse.Namespace, solver: str, results: list[dict], dense_phi: int, itemsize: int, gen_s: float
) -> dict:
    """Print one solver's tables; returns its worst run (largest fit peak)."""
    from _common import emit, fmt_bytes, fmt_seconds, markdown_table

    for r in results:
        r["fit_hwm"] = r["vmhwm"] - r["rss_base"] if r["hwm_reset"] else float("nan")
        r["fit_sampled"] = r["sampled_peak"] - r["rss_base"]
        r["fit_peak"] = max(r["fit_sampled"], r["fit_hwm"] if r["hwm_reset"] else 0)
    worst = max(results, key=lambda r: r["fit_peak"])

    def per_run(key: str) -> str:
        return " / ".join(fmt_bytes(r[key]) for r in results)

    emit(
        f"### solver={solver!r}: n={args.n}, p={args.p}, n_basis={args.n_basis} (m={args.p * args.n_basis}), "
        f"dtype={args.dtype}, max_iter={args.max_iter}; {len(results)} fresh child process(es)\n"
    )
    rows = [
        ["X (float64 input)", fmt_bytes(worst["x_bytes"]), "reference"],
        [f"dense Phi would be (n x m x {itemsize} B)", fmt_bytes(dense_phi), "reference, never allocated"],
        ["child RSS after imports", per_run("rss_imports"), ""],
        ["child RSS after loading X, y = baseline", per_run("rss_base"), ""],
        [
            "fit peak over baseline, VmHWM (reset before fit)",
            per_run("fit_hwm") if worst["hwm_reset"] else "n/a",
            f"max {worst['fit_hwm'] / dense_phi:.2f} x dense Phi" if worst["hwm_reset"] else "clear_refs not permitted",
        ],
        [
            f"fit peak over baseline, sampled every {args.sample_ms:g} ms",
            per_run("fit_sampled"),
            f"max {worst['fit_sampled'] / dense_phi:.2f} x dense Phi",
        ],
        ["total peak of the child, ru_maxrss (lifetime)", per_run("ru_maxrss"), ""],
        ["total peak of the child, VmHWM (since reset)", per_run("vmhwm"), ""],
        ["ru_maxrss before the fit", per_run("maxrss_before_fit"), "imports + loading only"],
        ["RSS after the fit", per_run("rss_after"), "model kept alive"],
    ]
    emit(markdown_table(["quantity", "bytes (run 1 / run 2 / ...)", "note"], rows))
    emit()
    emit(
        markdown_table(
            [
                "fit time (median)",
                "per run",
                "outer iters (cap)",
                "ADMM iters",
                "objective",
                "selected features",
                "data generation (own process)",
            ],
            [
                [
                    fmt_seconds(float(np.median([r["fit_s"] for r in results]))),
                    " / ".join(fmt_seconds(r["fit_s"]) for r in results),
                    f"{worst['n_iter']} ({args.max_iter})",
                    worst["n_admm_iter"],
                    f"{worst['objective']:.10g}",
                    worst["selected"],
                    fmt_seconds(gen_s),
                ]
            ],
        )
    )
    emit()
    return worst


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    if args.generate:
        generate(args)
        return
    from _common import ContentionMeter, emit, environment_header, fmt_bytes

    meter = ContentionMeter()
    emit(environment_header("bench_memory: peak RSS of CorrentropySAM.fit on a tall problem", args))
    # Data generation and measurement each run in their own process: on Linux a child inherits its parent's
    # peak RSS in ru_maxrss across fork/exec, so the parent must never hold the data.
    own_args = [a for a in sys.argv[1:]]
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="hrr-bench-mem-") as tmp:
        out = _run([sys.executable, os.path.abspath(__file__), "--generate", tmp, *own_args])
        gen_s = float(next(l for l in out.splitlines() if l.startswith("GENERATED ")).split()[1])
        for solver in args.solvers:
            runs = args.runs if solver == "mm" else args.hq_admm_runs
            for _ in range(max(1, runs)):  # a fresh child per run
                out = _run([sys.executable, os.path.abspath(__file__), "--child", tmp, *own_args, "--solver", solver])
                line = next(l for l in out.splitlines() if l.startswith("RESULT "))
                results.setdefault(solver, []).append(json.loads(line[len("RESULT ") :]))

    m = args.p * args.n_basis
    itemsize = 8 if args.dtype == "float64" else 4
    dense_phi = args.n * m * itemsize
    budget = args.target_gb * 1e9
    verdicts = []
    for solver, solver_results in results.items():
        worst = report_solver(args, solver, solver_results, dense_phi, itemsize, gen_s)
        fit_peak = worst["fit_peak"]
        verdicts.append(
            f"Target ({solver}): fit peak over baseline < {args.target_gb:g} GB (worst run): "
            f"{'MET' if fit_peak < budget else 'NOT MET'} ({fit_peak / 1e9:.3f} GB = {fmt_bytes(fit_peak)}; "
            f"ratio to dense Phi {fit_peak / dense_phi:.2f})."
        )
    emit("\n".join(verdicts))
    emit(meter.report())


if __name__ == "__main__":
    main()
