"""Sweeps of a detector over test-time settings: the multi-scale table (Table V) and JPEG / blur / scale
robustness curves, one :func:`hrr.detect.evaluate` per setting."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hrr._images import DEFAULT_MAX_PIXELS
from hrr._io import atomic_path
from hrr.data import FailureLog, Sample, TestTransform
from hrr.detect._evaluate import EvalResult, PredictFn, evaluate
from hrr.detect._tables import to_csv, to_json, to_markdown

__all__ = ["SweepResult", "multiscale_table", "robustness_sweep"]


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
