"""Evaluate any "probability of generated" function on labelled images: per-generator tables, scale/JPEG/blur sweeps.

The detector is just ``predict_fn(images) -> probabilities`` on float tensors ``(B, 3, H, W)`` in [0, 1], so the
same code evaluates the HRR model, a baseline, or a hand-written rule. Images are not cropped by default (HRR
Table V: "All test data is not operated with crop"): batches are formed from images of equal size, known from the
file headers before decoding. Files that cannot be read are reported, never fatal.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader

from hrr._images import DEFAULT_MAX_PIXELS
from hrr._io import atomic_path
from hrr.data import FailureLog, ImageDataset, Sample, SizeBucketSampler, TestTransform, check_samples, read_sizes
from hrr.detect._metrics import (
    detection_metrics,
    is_generated,
    per_group_table,
    plot_pr_curves,
    to_csv,
    to_json,
    to_markdown,
)

__all__ = ["EvalResult", "SweepResult", "evaluate", "multiscale_table", "robustness_sweep"]

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
        The test transform, in words (e.g. ``"scale=0.5"``, ``"identity"``).
    """

    paths: list[str]
    labels: np.ndarray
    groups: list[str]
    probs: np.ndarray
    failures: list[tuple[str, str]] = field(default_factory=list)
    threshold: float = 0.5
    setting: str = "identity"

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
        ``pr_curves.png`` (each name preceded by ``prefix``) into ``out_dir``, atomically.

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
        with atomic_path(out / f"{prefix}metrics.md") as tmp:
            tmp.write_text(md, encoding="utf-8")
        written["markdown"] = out / f"{prefix}metrics.md"
        written["csv"] = to_csv(rows, out / f"{prefix}metrics.csv")
        written["json"] = to_json(rows, out / f"{prefix}metrics.json")
        written["predictions"] = to_csv(self.predictions(), out / f"{prefix}predictions.csv")
        written["failures"] = FailureLog(self.failures).to_csv(out / f"{prefix}failures.csv")
        written["pr_curves"] = plot_pr_curves(
            self.labels, self.probs, self.groups, out / f"{prefix}pr_curves.png", title=f"PR curves ({self.setting})"
        )
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
    )


@dataclass
class SweepResult:
    """Evaluations of the same samples under several test transforms (a robustness or multi-scale sweep).

    Attributes
    ----------
    kind : str
        What varies: ``"scale"``, ``"size"``, ``"jpeg"`` or ``"blur"``.
    values : list
        The swept values, one per evaluation (None = unperturbed).
    results : list of EvalResult
        One per value.
    """

    kind: str
    values: list[Any]
    results: list[EvalResult]

    def _label(self, value: Any) -> str:
        if value is None:
            return "none"
        if isinstance(value, tuple):
            return f"{value[0]}x{value[1]}"
        if self.kind == "size":
            return f"{value}x{value}"
        return f"{value:g}" if isinstance(value, float) else str(value)

    def table(self) -> list[dict[str, Any]]:
        """Wide rows, one per value: ``{kind, "<group>/acc", "<group>/ap", ..., "mean/acc", "mean/ap"}``.

        Groups are in the order of the first evaluation; each ``mean`` is the unweighted mean over groups.
        """
        order = [r["group"] for r in self.results[0].table()[:-1]]
        rows = []
        for value, result in zip(self.values, self.results, strict=True):
            by_group = {r["group"]: r for r in result.table()}
            row: dict[str, Any] = {self.kind: self._label(value)}
            for name in [*order, "mean"]:
                stats = by_group.get(name)
                row[f"{name}/acc"] = stats["acc"] if stats else math.nan
                row[f"{name}/ap"] = stats["ap"] if stats else math.nan
            rows.append(row)
        return rows

    def to_markdown(self, metric: Literal["acc", "ap"] = "acc", *, digits: int = 2) -> str:
        """Paper-style table (HRR Table V): one column per group for ``metric``, then mean Acc and mean AP."""
        if metric not in ("acc", "ap"):
            raise ValueError(f"metric must be 'acc' or 'ap'; got {metric!r}")
        rows = self.table()
        groups = [c[: -len("/acc")] for c in rows[0] if c.endswith("/acc") and c != "mean/acc"]
        cols = [self.kind, *(f"{g}/{metric}" for g in groups), "mean/acc", "mean/ap"]
        return to_markdown(rows, cols, digits=digits)

    def save(self, out_dir: str | os.PathLike[str], *, name: str | None = None) -> dict[str, Path]:
        """Write ``<name>.md`` (Acc and AP tables), ``<name>.csv``, ``<name>.json`` and ``<name>_failures.csv``.

        ``name`` defaults to ``f"sweep_{kind}"``. Returns what was written, by kind.
        """
        out = Path(out_dir)
        stem = name or f"sweep_{self.kind}"
        rows = self.table()
        md = (
            f"## {self.kind} sweep: accuracy (%)\n\n{self.to_markdown('acc')}\n\n"
            f"## {self.kind} sweep: average precision (%)\n\n{self.to_markdown('ap')}\n"
        )
        with atomic_path(out / f"{stem}.md") as tmp:
            tmp.write_text(md, encoding="utf-8")
        log = FailureLog()
        for r in self.results:
            log.extend(r.failures)
        with atomic_path(out / f"{stem}_failures.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "reason"])
            writer.writerows(log)
        return {
            "markdown": out / f"{stem}.md",
            "csv": to_csv(rows, out / f"{stem}.csv"),
            "json": to_json(rows, out / f"{stem}.json"),
            "failures": out / f"{stem}_failures.csv",
        }


def _run_sweep(
    predict_fn: PredictFn,
    samples: Sequence[Sample],
    kind: str,
    values: Sequence[Any],
    transforms: list[TestTransform],
    **kwargs: Any,
) -> SweepResult:
    results = [evaluate(predict_fn, samples, transform=t, **kwargs) for t in transforms]
    for value, result in zip(values, results, strict=True):
        if len(result) == 0:
            raise ValueError(f"no image could be evaluated at {kind}={value!r}; failures: {result.failures[:3]}")
    return SweepResult(kind=kind, values=list(values), results=results)


def multiscale_table(
    predict_fn: PredictFn,
    samples: Sequence[Sample],
    scales: Sequence[float] = (1.0, 0.5, 0.25),
    *,
    sizes: Sequence[int | tuple[int, int]] | None = None,
    center_crop: int | None = None,
    batch_size: int = 32,
    num_workers: int = 0,
    progress: bool = True,
    threshold: float = 0.5,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> SweepResult:
    """Multi-scale evaluation (HRR Table V): rows = scale, columns = generators + mean, Acc and AP; no crop.

    Parameters
    ----------
    predict_fn : callable
        See :func:`evaluate`; images are float32 ``(B, 3, H, W)`` in [0, 1].
    samples : sequence of Sample
    scales : sequence of float, default (1.0, 0.5, 0.25)
        Resize factors (area averaging down, bicubic up). Ignored when ``sizes`` is given.
    sizes : sequence of int or (int, int), optional
        Absolute test sizes instead, e.g. ``(512, 256, 128, 64)`` as in Table V (square) or ``(H, W)`` pairs.
    center_crop : int, optional
        Crop after resizing (off by default, as in Table V).
    batch_size, num_workers, progress, threshold, max_pixels
        As in :func:`evaluate`.

    Returns
    -------
    SweepResult
        ``kind`` is ``"scale"`` or ``"size"``; ``.to_markdown("acc")`` prints the Table V layout.

    Examples
    --------
    >>> sweep = multiscale_table(predict, samples, sizes=(512, 256, 128, 64))  # doctest: +SKIP
    >>> print(sweep.to_markdown("acc"))  # doctest: +SKIP
    """
    kw = {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "progress": progress,
        "threshold": threshold,
        "max_pixels": max_pixels,
    }
    if sizes is not None:
        values = list(sizes)
        if not values:
            raise ValueError("sizes is empty; give at least one test size")
        transforms = [TestTransform(size=s, center_crop=center_crop) for s in values]
        return _run_sweep(predict_fn, samples, "size", values, transforms, **kw)
    values = list(scales)
    if not values:
        raise ValueError("scales is empty; give at least one resize factor")
    transforms = [TestTransform(scale=s, center_crop=center_crop) for s in values]
    return _run_sweep(predict_fn, samples, "scale", values, transforms, **kw)


def robustness_sweep(
    predict_fn: PredictFn,
    samples: Sequence[Sample],
    kind: Literal["jpeg", "blur", "scale"],
    values: Sequence[float | int | None],
    *,
    center_crop: int | None = None,
    batch_size: int = 32,
    num_workers: int = 0,
    progress: bool = True,
    threshold: float = 0.5,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> SweepResult:
    """Accuracy and AP per generator as one degradation grows (JPEG quality, blur sigma or resize factor).

    Parameters
    ----------
    predict_fn : callable
        See :func:`evaluate`; images are float32 ``(B, 3, H, W)`` in [0, 1].
    samples : sequence of Sample
    kind : {"jpeg", "blur", "scale"}
        Which :class:`TestTransform` parameter to vary (``jpeg_quality``, ``blur_sigma``, ``scale``).
    values : sequence
        Values of that parameter; None evaluates the unperturbed images (a "clean" reference row).
    center_crop : int, optional
        Crop after the degradation (off by default).
    batch_size, num_workers, progress, threshold, max_pixels
        As in :func:`evaluate`.

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> sweep = robustness_sweep(predict, samples, "jpeg", [None, 95, 75, 50])  # doctest: +SKIP
    """
    params = {"jpeg": "jpeg_quality", "blur": "blur_sigma", "scale": "scale"}
    if kind not in params:
        raise ValueError(f"kind must be one of {sorted(params)}; got {kind!r}")
    values = list(values)
    if not values:
        raise ValueError(f"values is empty; give at least one {params[kind]}")
    transforms = [TestTransform(center_crop=center_crop, **{params[kind]: v}) for v in values]
    return _run_sweep(
        predict_fn,
        samples,
        kind,
        values,
        transforms,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
        threshold=threshold,
        max_pixels=max_pixels,
    )
