"""Built-in data for demos, tests and benchmarks (no downloads)."""

from hrr.datasets._additive import make_additive_classification

__all__ = ["make_additive_classification"]
