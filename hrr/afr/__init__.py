"""Additive Feature Refinement (AFR): the correntropy sparse additive machine of HRR Sec. III-B."""

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "CorrentropySAM": "hrr.afr._estimator",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

__all__ = ["CorrentropySAM"]

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
    from hrr.afr._estimator import CorrentropySAM
