"""End-to-end HRR (Fig. 2): train the network with CE + gamma * KL on real, generated and MSR pseudo-fake images,
refine its features with AFR, and save a run folder; plus the Table IV ablation (baseline / w/o AFR / w/o MSR / HRR).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrr.data import Sample, TestTransform
from hrr.detect import _run_folder as layout
from hrr.detect._calibrate import PlattScaling
from hrr.detect._config import TrainConfig
from hrr.detect._detector import HRRDetector, read_calibration, write_calibration
from hrr.detect._model import DEFAULT_BACKBONE, Detector
from hrr.detect._refine import extract_features, fit_refiner
from hrr.detect._train import TrainResult, train_detector

ABLATION_VARIANTS: tuple[str, ...] = ("baseline", "w/o AFR", "w/o MSR", "HRR")


def fit_hrr(train_samples: Sequence[Sample], run_dir: str | os.PathLike, *,
            val_samples: Sequence[Sample] | None = None, msr_samples: Sequence[Sample] = (),
            backbone: str | nn.Module = DEFAULT_BACKBONE, weights: str | os.PathLike | None = None,
            config: TrainConfig | None = None, afr: bool = True, afr_params: dict[str, Any] | None = None,
            calibrate: bool = True, device: str | torch.device = "auto", resume: bool = True,
            progress: bool = True) -> tuple[HRRDetector, TrainResult]:
    """Train an HRR detector and write its run folder.

    Parameters
    ----------
    train_samples : sequence of Sample
        Real (0) and generated (1) training images.
    run_dir : path
        Receives checkpoints, metrics, the best weights, AFR and ``detector.json``; reload with
        :meth:`HRRDetector.load`.
    val_samples : sequence of Sample, optional
        For early stopping on validation AP.
    msr_samples : sequence of Sample
        MSR outputs (real views labelled 0, regenerated pseudo-fakes labelled 1), e.g.
        ``hrr.data.scan_dataset(msr_out_dir)``; they join the training set (Sec. III-A).
    backbone, weights :
        Passed to :class:`Detector` (a torchvision name or an ``nn.Module``; local weights only).
    config : TrainConfig, optional
        Training hyper-parameters (``gamma`` weights the KL separation term).
    afr : bool, default=True
        Fit :class:`~hrr.CorrentropySAM` on the trained backbone's features of the training set (Sec. III-B).
    afr_params : dict, optional
        Parameters of the AFR estimator: with ``lam``, a :class:`~hrr.CorrentropySAM` at that lambda; without
        (the default), :class:`~hrr.afr.CorrentropySAMCV` chooses lambda by cross-validation.
    calibrate : bool, default=True
        Fit the probability map (:class:`~hrr.detect.PlattScaling`) of the linear head and of AFR on
        ``val_samples``, images the network never trained on; both are saved in ``calibration.json``. Without
        validation images AFR keeps its own map, fitted on cross-fitted decision values of the training features,
        and the linear head its plain sigmoid (a warning says that this one is uncalibrated).

    Returns
    -------
    detector : HRRDetector
    train_result : TrainResult
    """
    config = config or TrainConfig()
    run_dir = Path(run_dir)
    samples = list(train_samples) + list(msr_samples)
    model = Detector(backbone, weights=weights)
    result = train_detector(model, samples, run_dir, val_samples=val_samples, config=config, device=device,
                            resume=resume, progress=progress)
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(run_dir / layout.WEIGHTS)))
    refiner = None
    dev = next(model.parameters()).device
    if afr:
        feats, labels, _, _ = extract_features(model, samples, transform=TestTransform(center_crop=config.crop_size),
                                               batch_size=config.batch_size, device=dev,
                                               cache_dir=run_dir / layout.FEATURE_CACHE, progress=progress)
        refiner = fit_refiner(feats, labels, **(afr_params or {}))
    maps: dict[str, PlattScaling | None] = {"linear": None, "afr": None}
    if calibrate and val_samples:
        maps = _fit_calibrations(model, refiner, val_samples, config, dev, progress)
    elif calibrate and refiner is None:
        warnings.warn("fit_hrr: no val_samples, so the linear head's probabilities are not calibrated (the sigmoid "
                      "of a network trained to zero loss is overconfident); pass val_samples", UserWarning,
                      stacklevel=2)
    write_calibration(run_dir, "linear", maps["linear"])
    detector = HRRDetector(model, refiner, calibration=maps["afr" if refiner is not None else "linear"], device=dev)
    detector.save(run_dir)
    return detector, result


def _fit_calibrations(model: Detector, refiner: Any, val_samples: Sequence[Sample], config: TrainConfig,
                      device: torch.device, progress: bool) -> dict[str, PlattScaling | None]:
    """Platt maps of the linear head's logit and (with a refiner) of AFR's decision value on the validation images
    (center-cropped as in training, as the validation AP of early stopping sees them)."""
    feats, labels, _, _ = extract_features(model, val_samples, transform=TestTransform(center_crop=config.crop_size),
                                           batch_size=config.batch_size, device=device, progress=progress)
    if labels.min() == labels.max():
        warnings.warn("fit_hrr: val_samples hold one class only, so the probabilities are not calibrated",
                      UserWarning, stacklevel=3)
        return {"linear": None, "afr": None}

    def fit_map(head: Any) -> PlattScaling:
        return PlattScaling().fit(HRRDetector(model, head, device=device).scores_of_features(feats), labels)

    return {"linear": fit_map(None), "afr": fit_map(refiner) if refiner is not None else None}


@dataclasses.dataclass
class AblationResult:
    """Per-variant evaluation results of :func:`run_ablation` (``EvalResult`` objects keyed by variant name)."""

    results: dict[str, Any]
    run_dirs: dict[str, Path]


def run_ablation(train_samples: Sequence[Sample], test_samples: Sequence[Sample], out_dir: str | os.PathLike, *,
                 msr_samples: Sequence[Sample], val_samples: Sequence[Sample] | None = None,
                 backbone: str | nn.Module = DEFAULT_BACKBONE, weights: str | os.PathLike | None = None,
                 config: TrainConfig | None = None, afr_params: dict[str, Any] | None = None,
                 test_transform: TestTransform | None = None, device: str | torch.device = "auto",
                 progress: bool = True) -> AblationResult:
    """Table IV of the paper on your data: baseline, w/o AFR (MSR only), w/o MSR (AFR only) and HRR.

    Two networks are trained (without MSR data and gamma = 0; with MSR data and the configured gamma); each is
    evaluated with its linear head and with AFR, which gives the four variants with no duplicated training.
    A custom ``nn.Module`` backbone is deep-copied for each network.
    """
    from hrr.detect._evaluate import evaluate

    config = config or TrainConfig()
    detectors, run_dirs = fit_ablation_detectors(
        train_samples, out_dir, msr_samples=msr_samples, val_samples=val_samples, backbone=backbone,
        weights=weights, config=config, afr_params=afr_params, device=device, progress=progress)
    results = {name: evaluate(det.predict_proba, test_samples, transform=test_transform,
                              batch_size=config.batch_size, progress=progress)
               for name, det in detectors.items()}
    return AblationResult(results=results, run_dirs=run_dirs)


def fit_ablation_detectors(train_samples: Sequence[Sample], out_dir: str | os.PathLike, *,
                           msr_samples: Sequence[Sample], val_samples: Sequence[Sample] | None = None,
                           backbone: str | nn.Module | Callable[[], nn.Module] = DEFAULT_BACKBONE,
                           weights: str | os.PathLike | None = None, config: TrainConfig | None = None,
                           afr_params: dict[str, Any] | None = None, device: str | torch.device = "auto",
                           progress: bool = True, seed: int | None = None
                           ) -> tuple[dict[str, HRRDetector], dict[str, Path]]:
    """The four Table IV detectors from two trainings, keyed by :data:`ABLATION_VARIANTS`, and their run folders.

    ``out_dir/plain``: no MSR data and gamma = 0 (baseline = its linear head, w/o MSR = its AFR);
    ``out_dir/msr``: MSR data and ``config.gamma`` (w/o AFR = linear head, HRR = AFR).

    Parameters
    ----------
    train_samples, msr_samples, val_samples : sequences of Sample
        As in :func:`fit_hrr`; only the second network sees ``msr_samples``.
    out_dir : path
        Receives the two run folders.
    backbone : str, nn.Module or callable
        A torchvision name, a module (deep-copied for each network) or a zero-argument factory of modules.
    weights, config, afr_params, device, progress :
        As in :func:`fit_hrr`.
    seed : int, optional
        Reseed the global RNG before each backbone is made, so both networks start from the same draw.

    Returns
    -------
    detectors : dict of str to HRRDetector
    run_dirs : dict of str to Path
    """
    import copy

    config = config or TrainConfig()
    out_dir = Path(out_dir)
    if isinstance(backbone, (str, nn.Module)):
        make_backbone: Callable[[], str | nn.Module] = (
            (lambda: copy.deepcopy(backbone)) if isinstance(backbone, nn.Module) else (lambda: backbone))
    elif callable(backbone):
        make_backbone = backbone
    else:
        raise TypeError(f"backbone must be a torchvision name, an nn.Module or a factory of modules; got "
                        f"{type(backbone).__name__}")
    runs = {"plain": (dataclasses.replace(config, gamma=0.0), ()), "msr": (config, tuple(msr_samples))}
    detectors: dict[str, HRRDetector] = {}
    run_dirs: dict[str, Path] = {}
    for key, (cfg, extra) in runs.items():
        if seed is not None:
            torch.manual_seed(seed)
        detector, _ = fit_hrr(train_samples, out_dir / key, val_samples=val_samples, msr_samples=extra,
                              backbone=make_backbone(), weights=weights, config=cfg, afr=True, afr_params=afr_params,
                              device=device, progress=progress)
        head_only = HRRDetector(detector.model, None, calibration=read_calibration(out_dir / key, "linear"),
                                device=detector.device)
        names = ("baseline", "w/o MSR") if key == "plain" else ("w/o AFR", "HRR")
        for name, det in zip(names, (head_only, detector), strict=True):
            detectors[name], run_dirs[name] = det, out_dir / key
    return {k: detectors[k] for k in ABLATION_VARIANTS}, run_dirs
