"""``CorrentropySAM`` on one CUDA GPU at n = 1 000 000, p = 2048, n_basis = 5 (m = 10 240), float32 and float64,
against the CPU fit at a smaller n in the same process.

Without CUDA the script prints "skipped: no CUDA" and exits 0 (``--device cpu`` runs the same code path on the
CPU instead, for a dry run of the script with small sizes).

Data: the SpAM additive design generated in row blocks of --block rows (each block its own seed and median
threshold, so the host never holds more than one float64 block besides X), stored as float32 on the host
(8 GB at full size); both dtypes fit on this same float32 X (the float64 fit upcasts on transfer).

Each configuration is one fit (``calibration_cv=None``: the default, 5, would add 5 cross-fitted fits for the
probability map; ``--repeats`` for more) of each solver in ``--solvers`` ("mm", the default solver, and "hq-admm",
Algorithm 1), with the same lam, sigma, max_iter and tolerances:
* warm-up: a tiny fit on the device first (CUDA context, cuBLAS/cuSOLVER handles), timed separately;
* device fits: wall time with ``torch.cuda.synchronize()`` around it (the host-to-device copy of X is part of
  ``fit`` and is included), peak ``torch.cuda.max_memory_allocated``;
* CPU baseline: the same fit on the CPU at --cpu-n rows, float64, --threads torch threads.
Time per HQ iteration is reported because the iteration counts differ between runs; the CPU-vs-GPU ratio
compares the per-row cost of one HQ iteration (CPU time per HQ iteration x n_gpu / n_cpu vs GPU time per HQ
iteration) -- the work per HQ iteration (moments pass + ADMM) is linear in n at fixed m except the m^3 factor.

Run: python benchmarks/bench_gpu.py [--quick] [--n 1000000 --p 2048 --dtypes float32 float64 --cpu-n 20000]
     [--solvers mm hq-admm]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch
from _common import (
    ContentionMeter,
    configure_threads,
    emit,
    environment_header,
    fmt_bytes,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
)
from sklearn.exceptions import ConvergenceWarning

from hrr import CorrentropySAM
from hrr.datasets import make_additive_classification


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=2048)
    parser.add_argument("--n-basis", type=int, default=5)
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"), default=["float32", "float64"])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a dry run of the script")
    parser.add_argument("--cpu-n", type=int, default=20_000, help="rows of the CPU baseline fit (0 = skip)")
    parser.add_argument("--lam", type=float, default=5e-4)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--flip", type=float, default=0.2)
    parser.add_argument("--max-iter", type=int, default=5, help="outer iterations cap, same for every fit")
    parser.add_argument(
        "--solvers", nargs="+", choices=("mm", "hq-admm"), default=["mm", "hq-admm"], help="library solvers timed"
    )
    parser.add_argument(
        "--chunk-sizes",
        nargs="+",
        default=["auto"],
        help="rows per chunk for the device fits: 'auto' (library default) and/or integers",
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--block", type=int, default=50_000, help="rows generated per block")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads for CPU work")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="n=100000, p=256, cpu-n=10000 (< 60 s on a GPU)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.p, args.cpu_n = 100_000, 256, 10_000
    return args


def make_data(n: int, p: int, flip: float, seed: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.empty((n, p), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    for b, start in enumerate(range(0, n, block)):
        stop = min(start + block, n)
        xb, yb = make_additive_classification(stop - start, p, flip=flip, random_state=seed + b)
        X[start:stop], y[start:stop] = xb, yb
    return X, y


def main() -> None:
    args = parse_args()
    configure_threads(args.threads)
    emit(environment_header("bench_gpu: CorrentropySAM on CUDA vs CPU", args))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        emit("skipped: no CUDA (torch.cuda.is_available() is False); nothing was run.")
        return
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        emit(
            f"Device: {props.name}, {fmt_bytes(props.total_memory)}, capability {props.major}.{props.minor}; "
            f"TF32 matmul allowed: {torch.backends.cuda.matmul.allow_tf32}\n"
        )
    meter = ContentionMeter()
    warnings.simplefilter("ignore", ConvergenceWarning)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    common = dict(n_basis=args.n_basis, lam=args.lam, sigma=args.sigma, max_iter=args.max_iter, calibration_cv=None)
    m = args.p * args.n_basis

    t0 = time.perf_counter()
    X, y = make_data(args.n, args.p, args.flip, args.seed, args.block)
    emit(f"Data: X {X.shape} float32 ({fmt_bytes(X.nbytes)}) generated in {fmt_seconds(time.perf_counter() - t0)}.\n")

    # Warm-up on the device: CUDA context, cuBLAS / cuSOLVER handles, kernels of both dtypes.
    Xw, yw = make_additive_classification(2_000, 16, random_state=1)
    t0 = time.perf_counter()
    for solver in args.solvers:
        for dtype in args.dtypes:
            CorrentropySAM(**common, solver=solver, device=args.device, dtype=dtype).fit(Xw, yw)
    sync()
    warmup_s = time.perf_counter() - t0

    runs = []

    def run(label: str, solver: str, X_: np.ndarray, y_: np.ndarray, dev: str, dtype: str, chunk: int | None) -> None:
        times, model = [], None
        peak = float("nan")
        for _ in range(max(1, args.repeats)):
            model = None
            if dev.startswith("cuda"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(torch.device(dev))
            sync()
            start = time.perf_counter()
            model = CorrentropySAM(**common, solver=solver, device=dev, dtype=dtype, chunk_size=chunk).fit(X_, y_)
            sync()
            times.append(time.perf_counter() - start)
            if dev.startswith("cuda"):
                peak = float(torch.cuda.max_memory_allocated(torch.device(dev)))
        runs.append(
            dict(
                label=label,
                solver=solver,
                n=X_.shape[0],
                dtype=dtype,
                chunk=chunk or "auto",
                time=float(np.median(times)),
                n_iter=model.n_iter_,
                n_admm=model.n_admm_iter_,
                objective=float(model.objective_path_[-1]),
                selected=len(model.selected_features_),
                peak=peak,
                coef=model.coef_,
            )
        )

    cpu_runs = {}  # solver -> its CPU baseline run
    for solver in args.solvers:
        if args.cpu_n:
            run("cpu (baseline)", solver, X[: args.cpu_n], y[: args.cpu_n], "cpu", "float64", None)
            cpu_runs[solver] = runs[-1]
        for chunk_arg in args.chunk_sizes:
            chunk = None if chunk_arg == "auto" else int(chunk_arg)
            for dtype in args.dtypes:
                run(args.device, solver, X, y, args.device, dtype, chunk)

    emit(
        f"### n={args.n}, p={args.p}, n_basis={args.n_basis} (m={m}), lam={args.lam}, sigma={args.sigma}, "
        f"max_iter={args.max_iter}\n"
    )
    rows = []
    for r in runs:
        per_iter = r["time"] / max(1, r["n_iter"])
        cpu_run = cpu_runs.get(r["solver"])
        if cpu_run is not None:
            cpu_per_row_iter = cpu_run["time"] / max(1, cpu_run["n_iter"]) / cpu_run["n"]
            speedup = cpu_per_row_iter * r["n"] / per_iter
            ratio = fmt_ratio(speedup)
        else:
            ratio = "n/a"
        rows.append(
            [
                r["label"],
                r["solver"],
                r["dtype"],
                r["n"],
                r["chunk"],
                fmt_seconds(r["time"]),
                r["n_iter"],
                r["n_admm"],
                fmt_seconds(per_iter),
                ratio,
                fmt_bytes(r["peak"]) if r["peak"] == r["peak"] else "-",
                f"{r['objective']:.10g}",
                r["selected"],
            ]
        )
    emit(
        markdown_table(
            [
                "run",
                "solver",
                "dtype",
                "n",
                "chunk rows",
                "fit time",
                "outer iters",
                "ADMM iters",
                "per outer iter",
                "per-row speed-up vs CPU",
                "peak GPU mem",
                "objective",
                "selected",
            ],
            rows,
        )
    )
    emit()
    emit(f"Device warm-up (tiny fits, excluded above): {fmt_seconds(warmup_s)}.")
    for solver in args.solvers:
        cpu_run = cpu_runs.get(solver)
        dev_runs = [r for r in runs if r["solver"] == solver and r is not cpu_run]
        f32 = [r for r in dev_runs if r["dtype"] == "float32"]
        f64 = [r for r in dev_runs if r["dtype"] == "float64"]
        if f32 and f64:
            a, b = f32[0], f64[0]
            emit(
                f"{solver}: float32 vs float64 on the device: objective diff {a['objective'] - b['objective']:+.3e}, "
                f"max |coef diff| {float(np.abs(a['coef'] - b['coef']).max()):.3e}, "
                f"time ratio f64/f32 {fmt_ratio(b['time'] / a['time'])}."
            )
        if cpu_run is not None:
            emit(
                f"{solver}: CPU baseline extrapolated linearly to n={args.n}: "
                f"{fmt_seconds(cpu_run['time'] / max(1, cpu_run['n_iter']) * args.n / cpu_run['n'])} per outer "
                "iteration."
            )
    emit(meter.report())


if __name__ == "__main__":
    main()
