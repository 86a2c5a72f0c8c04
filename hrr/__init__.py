"""hrr: generated-image detection with Hierarchical Retrospection Refinement, and GAN discriminator tools.

Public API
----------
CorrentropySAM
    Additive Feature Refinement (HRR paper, Sec. III-B, Eqs. 5-9; solver of Appendix A, Eqs. 10-22).
"""

from hrr.afr import CorrentropySAM

__version__ = "0.1.0"

__all__ = ["CorrentropySAM", "__version__"]
