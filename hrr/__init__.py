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
AdversarialTraining, train_robust
    PGD-l2 adversarial training (Madry et al.) of any classifier with the defaults of seed 003, A4.1
    (eps = 3, 7 steps of 0.5); eps = 0 trains the standard model.
LayerEncoder, FeatureInverter, train_inverter
    F_theta = one named layer of a classifier; the decoder G_phi of Table A4 derived from the feature and image
    shapes; its training with pixel l1 + feature l2 (+ optional adversarial) losses (A4.1 weights).
InversionAnomalyScore
    Inversion-based anomaly score (seed 003, Eq. 8): latent optimisation from Gaussian noise, 100 iterations,
    learning rate 0.1 -> 0.001; more (AUROC, one-vs-all protocol) in ``hrr.robust``.
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
from hrr.robust import (
    AdversarialTraining,
    FeatureInverter,
    InversionAnomalyScore,
    LayerEncoder,
    train_inverter,
    train_robust,
)

__version__ = "0.1.0"

__all__ = [
    "FGM",
    "PGD",
    "AdaptiveAdversarial",
    "AdaptiveMix",
    "AdversarialTraining",
    "CorrentropySAM",
    "Detector",
    "DiffusersImg2ImgRegenerator",
    "FeatureInverter",
    "HRRDetector",
    "HRRLoss",
    "IdentityRegenerator",
    "InversionAnomalyScore",
    "KLSeparationLoss",
    "LayerEncoder",
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
    "train_inverter",
    "train_robust",
]
