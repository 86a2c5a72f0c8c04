"""Shared helpers for the benchmark scripts: thread control, environment header, timing, markdown tables.

Every script imports this module first (``from _common import ...`` works because Python puts the script's
own folder on ``sys.path``), calls :func:`configure_threads` before any timed work, prints
:func:`environment_header`, and reports with :func:`markdown_table`.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

# threadpoolctl limits stay active for the whole process once set; keep a reference so they are not undone.
_THREAD_LIMITER: Any = None


def configure_threads(n_threads: int) -> int:
    """Use ``n_threads`` everywhere: torch (intra-op, MKL/OpenMP), every BLAS/OpenMP pool threadpoolctl
    sees (numpy's and scipy's OpenBLAS, scikit-learn's OpenMP), and numba's pool when numba is importable."""
    global _THREAD_LIMITER
    torch.set_num_threads(n_threads)
    from threadpoolctl import threadpool_limits

    _THREAD_LIMITER = threadpool_limits(limits=n_threads)
    try:
        import numba

        numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    return n_threads


def _package_version(name: str) -> str:
    try:
        module = __import__(name)
    except ImportError:
        return "not installed"
    return str(getattr(module, "__version__", "?"))


def environment_header(title: str, args: Any | None = None, extra_packages: Sequence[str] = ()) -> str:
    """Markdown block naming the machine, library versions, thread settings and the script's arguments."""
    from threadpoolctl import threadpool_info

    lines = [f"## {title}", ""]
    if getattr(args, "quick", False):
        lines += ["**Smoke run (--quick): a reduced configuration that checks the script runs; its numbers are not "
                  "the ones docs/ quotes.**", ""]
    lines.append(f"- python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} logical CPUs")
    versions = {name: _package_version(name) for name in ("torch", "numpy", "scipy", "sklearn", *extra_packages)}
    lines.append("- " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    lines.append(
        f"- torch threads: intra-op {torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}; "
        f"torch BLAS/LAPACK: {'MKL' if torch.backends.mkl.is_available() else 'non-MKL'}"
    )
    if getattr(args, "jobs", 1) > 1:
        lines.append(f"- training runs: {args.jobs} at once, each in its own process with one torch thread")
    pools = []
    for pool in threadpool_info():
        lib = os.path.basename(pool.get("filepath", "?"))
        pools.append(f"{pool.get('internal_api')}:{lib}={pool.get('num_threads')}")
    lines.append("- threadpoolctl pools: " + "; ".join(pools))
    for var in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        lines.append(f"- {var}={os.environ.get(var, '<unset>')}")
    lines.append(f"- hrr {_package_version('hrr')} at {library_revision()}")
    lines.append(f"- {load_line()}")
    if torch.cuda.is_available():
        lines.append(f"- CUDA {torch.version.cuda}: {torch.cuda.get_device_name(0)}")
    else:
        lines.append("- CUDA: not available")
    if args is not None:
        lines.append("- arguments: " + " ".join(f"{k}={v}" for k, v in sorted(vars(args).items())))
    lines.append("")
    return "\n".join(lines)


@dataclass
class Timing:
    """Wall-clock seconds of repeated runs; ``median`` is what the tables report."""

    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    def spread(self) -> str:
        return f"{fmt_seconds(self.best)}-{fmt_seconds(max(self.times))} (n={len(self.times)})"


def measure(
    fn: Callable[[], Any], repeats: int, warmup: int = 0, sync: Callable[[], None] | None = None
) -> tuple[Timing, Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; returns (timing, last result).

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before starting and after stopping each clock.
    """
    result = None
    for _ in range(warmup):
        result = fn()
    timing = Timing()
    for _ in range(max(1, repeats)):
        gc.collect()
        if sync is not None:
            sync()
        start = time.perf_counter()
        result = fn()
        if sync is not None:
            sync()
        timing.times.append(time.perf_counter() - start)
    return timing, result


def fit_recording_warnings(estimator: Any, X: Any, y: Any) -> tuple[Any, list[str]]:
    """``estimator.fit(X, y)`` with warnings recorded instead of printed; returns (estimator, sorted warning
    category names), so a table can say which fits warned."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, y)
    return estimator, sorted({w.category.__name__ for w in caught})


def library_revision() -> str:
    """Git commit of the checkout holding the imported ``hrr`` and whether hrr/ has uncommitted edits."""
    import subprocess

    import hrr

    root = os.path.dirname(os.path.dirname(os.path.abspath(hrr.__file__)))
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "hrr"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    if not head:
        return "unknown revision"
    return f"commit {head}" + (" + uncommitted edits in hrr/" if dirty else " (clean hrr/)")


def load_line() -> str:
    """1/5/15-minute load averages; above the thread count, other processes compete for the cores and
    timings are inflated (the tables are then only indicative)."""
    one, five, fifteen = os.getloadavg()
    busy = " (BUSY MACHINE: timings inflated by other processes)" if one > (os.cpu_count() or 1) + 0.5 else ""
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} CPUs{busy}"


class ContentionMeter:
    """How much of the machine other processes used while this script ran.

    other-process CPU share = (system busy CPU time - this process's CPU time, children included) / (wall x CPUs).
    Near 0 means the timings are clean; a large share means they are inflated by competition for the cores.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._proc = psutil.Process()
        self._t0 = time.perf_counter()
        self._sys0 = self._busy()
        self._own0 = self._own()

    def _busy(self) -> float:
        t = self._psutil.cpu_times()
        return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))

    def _own(self) -> float:
        t = self._proc.cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)

    def report(self) -> str:
        wall = time.perf_counter() - self._t0
        ncpu = os.cpu_count() or 1
        other = max(0.0, (self._busy() - self._sys0) - (self._own() - self._own0)) / max(wall * ncpu, 1e-9)
        own = (self._own() - self._own0) / max(wall * ncpu, 1e-9)
        verdict = "clean" if other < 0.1 else "CONTENDED: timings inflated by other processes"
        return (
            f"Machine use during this run: this script {own:.0%}, other processes {other:.0%} of {ncpu} CPUs "
            f"over {wall:.0f} s wall ({verdict}); {load_line()}."
        )


def fmt_seconds(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_ratio(value: float) -> str:
    if value != value:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    if value >= 0.01:
        return f"{value:.2f}x"
    return f"{value:.2g}x"


def fmt_bytes(n_bytes: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n_bytes) >= scale:
            return f"{n_bytes / scale:.2f} {unit}"
    return f"{n_bytes:.0f} B"


def fmt_float(value: float, digits: int = 10) -> str:
    return f"{value:.{digits}g}"


def t_interval(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t-interval over seeds (nan bounds with one seed)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def fmt_interval(values: Sequence[float], digits: int, bounds: tuple[float, float] = (-np.inf, np.inf)) -> str:
    """Mean [95 % t-interval] over seeds (the mean alone with one seed).

    The interval is cut to ``bounds``, the range the quantity can take (a t-interval over few, spread seeds can
    reach past it: 9 modes of 9, a negative distance); a cut end is marked with ``*``.
    """
    mean, lo, hi = t_interval(values)
    if lo != lo:
        return f"{mean:.{digits}f}"
    low = f"{max(lo, bounds[0]):.{digits}f}" + ("*" if lo < bounds[0] else "")
    high = f"{min(hi, bounds[1]):.{digits}f}" + ("*" if hi > bounds[1] else "")
    return f"{mean:.{digits}f} [{low}, {high}]"


def verdict(low: float, high: float, lower_is_better: bool = False) -> str:
    """"no difference" when [low, high] holds 0, else "better" or "worse" by the side it lies on."""
    if low <= 0 <= high:
        return "no difference"
    return "worse" if (low > 0) == lower_is_better else "better"


def welch_difference(values: Sequence[float], base: Sequence[float], digits: int, lower_is_better: bool) -> str:
    """mean(values) - mean(base) with a 95 % Welch t-interval and a verdict ("no difference" when it holds 0)."""
    if len(values) < 2 or len(base) < 2:
        return "-"
    from scipy import stats

    a, b = np.asarray(values, float), np.asarray(base, float)
    diff = a.mean() - b.mean()
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if not np.isfinite(se):
        return f"{diff:+.{digits}f} (not finite)"
    if se == 0:  # every seed gave the same value on both sides
        return f"{diff:+.{digits}f} {verdict(diff, diff, lower_is_better)} (no spread)"
    dof = se**4 / ((a.var(ddof=1) / len(a)) ** 2 / (len(a) - 1) + (b.var(ddof=1) / len(b)) ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, dof) * se)
    lo, hi = diff - half, diff + half
    return f"{diff:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}] {verdict(lo, hi, lower_is_better)}"


def settings_key(settings: dict[str, Any]) -> str:
    """A short stable hash of JSON-able settings: the file name a cached run is stored under."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _run_and_store(task: tuple[Callable[[dict[str, Any]], dict[str, Any]], dict[str, Any], str]) -> dict[str, Any]:
    import json

    from hrr._io import atomic_path

    worker, job, path = task
    out = worker(job)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(out, handle)
    return out


def add_study_arguments(parser: Any, name: str, quick_help: str) -> None:
    """The options every cached training study shares: --jobs, --cache-dir, --out, --no-train, --quick."""
    from hrr.demo._cache import cache_root

    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, one thread each")
    parser.add_argument("--cache-dir", default=str(cache_root() / name),
                        help=f"$HRR_CACHE_DIR, else $XDG_CACHE_HOME/hrr, else ~/.cache/hrr; + /{name}")
    parser.add_argument("--out", default="docs/img", help="folder for the figures (default: %(default)s)")
    parser.add_argument("--no-train", action="store_true", help="only report the runs already cached")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {quick_help}; own cache and figure folder")


def use_quick_folders(args: Any) -> None:
    """Point a --quick run at its own cache and figure folder (it never overwrites docs/img)."""
    args.cache_dir = args.out = os.path.join(args.cache_dir, "quick")


def run_cached(jobs: Sequence[dict[str, Any]], worker: Callable[[dict[str, Any]], dict[str, Any]], cache_dir: str,
               n_jobs: int = 1, train: bool = True) -> tuple[list[dict[str, Any] | None], str]:
    """Results of ``worker(job)`` for every job (in order), each stored as ``<cache_dir>/<job["key"]>.json``.

    Cached results are loaded; the others are computed (``n_jobs`` > 1: a spawn pool, one job per process at a
    time; ``worker`` must be a module-level function) and written atomically as each finishes, so an interrupted
    study keeps what it finished. With ``train=False`` missing results are None. Returns (results, a line saying
    how many were cached, computed and missing, and the wall time).
    """
    start = time.perf_counter()
    import json
    import multiprocessing as mp

    os.makedirs(cache_dir, exist_ok=True)
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        path = os.path.join(cache_dir, f"{job['key']}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                results[i] = json.load(handle)
        elif train:
            todo.append((i, (worker, job, path)))
    if todo and n_jobs > 1:
        with mp.get_context("spawn").Pool(n_jobs) as pool:
            for (i, _), out in zip(todo, pool.imap(_run_and_store, [t for _, t in todo]), strict=True):
                results[i] = out
    else:
        for i, task in todo:
            results[i] = _run_and_store(task)
    missing = sum(out is None for out in results)
    line = (f"{len(jobs) - len(todo) - missing} runs cached in {cache_dir}, {len(todo)} trained in "
            f"{time.perf_counter() - start:.0f} s wall ({n_jobs} jobs, one thread each)"
            + (f", {missing} missing (not trained)" if missing else "") + ".")
    return results, line


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=False)) + " |"]
    out.append("| " + " | ".join("-" * w for w in widths) + " |")
    for row in cells[1:]:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |")
    return "\n".join(out)


def additive_f(model: Any, X: np.ndarray) -> np.ndarray:
    """f(x) = intercept_ + sum_j f_j(x_j) of a fitted CorrentropySAM (``decision_function`` is f - ``threshold_``)."""
    return model.decision_function(X) + model.threshold_


def closs_objective(
    decision: np.ndarray | torch.Tensor, y_pm: np.ndarray | torch.Tensor, coef: Any, lam: float, sigma: float
) -> float:
    """Eq. (9) with the group penalty: mean C-loss of r = y - f plus lam * sum_j ||alpha_j||_2, in float64.

    Evaluated independently of the library so both sides of a comparison are scored by the same code.
    """
    f = np.asarray(decision.cpu() if isinstance(decision, torch.Tensor) else decision, dtype=np.float64)
    y = np.asarray(y_pm.cpu() if isinstance(y_pm, torch.Tensor) else y_pm, dtype=np.float64)
    a = np.asarray(coef.cpu() if isinstance(coef, torch.Tensor) else coef, dtype=np.float64)
    beta = 1.0 / -np.expm1(-1.0 / sigma**2)
    loss = float(np.mean(-beta * np.expm1(-((y - f) ** 2) / sigma**2)))
    return loss + lam * float(np.linalg.norm(a, axis=1).sum())


def emit(text: str = "") -> None:
    print(text, flush=True)


def python_executable() -> str:
    return sys.executable
