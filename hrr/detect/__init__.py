"""The HRR detector: backbone + KL separation training, AFR refinement, evaluation and explanations.

Public API
----------
KLSeparationLoss, HRRLoss
    The separation term built on Eq. 4 and the training objective ``L_ce + gamma * L_kl`` (Sec. III-C).
Detector
    Backbone (torchvision by name or any ``nn.Module``) + linear "generated" head.
TrainConfig, train_detector, TrainResult
    Adam + AMP + accumulation + early stopping on validation AP, exact resume from per-epoch checkpoints.
extract_features, fit_refiner
    The AFR stage: cached backbone features, then :class:`hrr.CorrentropySAM` (Sec. III-B).
HRRDetector, DetectionResult
    The finished detector (network + AFR) with a run folder to save/load and per-file predictions.
fit_hrr, run_ablation
    End-to-end training and the baseline / w/o AFR / w/o MSR / HRR ablation (Table IV).
"""

from hrr.detect._detector import DetectionResult, HRRDetector
from hrr.detect._kl import HRRLoss, KLSeparationLoss
from hrr.detect._model import Detector
from hrr.detect._pipeline import ABLATION_VARIANTS, AblationResult, fit_hrr, run_ablation
from hrr.detect._refine import extract_features, fit_refiner
from hrr.detect._train import TrainConfig, TrainResult, train_detector

__all__ = [
    "ABLATION_VARIANTS",
    "AblationResult",
    "DetectionResult",
    "Detector",
    "HRRDetector",
    "HRRLoss",
    "KLSeparationLoss",
    "TrainConfig",
    "TrainResult",
    "extract_features",
    "fit_hrr",
    "fit_refiner",
    "run_ablation",
    "train_detector",
]
