"""``hrr demo``: the library's end-to-end showcase on data that ships with installed packages.

Three steps, each usable on its own: :func:`run_afr_demo` (AFR against logistic regression), :func:`run_msr_demo`
(MSR on scikit-image photos through a tiny latent diffusion model trained on the spot) and :func:`run_benchmark`
(the miniature Table IV / Table V detection benchmark, docs/benchmark.md), with the functions that format and
write their results.
"""

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "format_afr_table": "hrr.demo._afr",
    "run_afr_demo": "hrr.demo._afr",
    "BenchmarkResult": "hrr.demo._benchmark",
    "BenchmarkSettings": "hrr.demo._benchmark",
    "format_tables": "hrr.demo._benchmark",
    "run_benchmark": "hrr.demo._benchmark",
    "write_report": "hrr.demo._benchmark",
    "format_msr_table": "hrr.demo._msr",
    "run_msr_demo": "hrr.demo._msr",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

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

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
    from hrr.demo._afr import format_afr_table, run_afr_demo
    from hrr.demo._benchmark import BenchmarkResult, BenchmarkSettings, format_tables, run_benchmark, write_report
    from hrr.demo._msr import format_msr_table, run_msr_demo
