"""The HRR detector: backbone + KL separation training, AFR refinement, evaluation and explanations.

Public API
----------
KLSeparationLoss, HRRLoss
    The separation term built on Eq. 4 and the training objective ``L_ce + gamma * L_kl`` (Sec. III-C).
Detector, SmallCNN
    Backbone (torchvision by name or any ``nn.Module``) + linear "generated" head; a small CNN backbone for CPU
    experiments (the demo's) that run folders rebuild by themselves.
TrainConfig, train_detector, TrainResult
    Adam + AMP + accumulation + early stopping on validation AP, exact resume from per-epoch checkpoints.
extract_features, fit_refiner
    The AFR stage: cached backbone features, then :class:`hrr.CorrentropySAM` (Sec. III-B).
HRRDetector, DetectionResult, PlattScaling
    The finished detector (network + AFR) with a run folder to save/load and per-file predictions; its
    probability map, fitted on held-out images.
fit_hrr, run_ablation, fit_ablation_detectors
    End-to-end training and the baseline / w/o AFR / w/o MSR / HRR ablation (Table IV), or just its four
    detectors.
evaluate, EvalResult, multiscale_table, robustness_sweep, SweepResult
    Per-generator Acc / AP (Tables II-IV), the multi-scale table (Table V) and JPEG / blur / scale sweeps.
detection_metrics, calibration_metrics, is_generated, per_group_table, best_threshold, to_markdown, to_csv,
to_json, plot_pr_curves, plot_reliability
    Metrics with the field's conventions (one rule: generated iff p > threshold; AP with generated = positive;
    unweighted mean row).
class_activation_maps, find_cam_layer, save_cam_grid
    Grad-CAM / HiResCAM maps of a detector and the Fig. 4 picture grid.
"""

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "class_activation_maps": "hrr.detect._cam",
    "find_cam_layer": "hrr.detect._cam",
    "save_cam_grid": "hrr.detect._cam",
    "TrainConfig": "hrr.detect._config",
    "PlattScaling": "hrr.detect._calibrate",
    "DetectionResult": "hrr.detect._detector",
    "HRRDetector": "hrr.detect._detector",
    "EvalResult": "hrr.detect._evaluate",
    "SweepResult": "hrr.detect._sweeps",
    "evaluate": "hrr.detect._evaluate",
    "multiscale_table": "hrr.detect._sweeps",
    "robustness_sweep": "hrr.detect._sweeps",
    "HRRLoss": "hrr.detect._kl",
    "KLSeparationLoss": "hrr.detect._kl",
    "best_threshold": "hrr.detect._metrics",
    "calibration_metrics": "hrr.detect._metrics",
    "plot_reliability": "hrr.detect._tables",
    "detection_metrics": "hrr.detect._metrics",
    "is_generated": "hrr.detect._metrics",
    "per_group_table": "hrr.detect._metrics",
    "plot_pr_curves": "hrr.detect._tables",
    "to_csv": "hrr.detect._tables",
    "to_json": "hrr.detect._tables",
    "to_markdown": "hrr.detect._tables",
    "Detector": "hrr.detect._model",
    "SmallCNN": "hrr.detect._model",
    "ABLATION_VARIANTS": "hrr.detect._pipeline",
    "AblationResult": "hrr.detect._pipeline",
    "fit_ablation_detectors": "hrr.detect._pipeline",
    "fit_hrr": "hrr.detect._pipeline",
    "run_ablation": "hrr.detect._pipeline",
    "extract_features": "hrr.detect._refine",
    "fit_refiner": "hrr.detect._refine",
    "TrainResult": "hrr.detect._train",
    "train_detector": "hrr.detect._train",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

__all__ = [
    "ABLATION_VARIANTS",
    "AblationResult",
    "DetectionResult",
    "Detector",
    "EvalResult",
    "HRRDetector",
    "HRRLoss",
    "KLSeparationLoss",
    "PlattScaling",
    "SmallCNN",
    "SweepResult",
    "TrainConfig",
    "TrainResult",
    "best_threshold",
    "calibration_metrics",
    "class_activation_maps",
    "detection_metrics",
    "evaluate",
    "extract_features",
    "find_cam_layer",
    "fit_ablation_detectors",
    "fit_hrr",
    "fit_refiner",
    "is_generated",
    "multiscale_table",
    "per_group_table",
    "plot_pr_curves",
    "plot_reliability",
    "robustness_sweep",
    "run_ablation",
    "save_cam_grid",
    "to_csv",
    "to_json",
    "to_markdown",
    "train_detector",
]

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
    from hrr.detect._calibrate import PlattScaling
    from hrr.detect._cam import class_activation_maps, find_cam_layer, save_cam_grid
    from hrr.detect._config import TrainConfig
    from hrr.detect._detector import DetectionResult, HRRDetector
    from hrr.detect._evaluate import EvalResult, evaluate
    from hrr.detect._kl import HRRLoss, KLSeparationLoss
    from hrr.detect._metrics import (
        best_threshold,
        calibration_metrics,
        detection_metrics,
        is_generated,
        per_group_table,
    )
    from hrr.detect._model import Detector, SmallCNN
    from hrr.detect._pipeline import ABLATION_VARIANTS, AblationResult, fit_ablation_detectors, fit_hrr, run_ablation
    from hrr.detect._refine import extract_features, fit_refiner
    from hrr.detect._sweeps import SweepResult, multiscale_table, robustness_sweep
    from hrr.detect._tables import plot_pr_curves, plot_reliability, to_csv, to_json, to_markdown
    from hrr.detect._train import TrainResult, train_detector
