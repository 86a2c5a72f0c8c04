"""Built-in data for demos, tests and benchmarks (no downloads)."""

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "make_additive_classification": "hrr.datasets._additive",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

__all__ = ["make_additive_classification"]

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
    from hrr.datasets._additive import make_additive_classification
