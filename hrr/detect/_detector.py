"""The finished HRR detector (Fig. 2): backbone features, refined by AFR when present, as a probability of
"generated". A run folder holds everything needed to reload it and predict."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hrr._device import resolve_device
from hrr._files import list_images
from hrr._images import load_image_or_none
from hrr._io import atomic_path
from hrr._pixels import check_image_array, check_image_batch
from hrr._version import __version__
from hrr.afr import CorrentropySAM
from hrr.detect import _run_folder as layout
from hrr.detect._calibrate import PlattScaling
from hrr.detect._metrics import is_generated
from hrr.detect._model import Detector, SmallCNN
from hrr.detect._train import save_model_weights

_META, _WEIGHTS, _AFR, _CALIBRATION = layout.DETECTOR_META, layout.WEIGHTS, layout.AFR, layout.CALIBRATION
_SMALL_CNN = "hrr.detect.SmallCNN"  # the one custom backbone a run folder may name and have rebuilt


@dataclasses.dataclass(frozen=True)
class DetectionResult:
    """One file's verdict: probability of "generated", whether it exceeds ``threshold``, or why it could not be read."""

    path: str
    probability: float | None
    generated: bool | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class HRRDetector:
    """Backbone + (optional) AFR refinement: the detector users load and query.

    Parameters
    ----------
    model : Detector
        The trained network.
    refiner : CorrentropySAM or CorrentropySAMCV, optional
        AFR fitted on ``model``'s features (its ``predict_proba`` and ``save`` are used); when absent the
        network's own head gives the probability.
    calibration : PlattScaling, optional
        Map from the active head's score (the linear head's logit, or AFR's decision value) to the probability,
        fitted on held-out images (:func:`~hrr.detect.fit_hrr` does this on the validation split). Without it the
        probability is the sigmoid of the logit, or AFR's own cross-fitted map.
    threshold : float, default=0.5
        Probability above which an image is called generated.
    max_side : int, default=2048
        Larger images are center-cropped to this side before inference (cropping keeps pixel-level traces that
        resizing would destroy; it bounds memory on huge files).
    device : "auto", "cpu" or "cuda"
    batch_size : int, default=16

    Examples
    --------
    >>> import torch
    >>> det = HRRDetector(Detector("resnet18"), device="cpu")
    >>> det.predict_proba(torch.rand(2, 3, 64, 64)).shape
    (2,)
    """

    def __init__(self, model: Detector, refiner: CorrentropySAM | None = None, *,
                 calibration: PlattScaling | None = None, threshold: float = 0.5, max_side: int = 2048,
                 device: str | torch.device = "auto", batch_size: int = 16) -> None:
        if not isinstance(model, nn.Module) or not hasattr(model, "forward_features"):
            raise TypeError("model must be an hrr.detect.Detector (or provide forward_features); got "
                            f"{type(model).__name__}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1); got {threshold!r}")
        if calibration is not None and not isinstance(calibration, PlattScaling):
            raise TypeError(f"calibration must be a fitted hrr.detect.PlattScaling or None; got "
                            f"{type(calibration).__name__}")
        if max_side < 32:
            raise ValueError(f"max_side must be at least 32 pixels; got {max_side!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.refiner = refiner
        self.calibration = calibration
        self.threshold = float(threshold)
        self.max_side = int(max_side)
        self.batch_size = int(batch_size)

    def __repr__(self) -> str:
        backbone = getattr(self.model, "backbone_name", None) or type(getattr(self.model, "backbone", None)).__name__
        head = "AFR (CorrentropySAM)" if self.refiner is not None else "linear head"
        calibrated = "Platt, held-out" if self.calibration is not None else "none"
        return (f"HRRDetector(backbone={backbone!r}, features={self.model.feature_dim}, head={head!r}, "
                f"calibration={calibrated!r}, "
                f"threshold={self.threshold:g}, max_side={self.max_side}, device='{self.device}')")

    # ---------------------------------------------------------------- inference on arrays / tensors
    def preprocess(self, image: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """The detector's one preprocessing step: center-crop to at most ``max_side`` x ``max_side`` (no resizing).

        Every input path goes through it (:meth:`predict_proba`, :meth:`features`, :meth:`predict_paths`, and so
        ``hrr eval`` / ``hrr detect`` / ``hrr explain``), so the same file gets the same probability everywhere.

        Parameters
        ----------
        image : numpy.ndarray (H, W, C) or torch.Tensor (..., C, H, W)

        Returns
        -------
        numpy.ndarray or torch.Tensor
            A view of ``image``; unchanged when both sides are at most ``max_side``.
        """
        if isinstance(image, torch.Tensor):
            h, w = image.shape[-2:]
        else:
            h, w = image.shape[:2]
        if h <= self.max_side and w <= self.max_side:
            return image
        top, left = max(0, (h - self.max_side) // 2), max(0, (w - self.max_side) // 2)
        rows, cols = slice(top, top + self.max_side), slice(left, left + self.max_side)
        return image[..., rows, cols] if isinstance(image, torch.Tensor) else image[rows, cols]

    def _as_batch(self, images: torch.Tensor | np.ndarray | Sequence[np.ndarray]) -> list[torch.Tensor]:
        if isinstance(images, torch.Tensor):
            images = check_image_batch(images, "images")
            return list(self.preprocess(images).split(self.batch_size))
        arrays = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
        # contiguous(): the memory layout of a stacked tensor batch, so both input kinds run the same kernels
        return [torch.from_numpy(self.preprocess(check_image_array(a, f"images[{i}]"))).permute(2, 0, 1)[None]
                .contiguous() for i, a in enumerate(arrays)]

    @torch.no_grad()
    def features(self, images: torch.Tensor | np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Backbone features (n, D) of images: a float tensor (B, 3, H, W) in [0, 1], or numpy HxWx3 arrays.

        Images pass through :meth:`preprocess` first.
        """
        out = [self.model.forward_features(b.to(self.device, torch.float32)).float().cpu().numpy()
               for b in self._as_batch(images)]
        return np.concatenate(out)

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor | np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Probability that each image is generated: the calibration map of the active head's score when the
        detector has one; else AFR's probability when it has a refiner, else the sigmoid of the linear head's logit.

        Parameters
        ----------
        images : torch.Tensor (B, 3, H, W) float in [0, 1], or numpy HxWx3 float in [0, 1], or a list of those arrays
            (list items may differ in size). Images pass through :meth:`preprocess` first, whatever their kind.

        Returns
        -------
        numpy.ndarray
            Shape ``(n,)``, values in [0, 1].
        """
        probs = []
        for batch in self._as_batch(images):
            logits, feats = self.model.forward_with_features(batch.to(self.device, torch.float32))
            if self.calibration is not None:
                probs.append(self.calibration.transform(self._scores(logits, feats)))
            elif self.refiner is None:
                probs.append(torch.sigmoid(logits.float()).cpu().numpy())
            else:
                probs.append(self.refiner.predict_proba(feats.float().cpu().numpy())[:, 1])
        return np.concatenate(probs)

    def _scores(self, logits: torch.Tensor, feats: torch.Tensor) -> np.ndarray:
        """The active head's uncalibrated score (n,): the logit, or AFR's decision value."""
        if self.refiner is None:
            return logits.float().cpu().numpy().astype(np.float64)
        return np.asarray(self.refiner.decision_function(feats.float().cpu().numpy()), dtype=np.float64)

    @torch.no_grad()
    def scores_of_features(self, features: np.ndarray) -> np.ndarray:
        """The active head's uncalibrated score (n,) of backbone features (n, D): what :attr:`calibration` maps."""
        feats = torch.as_tensor(np.asarray(features, dtype=np.float32), device=self.device)
        logits = self.model.head(feats).squeeze(1)
        return self._scores(logits, feats)

    def predict_paths(self, paths: str | os.PathLike | Iterable[str | os.PathLike], *, progress: bool = True
                      ) -> list[DetectionResult]:
        """One :class:`DetectionResult` per image file, in the order the paths are given.

        A folder is searched recursively and its images, sorted, take the folder's place in that order. Missing,
        unreadable, corrupt or oversized files, and folders without any image, get a result with ``error`` set
        instead of stopping the run.
        """
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        # (file, None) to score, or (path, reason) already known to fail; keeps the caller's order.
        entries: list[tuple[Path, str | None]] = []
        for p in paths:
            p = Path(p)
            if p.is_dir():
                try:
                    found = list_images(p)
                except OSError as exc:  # e.g. a folder we may not list
                    entries.append((p, f"cannot list folder: {exc.strerror or exc}"))
                    continue
                entries.extend((f, None) for f in found)
                if not found:
                    entries.append((p, "folder holds no image files"))
            elif p.exists():
                entries.append((p, None))
            else:
                entries.append((p, "file not found"))
        results: list[DetectionResult] = []
        n_files = sum(reason is None for _, reason in entries)
        with tqdm(total=n_files, desc="detect", disable=not progress, leave=False) as bar:
            for f, reason in entries:
                if reason is not None:
                    results.append(DetectionResult(str(f), None, None, reason))
                    continue
                bar.update(1)
                image, reason = load_image_or_none(f)
                if image is None:
                    results.append(DetectionResult(str(f), None, None, reason))
                    continue
                try:
                    prob = float(self.predict_proba(image)[0])
                except (RuntimeError, ValueError) as exc:  # e.g. too small for the backbone, out of memory
                    message = " ".join(str(exc).split())  # one line: results are printed one per line
                    results.append(DetectionResult(str(f), None, None, f"inference failed: {message}"))
                    continue
                results.append(DetectionResult(str(f), prob, is_generated(prob, self.threshold)))
        return results

    # ---------------------------------------------------------------- run folder
    def save(self, run_dir: str | os.PathLike) -> None:
        """Write ``detector.json``, ``model.safetensors``, (with AFR) ``afr.safetensors`` and (when calibrated) the
        active head's entry of ``calibration.json`` into ``run_dir``."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        backbone = getattr(self.model, "backbone_name", None)
        module = getattr(self.model, "backbone", None)
        meta = {"hrr_version": __version__, "backbone": backbone, "feature_dim": self.model.feature_dim,
                "normalize": self.model.normalize, "threshold": self.threshold, "max_side": self.max_side,
                "afr": self.refiner is not None}
        if backbone is None and module is not None:  # a custom module: name its class (and rebuild SmallCNN)
            meta["backbone_class"] = f"{type(module).__module__}.{type(module).__qualname__}"
            if isinstance(module, SmallCNN):
                meta["backbone_class"], meta["backbone_config"] = _SMALL_CNN, module.config()
        save_model_weights(self.model, run_dir / _WEIGHTS)
        if self.refiner is not None:
            self.refiner.save(run_dir / _AFR)
        elif (run_dir / _AFR).exists():
            (run_dir / _AFR).unlink()
        write_calibration(run_dir, "afr" if self.refiner is not None else "linear", self.calibration)
        with atomic_path(run_dir / _META) as tmp:
            Path(tmp).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, run_dir: str | os.PathLike, *, backbone: nn.Module | None = None, device: str = "auto",
             use_afr: bool = True, **kwargs: Any) -> HRRDetector:
        """Reload a detector from a run folder (no code is executed: safetensors + JSON only).

        ``backbone`` must be given when the run was trained with a custom ``nn.Module`` (the error names its
        class); :class:`SmallCNN` runs rebuild it from ``detector.json``.

        Raises
        ------
        FileNotFoundError
            ``run_dir`` lacks ``detector.json`` or ``model.safetensors`` (it is not a finished ``hrr train`` run).
        ValueError
            ``detector.json`` is unreadable or incomplete, or the weights do not fit the network it describes.
        """
        run_dir = Path(run_dir)
        meta_path = run_dir / _META
        if not run_dir.is_dir():
            raise FileNotFoundError(f"run folder {str(run_dir)!r} does not exist (give the --out folder of a "
                                    "finished `hrr train`)")
        if not meta_path.is_file():
            raise FileNotFoundError(f"{run_dir} is not an hrr run folder: {_META} is missing "
                                    "(give the --out folder of a finished `hrr train`)")
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise ValueError(f"{meta_path} is not valid JSON ({exc}); re-save the run with HRRDetector.save "
                             "or retrain it") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_path} must hold a JSON object; got {type(meta).__name__}")
        missing = [k for k in ("backbone", "feature_dim", "normalize", "threshold", "max_side", "afr") if k not in meta]
        if missing:
            raise ValueError(f"{meta_path} lacks {', '.join(missing)}; re-save the run with HRRDetector.save "
                             "or retrain it")
        if meta["backbone"] is None and backbone is None:
            if meta.get("backbone_class") == _SMALL_CNN:
                backbone = SmallCNN(**meta.get("backbone_config", {}))
            else:
                what = f" ({meta['backbone_class']})" if meta.get("backbone_class") else ""
                raise ValueError(f"the run in {run_dir} used a custom backbone{what}; pass an instance of the same "
                                 "nn.Module as backbone= (HRRDetector.load in Python)")
        if not (run_dir / _WEIGHTS).is_file():
            raise FileNotFoundError(f"{run_dir} is not a finished hrr run: {_WEIGHTS} is missing")
        model = Detector(backbone if backbone is not None else meta["backbone"], feature_dim=meta["feature_dim"],
                         normalize=meta["normalize"])
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            model.load_state_dict(load_file(str(run_dir / _WEIGHTS)))
        except (RuntimeError, SafetensorError) as exc:  # wrong shapes / keys (another backbone), or a damaged file
            first = str(exc).strip().splitlines()[0]
            raise ValueError(f"{run_dir / _WEIGHTS} does not fit the network in {_META} ({first}); pass the "
                             "backbone the run was trained with, or retrain") from None
        refiner = CorrentropySAM.load(run_dir / _AFR) if (use_afr and meta["afr"]) else None
        calibration = read_calibration(run_dir, "afr" if refiner is not None else "linear")
        if calibration is not None:
            kwargs.setdefault("calibration", calibration)
        kwargs.setdefault("threshold", meta["threshold"])
        kwargs.setdefault("max_side", meta["max_side"])
        return cls(model, refiner, device=device, **kwargs)


def _read_calibration(run_dir: Path) -> dict[str, Any]:
    """``calibration.json`` of a run folder: ``{"linear": {...}, "afr": {...}}``, one entry per calibrated head."""
    path = run_dir / _CALIBRATION
    if not path.is_file():
        return {}
    try:
        maps = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); delete it to use uncalibrated probabilities") from None
    if not isinstance(maps, dict):
        raise ValueError(f"{path} must hold a JSON object with 'linear' and/or 'afr' entries; got "
                         f"{type(maps).__name__}")
    return maps


def write_calibration(run_dir: Path, head: str, calibration: PlattScaling | None) -> None:
    """Set (or, with None, remove) the ``head`` ("linear" or "afr") entry of ``calibration.json``, atomically."""
    maps = _read_calibration(run_dir)
    if calibration is not None:
        maps[head] = calibration.to_dict()
    else:
        maps.pop(head, None)
    if maps:
        with atomic_path(run_dir / _CALIBRATION) as tmp:
            Path(tmp).write_text(json.dumps(maps, indent=2))
    else:
        (run_dir / _CALIBRATION).unlink(missing_ok=True)


def read_calibration(run_dir: str | os.PathLike, head: str) -> PlattScaling | None:
    """The ``head`` ("linear" or "afr") map of a run folder's ``calibration.json``, or None."""
    entry = _read_calibration(Path(run_dir)).get(head)
    return PlattScaling.from_dict(entry) if entry is not None else None
