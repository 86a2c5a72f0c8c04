"""``hrr demo``: the library's end-to-end showcase on data that ships with installed packages.

Three steps, each usable on its own: :func:`run_afr_demo` (AFR against logistic regression), :func:`run_msr_demo`
(MSR on scikit-image photos through a VAE trained on the spot) and :func:`run_benchmark` (the miniature Table IV /
Table V detection benchmark, docs/benchmark.md), with the functions that format and write their results.
"""

from hrr.demo._afr import format_afr_table, run_afr_demo
from hrr.demo._benchmark import BenchmarkResult, BenchmarkSettings, format_tables, run_benchmark, write_report
from hrr.demo._msr import format_msr_table, run_msr_demo

__all__ = [
    "BenchmarkResult",
    "BenchmarkSettings",
    "format_afr_table",
    "format_msr_table",
    "format_tables",
    "run_afr_demo",
    "run_benchmark",
    "run_msr_demo",
    "write_report",
]
