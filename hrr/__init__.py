"""hrr: generated-image detection with Hierarchical Retrospection Refinement, and GAN discriminator tools.

The front door holds the detector workflow and the method's pieces; everything else lives in its subpackage
(``hrr.data``, ``hrr.msr``, ``hrr.afr``, ``hrr.detect``, ``hrr.gan``, ``hrr.robust``), documented there.
Subpackages load on first use, so ``import hrr`` is cheap (no torch, diffusers, OpenCV or matplotlib).

The detector workflow
---------------------
scan_dataset
    Read a dataset folder as it is (ForenSynths, GenImage, real/fake, ``hrr regenerate`` output) into samples.
fit_hrr, TrainConfig
    Train the detector with CE + gamma * KL (Sec. III-C), then refine its features with AFR (Sec. III-B).
HRRDetector
    The finished detector (Fig. 2): load a run folder, predict probabilities of "generated".
evaluate
    Per-generator Acc / AP tables (Tables II-IV), with PR curves.

The method's pieces
-------------------
LineEnhancer, MultiScaleRetrospector
    Multi-scale style retrospection (MSR, Sec. III-A, Eqs. 2-3): line enhancement and diffusion regeneration of
    real images into content-aligned pseudo-fakes (default SD-XL refiner 1.0, empty prompt).
KLSeparationLoss
    KL separation of real and generated feature distributions (Eq. 4; the loss that *increases* the divergence).
CorrentropySAM
    Additive feature refinement (AFR, Sec. III-B, Eqs. 5-9; solver of Appendix A, Eqs. 10-22).
FGM, PGD, AdaptiveAdversarial
    Adversarial perturbations of discriminator inputs (Tang et al., Eqs. 12-13) and the adaptive switch of their
    Algorithm 1 (PGD iff W_sigma < kappa / (2 alpha), else FGM).
AdaptiveMix
    AdaptiveMix feature-space shrinkage for GAN discriminators (Liu et al., Eqs. 1-2; GAN use Eq. 6).

Names that used to live here (``Detector``, ``HRRLoss``, ``SinGAN``, the regenerators, ``hrr.robust``'s
pieces, ...) still work for one minor version, with a DeprecationWarning naming their new home.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from hrr._version import __version__

# name -> the subpackage that defines it
_EXPORTS: dict[str, str] = {
    "scan_dataset": "hrr.data",
    "fit_hrr": "hrr.detect",
    "TrainConfig": "hrr.detect",
    "HRRDetector": "hrr.detect",
    "evaluate": "hrr.detect",
    "LineEnhancer": "hrr.msr",
    "MultiScaleRetrospector": "hrr.msr",
    "KLSeparationLoss": "hrr.detect",
    "CorrentropySAM": "hrr.afr",
    "FGM": "hrr.gan",
    "PGD": "hrr.gan",
    "AdaptiveAdversarial": "hrr.gan",
    "AdaptiveMix": "hrr.gan",
}

# Top-level names of 0.1.0 that moved to their subpackage: kept, with a warning, until 0.2.
_DEPRECATED: dict[str, str] = {
    "Detector": "hrr.detect",
    "HRRLoss": "hrr.detect",
    "DiffusersImg2ImgRegenerator": "hrr.msr",
    "VAERegenerator": "hrr.msr",
    "IdentityRegenerator": "hrr.msr",
    "OrthogonalHead": "hrr.gan",
    "SinGAN": "hrr.gan",
    "lipschitz_ratio": "hrr.gan",
    "ood_score": "hrr.gan",
    "AdversarialTraining": "hrr.robust",
    "train_robust": "hrr.robust",
    "LayerEncoder": "hrr.robust",
    "FeatureInverter": "hrr.robust",
    "train_inverter": "hrr.robust",
    "InversionAnomalyScore": "hrr.robust",
}

_SUBPACKAGES = ("afr", "data", "datasets", "demo", "detect", "gan", "msr", "robust")

__all__ = [
    "FGM",
    "PGD",
    "AdaptiveAdversarial",
    "AdaptiveMix",
    "CorrentropySAM",
    "HRRDetector",
    "KLSeparationLoss",
    "LineEnhancer",
    "MultiScaleRetrospector",
    "TrainConfig",
    "__version__",
    "evaluate",
    "fit_hrr",
    "scan_dataset",
]


def __getattr__(name: str) -> Any:
    """Load a front-door name's subpackage on first use (PEP 562)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # the next access is a plain attribute lookup
        return value
    if name in _DEPRECATED:
        home = _DEPRECATED[name]
        warnings.warn(f"hrr.{name} is deprecated and will be removed in hrr 0.2; use {home}.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(home), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"hrr.{name}")
    raise AttributeError(f"module 'hrr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBPACKAGES})


if TYPE_CHECKING:  # what static analysers and IDEs see; nothing here runs
    from hrr.afr import CorrentropySAM
    from hrr.data import scan_dataset
    from hrr.detect import HRRDetector, KLSeparationLoss, TrainConfig, evaluate, fit_hrr
    from hrr.gan import FGM, PGD, AdaptiveAdversarial, AdaptiveMix
    from hrr.msr import LineEnhancer, MultiScaleRetrospector
