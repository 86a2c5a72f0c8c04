"""hrr: generated-image detection with Hierarchical Retrospection Refinement, and GAN discriminator tools.

Public API
----------
CorrentropySAM
    Additive Feature Refinement (HRR paper, Sec. III-B, Eqs. 5-9; solver of Appendix A, Eqs. 10-22).
KLSeparationLoss, HRRLoss
    KL separation of real and generated feature distributions (HRR Eq. 4, minimised form that *increases* the
    divergence) and the training objective L = L_ce + gamma * L_kl (Sec. III-C, gamma = 0.8).
Detector, HRRDetector, TrainConfig, fit_hrr
    The detector network (backbone + head), the refined detector with its run folder (Fig. 2), and end-to-end
    training: CE + gamma * KL, then AFR on the backbone features (Sec. IV-A).
LineEnhancer
    Line enhancement of Multi-scale Style Retrospection (MSR, Sec. III-A, Eq. 2): I + M * (f^n(I) - I) with the
    line mask M = h(g(f^n(I))) (USM sharpening, XDoG sketch, outlier filtering and passive dilation).
MultiScaleRetrospector
    MSR (Sec. III-A, Eqs. 2-3; Sec. IV-B): resumable, shardable multi-scale regeneration of real images through a
    latent diffusion img2img model (default SD-XL refiner 1.0, empty prompt); also ``hrr regenerate``.
DiffusersImg2ImgRegenerator, VAERegenerator, IdentityRegenerator
    MSR regenerator backends: any diffusers img2img pipeline, an autoencoder round trip, a no-op.
FGM, PGD
    Adversarial perturbations of discriminator inputs or embeddings maximising any loss (Tang et al., Eqs. 12-13).
AdaptiveAdversarial
    Adaptive FGM/PGD switch of Tang et al., Algorithm 1: PGD iff W_sigma < kappa / (2 alpha), else FGM.
AdaptiveMix
    AdaptiveMix feature-space shrinkage loss (Liu et al., Eqs. 1-2; GAN use Eq. 6).
OrthogonalHead, ood_score, lipschitz_ratio
    Orthogonal cosine classifier (Liu et al., Eqs. 7-9), OOD angle score (Eq. 10), Lipschitz ratio (Table 3).
SinGAN
    Compact SinGAN-style multi-scale GAN on one image (Tang et al., Eqs. 5-8); more in ``hrr.gan``.
"""

from hrr.afr import CorrentropySAM
from hrr.detect import Detector, HRRDetector, HRRLoss, KLSeparationLoss, TrainConfig, fit_hrr
from hrr.gan import FGM, PGD, AdaptiveAdversarial, AdaptiveMix, OrthogonalHead, SinGAN, lipschitz_ratio, ood_score
from hrr.msr import (
    DiffusersImg2ImgRegenerator,
    IdentityRegenerator,
    LineEnhancer,
    MultiScaleRetrospector,
    VAERegenerator,
)

__version__ = "0.1.0"

__all__ = [
    "FGM",
    "PGD",
    "AdaptiveAdversarial",
    "AdaptiveMix",
    "CorrentropySAM",
    "Detector",
    "DiffusersImg2ImgRegenerator",
    "HRRDetector",
    "HRRLoss",
    "IdentityRegenerator",
    "KLSeparationLoss",
    "LineEnhancer",
    "MultiScaleRetrospector",
    "OrthogonalHead",
    "SinGAN",
    "TrainConfig",
    "VAERegenerator",
    "__version__",
    "fit_hrr",
    "lipschitz_ratio",
    "ood_score",
]
