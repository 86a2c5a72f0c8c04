"""Additive Feature Refinement (AFR): the correntropy sparse additive machine of HRR Sec. III-B.

:class:`CorrentropySAM` fits one lambda; :class:`CorrentropySAMCV` chooses lambda (and optionally sigma) by
cross-validation on a warm-started path (:func:`correntropy_sam_path`). The solvers are objects of their own
(:class:`MajorizeMinimize`, the default, and :class:`HQADMM`, Algorithm 1 of the paper's Appendix A), as are the
datafit (:class:`CLoss`, Eq. 8) and the penalties; :func:`expected_calibration_error` scores probabilities, on the
bins of :func:`calibration_bins` (those of a reliability diagram).
"""

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "CorrentropySAM": "hrr.afr._estimator",
    "CorrentropySAMCV": "hrr.afr._cv",
    "correntropy_sam_path": "hrr.afr._path",
    "MajorizeMinimize": "hrr.afr._mm",
    "HQADMM": "hrr.afr._hq",
    "CLoss": "hrr.afr._closs",
    "GroupL2Penalty": "hrr.afr._penalties",
    "L1Penalty": "hrr.afr._penalties",
    "expected_calibration_error": "hrr.afr._calibration",
    "calibration_bins": "hrr.afr._calibration",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

__all__ = [
    "HQADMM",
    "CLoss",
    "CorrentropySAM",
    "CorrentropySAMCV",
    "GroupL2Penalty",
    "L1Penalty",
    "MajorizeMinimize",
    "calibration_bins",
    "correntropy_sam_path",
    "expected_calibration_error",
]

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
    from hrr.afr._calibration import calibration_bins, expected_calibration_error
    from hrr.afr._closs import CLoss
    from hrr.afr._cv import CorrentropySAMCV
    from hrr.afr._estimator import CorrentropySAM
    from hrr.afr._hq import HQADMM
    from hrr.afr._mm import MajorizeMinimize
    from hrr.afr._path import correntropy_sam_path
    from hrr.afr._penalties import GroupL2Penalty, L1Penalty
