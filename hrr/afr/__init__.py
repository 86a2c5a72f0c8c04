"""Additive Feature Refinement (AFR): the correntropy sparse additive machine of HRR Sec. III-B."""

from hrr.afr._estimator import CorrentropySAM

__all__ = ["CorrentropySAM"]
