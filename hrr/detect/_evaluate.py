"""Evaluate any "probability of generated" function on labelled images: per-generator tables, scale/JPEG/blur sweeps.

The detector is just ``predict_fn(images) -> probabilities`` on float tensors ``(B, 3, H, W)`` in [0, 1], so the
same code evaluates the HRR model, a baseline, or a hand-written rule. Images are not cropped by default (HRR
Table V: "All test data is not operated with crop"): batches are formed from images of equal size, known from the
file headers before decoding. Files that cannot be read are reported, never fatal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from hrr._images import DEFAULT_MAX_PIXELS
from hrr._io import atomic_path
from hrr.data import FailureLog, ImageDataset, Sample, SizeBucketSampler, TestTransform, check_samples, read_sizes
from hrr.detect._metrics import calibration_metrics, detection_metrics, is_generated, per_group_table
from hrr.detect._tables import plot_pr_curves, plot_reliability, to_csv, to_json, to_markdown

__all__ = ["EvalResult", "PredictFn", "evaluate"]

PredictFn = Callable[[torch.Tensor], Any]
"""``predict_fn(images)``: images float32 ``(B, 3, H, W)`` in [0, 1] -> probability of "generated", shape (B,)."""


@dataclass
class EvalResult:
    """Predictions of one evaluation run, in the order of the samples evaluated (failed files left out).

    Attributes
    ----------
    paths : list of str
    labels : numpy.ndarray
        ``(n,)`` int64, 0 real / 1 fake.
    groups : list of str
        Group (generator) of each prediction.
    probs : numpy.ndarray
        ``(n,)`` float64 probability of "generated".
    failures : list of (str, str)
        ``(path, reason)`` of files that could not be evaluated.
    threshold : float
        Decision threshold for the accuracies.
    setting : str
        The test transform as a short label (e.g. ``"scale=0.5"``, ``"identity"``).
    setting_in_words : str
        The same in plain words for figure titles (e.g. ``"downscaled to 0.5x"``, ``"images as given"``).
    """

    paths: list[str]
    labels: np.ndarray
    groups: list[str]
    probs: np.ndarray
    failures: list[tuple[str, str]] = field(default_factory=list)
    threshold: float = 0.5
    setting: str = "identity"
    setting_in_words: str = "images as given"

    def __len__(self) -> int:
        return len(self.paths)

    def _require_predictions(self) -> None:
        if len(self.paths) == 0:
            raise ValueError(
                f"no image could be evaluated ({len(self.failures)} failures, e.g. "
                f"{self.failures[0] if self.failures else 'no samples'}); nothing to score"
            )

    def metrics(self) -> dict[str, float | int]:
        """:func:`detection_metrics` of all predictions pooled."""
        self._require_predictions()
        return detection_metrics(self.labels, self.probs, self.threshold)

    def calibration(self) -> dict[str, float]:
        """:func:`calibration_metrics` of all predictions pooled: ECE, Brier score, mean probability."""
        self._require_predictions()
        return calibration_metrics(self.labels, self.probs)

    def table(self, *, order: Sequence[str] | None = None, pooled: bool = False) -> list[dict[str, Any]]:
        """:func:`per_group_table`: one row per group and a final unweighted ``"mean"`` row."""
        self._require_predictions()
        return per_group_table(self.labels, self.probs, self.groups, self.threshold, order=order, pooled=pooled)

    def predictions(self) -> list[dict[str, Any]]:
        """One ``{"path", "group", "label", "prob", "pred"}`` row per evaluated image."""
        return [
            {"path": p, "group": g, "label": int(y), "prob": float(q), "pred": int(is_generated(q, self.threshold))}
            for p, g, y, q in zip(self.paths, self.groups, self.labels, self.probs, strict=True)
        ]

    def save(self, out_dir: str | os.PathLike[str], *, prefix: str = "") -> dict[str, Path]:
        """Write ``metrics.md``, ``metrics.csv``, ``metrics.json``, ``predictions.csv``, ``failures.csv`` and
        ``pr_curves.png`` and ``reliability.png`` (each name preceded by ``prefix``) into ``out_dir``, atomically.

        Parameters
        ----------
        out_dir : str or path-like
            Created if missing.
        prefix : str
            Prepended to every file name (e.g. ``"jpeg75_"``).

        Returns
        -------
        dict of str to Path
            What was written, by kind.
        """
        self._require_predictions()
        out = Path(out_dir)
        rows = self.table()
        written: dict[str, Path] = {}
        md = f"Evaluation ({self.setting}; threshold {self.threshold:g}; {len(self)} images"
        md += f", {len(self.failures)} unreadable)\n\n" + to_markdown(rows) + "\n"
        cal = self.calibration()
        md += (f"\nCalibration (all images pooled): ECE {cal['ece']:.4f}, Brier {cal['brier']:.4f}, "
               f"mean probability {cal['mean_prob']:.4f}\n")
        with atomic_path(out / f"{prefix}metrics.md") as tmp:
            tmp.write_text(md, encoding="utf-8")
        written["markdown"] = out / f"{prefix}metrics.md"
        written["csv"] = to_csv(rows, out / f"{prefix}metrics.csv")
        written["json"] = to_json(rows, out / f"{prefix}metrics.json")
        written["predictions"] = to_csv(self.predictions(), out / f"{prefix}predictions.csv")
        written["failures"] = FailureLog(self.failures).to_csv(out / f"{prefix}failures.csv")
        title = f"Finding the generated images, per generator ({self.setting_in_words})"
        written["pr_curves"] = plot_pr_curves(self.labels, self.probs, self.groups, out / f"{prefix}pr_curves.png",
                                              title=title)
        written["reliability"] = plot_reliability(
            self.labels, self.probs, out / f"{prefix}reliability.png",
            title=f"Are the probabilities right? ({self.setting_in_words})")
        return written


def _as_probabilities(output: Any, batch: int) -> np.ndarray:
    if isinstance(output, torch.Tensor):
        output = output.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(output, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (batch,):
        raise ValueError(
            f"predict_fn must return one probability of 'generated' per image, shape ({batch},); "
            f"got shape {arr.shape} for a batch of {batch}"
        )
    if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(
            "predict_fn must return probabilities in [0, 1] (apply torch.sigmoid to logits); "
            f"got values in [{np.nanmin(arr):.4g}, {np.nanmax(arr):.4g}]"
        )
    return arr


def _collate_items(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch  # stacking happens per image size in the main loop


def _check_batch_args(batch_size: Any, num_workers: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0; got {num_workers!r}")


def evaluate(
    predict_fn: PredictFn,
    samples: Sequence[Sample],
    *,
    transform: TestTransform | None = None,
    batch_size: int = 32,
    num_workers: int = 0,
    progress: bool = True,
    threshold: float = 0.5,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> EvalResult:
    """Run ``predict_fn`` over labelled images and collect the predictions.

    Parameters
    ----------
    predict_fn : callable
        ``predict_fn(images) -> probs``: ``images`` is a float32 tensor ``(B, 3, H, W)`` in [0, 1] on the CPU
        (move it to your device inside); ``probs`` (numpy array or tensor, shape ``(B,)`` or ``(B, 1)``) is the
        probability that each image is generated. Called under ``torch.no_grad()``.
    samples : sequence of Sample
        E.g. ``scan_dataset(root, split="test")``.
    transform : TestTransform, optional
        Resize / blur / JPEG / center crop applied to every image; default: none (no crop).
    batch_size : int, default 32
        Largest batch; batches only ever hold images of one size.
    num_workers : int, default 0
        DataLoader worker processes for decoding.
    progress : bool, default True
        Show a tqdm bar over images.
    threshold : float, default 0.5
        Decision threshold for accuracies.
    max_pixels : int or None
        Decompression-bomb guard; larger images are reported as failures.

    Returns
    -------
    EvalResult
        Predictions in sample order; unreadable files in ``failures``.

    Examples
    --------
    >>> samples = scan_dataset("ForenSynths/test")  # doctest: +SKIP
    >>> result = evaluate(lambda x: torch.sigmoid(model(x.to(dev))).squeeze(1), samples)  # doctest: +SKIP
    >>> print(to_markdown(result.table(), ["group", "acc", "ap"]))  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    if not callable(predict_fn):
        raise TypeError(
            f"predict_fn must be callable as predict_fn(images (B,3,H,W) in [0,1]) -> (B,) probabilities; "
            f"got {type(predict_fn).__name__}"
        )
    samples = check_samples(samples)
    if not samples:
        raise ValueError("samples is empty; nothing to evaluate")
    if transform is None:
        transform = TestTransform()
    if not isinstance(transform, TestTransform):
        raise TypeError(f"transform must be a hrr.data.TestTransform or None; got {type(transform).__name__}")
    _check_batch_args(batch_size, num_workers)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1]; got {threshold!r}")

    sizes, failures = read_sizes(samples, transform.output_size, max_pixels=max_pixels)
    dataset = ImageDataset(samples, transform, seed=0, max_pixels=max_pixels)
    loader = DataLoader(
        dataset,
        batch_sampler=SizeBucketSampler(sizes, int(batch_size)),
        num_workers=int(num_workers),
        collate_fn=_collate_items,
    )
    probs: dict[int, float] = {}
    with tqdm(total=len(samples), unit="img", desc=f"eval {transform.describe()}", disable=not progress) as bar:
        bar.update(len(failures))
        for items in loader:
            by_shape: dict[tuple[int, ...], list[dict[str, Any]]] = {}
            for item in items:
                if "error" in item:
                    failures.append((str(item["path"]), str(item["error"])))
                else:
                    # Headers can disagree with the decoded pixels (e.g. a late PNG eXIf chunk): regroup.
                    by_shape.setdefault(tuple(item["image"].shape), []).append(item)
            for group in by_shape.values():
                images = torch.stack([it["image"] for it in group])
                with torch.no_grad():
                    out = _as_probabilities(predict_fn(images), len(group))
                for it, q in zip(group, out, strict=True):
                    probs[int(it["index"])] = float(q)
            bar.update(len(items))

    kept = sorted(probs)
    failures.sort(key=lambda f: f[0])
    return EvalResult(
        paths=[str(samples[i].path) for i in kept],
        labels=np.asarray([samples[i].label for i in kept], dtype=np.int64),
        groups=[samples[i].group for i in kept],
        probs=np.asarray([probs[i] for i in kept], dtype=np.float64),
        failures=failures,
        threshold=float(threshold),
        setting=transform.describe(),
        setting_in_words=transform.describe_plainly(),
    )








