"""A torch ``Dataset`` over :class:`Sample` lists that never crashes on a bad file, plus batching helpers.

- :class:`ImageDataset` derives each item's random generator from ``(seed, epoch, index)``: augmentation is the
  same whatever the worker count, the worker an item lands on, or the order items are visited in.
- Bad files (empty, truncated, not an image, too large/small) come back as ``{"error": reason, ...}`` items;
  :func:`collate_skip_bad` drops them from the batch and reports them in :attr:`Batch.failures`.
- :class:`SizeBucketSampler` batches only images of equal (transformed) size, known from file headers, so
  un-cropped test images of mixed resolutions can be evaluated in batches.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from hrr._images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image_or_none, read_image_size
from hrr._io import atomic_path
from hrr.data._layouts import Sample

__all__ = [
    "Batch",
    "FailureLog",
    "ImageDataset",
    "SizeBucketSampler",
    "check_samples",
    "collate_skip_bad",
    "read_sizes",
]

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def check_samples(samples: Any, name: str = "samples") -> list[Sample]:
    """Return ``samples`` as a list of :class:`Sample`, or raise TypeError naming ``name`` and what was given.

    Examples
    --------
    >>> check_samples([Sample(Path("a.png"), 0, "g")])[0].label
    0
    """
    if isinstance(samples, (str, os.PathLike)) or not isinstance(samples, Iterable):
        raise TypeError(f"{name} must be a list of hrr.data.Sample (see scan_dataset); got {type(samples).__name__}")
    out = list(samples)
    bad = next((s for s in out if not isinstance(s, Sample)), None)
    if bad is not None:
        raise TypeError(f"{name} must hold hrr.data.Sample objects (see scan_dataset); found {type(bad).__name__}")
    return out


def _check_nonneg_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
    return int(value)


class ImageDataset(Dataset):
    """Load, transform and tensorise the images of a list of :class:`Sample`.

    Parameters
    ----------
    samples : sequence of Sample
        What to load (e.g. from :func:`hrr.data.scan_dataset`).
    transform : callable, optional
        ``transform(image, rng) -> image`` on float32 ``(H, W, 3)`` arrays in [0, 1], e.g.
        :class:`hrr.data.TrainAugment` or :class:`hrr.data.TestTransform`. None returns the decoded image.
    seed : int
        Base seed; the generator passed to ``transform`` for item ``i`` is seeded by ``(seed, epoch, i)``.
    max_pixels : int or None
        Decompression-bomb guard passed to :func:`hrr._images.load_image`.

    Examples
    --------
    >>> ds = ImageDataset(scan_dataset("data/test"), TestTransform(), seed=0)  # doctest: +SKIP
    >>> item = ds[0]  # doctest: +SKIP
    >>> item["image"].shape  # (3, H, W) float32 in [0, 1]  # doctest: +SKIP
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Transform | None = None,
        *,
        seed: int = 0,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.samples = check_samples(samples)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable as transform(image, rng) or None; got {transform!r}")
        self.transform = transform
        self.seed = _check_nonneg_int("seed", seed)
        self.max_pixels = max_pixels
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (call before each epoch, in the main process)."""
        self.epoch = _check_nonneg_int("epoch", epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def rng(self, index: int) -> np.random.Generator:
        """The generator item ``index`` is transformed with in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Return ``{"image": (3, H, W) float32 tensor in [0, 1], "label", "index", "path"}``, or
        ``{"error": reason, "index", "path"}`` when the file cannot be decoded (never raises for a bad file)."""
        if not 0 <= index < len(self.samples):
            raise IndexError(f"index {index} out of range for a dataset of {len(self.samples)} samples")
        sample = self.samples[index]
        image, reason = load_image_or_none(sample.path, max_pixels=self.max_pixels)
        if image is None:
            return {"error": reason, "index": index, "path": str(sample.path)}
        if self.transform is not None:
            image = self.transform(image, self.rng(index))
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))
        return {"image": tensor, "label": sample.label, "index": index, "path": str(sample.path)}


@dataclass
class Batch:
    """A collated batch with the bad files left out.

    Attributes
    ----------
    images : torch.Tensor
        ``(B, 3, H, W)`` float32 in [0, 1]; ``B`` may be 0 when every item failed.
    labels : torch.Tensor
        ``(B,)`` int64, 0 real / 1 fake.
    indices : torch.Tensor
        ``(B,)`` int64 dataset indices of the rows of ``images``.
    failures : list of (str, str)
        ``(path, reason)`` of the items dropped from this batch.
    """

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    failures: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        """Move the tensors to ``device``."""
        return Batch(
            self.images.to(device, non_blocking=non_blocking),
            self.labels.to(device, non_blocking=non_blocking),
            self.indices.to(device, non_blocking=non_blocking),
            list(self.failures),
        )

    def pin_memory(self) -> Batch:
        """Page-lock the tensors (called by ``DataLoader(pin_memory=True)``)."""
        return Batch(self.images.pin_memory(), self.labels.pin_memory(), self.indices.pin_memory(), self.failures)


def collate_skip_bad(batch: Sequence[dict[str, Any]]) -> Batch:
    """``collate_fn`` for :class:`ImageDataset`: stack the good items, report the bad ones.

    Parameters
    ----------
    batch : sequence of dict
        Items from :meth:`ImageDataset.__getitem__`.

    Returns
    -------
    Batch
        Good items stacked in their original order; ``failures`` lists ``(path, reason)`` of the others.

    Raises
    ------
    ValueError
        Good items have different sizes (crop them, or batch with :class:`SizeBucketSampler`).

    Examples
    --------
    >>> loader = DataLoader(ds, batch_size=64, collate_fn=collate_skip_bad)  # doctest: +SKIP
    """
    good = [item for item in batch if "error" not in item]
    failures = [(str(item["path"]), str(item["error"])) for item in batch if "error" in item]
    if not good:
        return Batch(
            torch.empty((0, 3, 0, 0), dtype=torch.float32),
            torch.empty((0,), dtype=torch.int64),
            torch.empty((0,), dtype=torch.int64),
            failures,
        )
    shapes = {tuple(item["image"].shape) for item in good}
    if len(shapes) > 1:
        raise ValueError(
            f"cannot stack images of different sizes {sorted(shapes)} into one batch; crop them to one size "
            "(TrainAugment(crop_size=...), TestTransform(center_crop=...)) or batch with SizeBucketSampler"
        )
    return Batch(
        torch.stack([item["image"] for item in good]),
        torch.tensor([int(item["label"]) for item in good], dtype=torch.int64),
        torch.tensor([int(item["index"]) for item in good], dtype=torch.int64),
        failures,
    )


def read_sizes(
    samples: Sequence[Sample],
    output_size: Callable[[int, int], tuple[int, int]] | None = None,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[list[tuple[int, int] | None], list[tuple[str, str]]]:
    """Sizes of the images as a transform will output them, from the file headers only (no decoding).

    Parameters
    ----------
    samples : sequence of Sample
    output_size : callable, optional
        ``(H, W) -> (H', W')``, e.g. ``TestTransform(...).output_size``. None keeps the stored size.
    max_pixels : int or None
        Decompression-bomb guard; larger images count as failures.

    Returns
    -------
    sizes : list of (int, int) or None
        One entry per sample; None where the header could not be read.
    failures : list of (str, str)
        ``(path, reason)`` for every None in ``sizes``.

    Examples
    --------
    >>> sizes, failures = read_sizes(samples, TestTransform(scale=0.5).output_size)  # doctest: +SKIP
    """
    samples = check_samples(samples)
    sizes: list[tuple[int, int] | None] = []
    failures: list[tuple[str, str]] = []
    for s in samples:
        try:
            h, w = read_image_size(s.path, max_pixels=max_pixels)
        except ImageLoadError as exc:
            sizes.append(None)
            failures.append((str(s.path), exc.reason))
            continue
        sizes.append(tuple(output_size(h, w)) if output_size is not None else (h, w))  # type: ignore[arg-type]
    return sizes, failures


class SizeBucketSampler(Sampler[list[int]]):
    """Batch sampler that puts only indices of equal image size into one batch.

    Parameters
    ----------
    sizes : sequence of (int, int) or None
        Size of each dataset item as it will be batched (see :func:`read_sizes`); None items are left out
        (they were reported as failures up front).
    batch_size : int
        Largest batch; the last batch of each size bucket may be smaller.
    shuffle : bool
        Shuffle indices within buckets and the order of batches, reproducibly from ``(seed, epoch)``.
        Otherwise buckets go in order of size and indices in increasing order.
    seed : int
        Base seed for ``shuffle``.
    drop_last : bool
        Drop each bucket's incomplete last batch.

    Examples
    --------
    >>> list(SizeBucketSampler([(4, 4), (8, 8), (4, 4), None], batch_size=2))
    [[0, 2], [1]]
    """

    def __init__(
        self,
        sizes: Sequence[tuple[int, int] | None],
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = _check_nonneg_int("seed", seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        buckets: dict[tuple[int, int], list[int]] = {}
        for i, size in enumerate(sizes):
            if size is None:
                continue
            if len(size) != 2:
                raise ValueError(f"sizes[{i}] must be an (H, W) pair or None; got {size!r}")
            buckets.setdefault((int(size[0]), int(size[1])), []).append(i)
        self.buckets = dict(sorted(buckets.items()))

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of ``epoch``."""
        self.epoch = _check_nonneg_int("epoch", epoch)

    def _batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch]) if self.shuffle else None
        batches: list[list[int]] = []
        for indices in self.buckets.values():
            order = list(rng.permutation(indices)) if rng is not None else indices
            for start in range(0, len(order), self.batch_size):
                chunk = [int(i) for i in order[start : start + self.batch_size]]
                if len(chunk) < self.batch_size and self.drop_last:
                    continue
                batches.append(chunk)
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        full = sum(len(v) // self.batch_size for v in self.buckets.values())
        partial = 0 if self.drop_last else sum(1 for v in self.buckets.values() if len(v) % self.batch_size)
        return full + partial


class FailureLog:
    """Files that could not be used in a run, with the reason, written next to the run's results.

    A file is recorded once (the first reason wins) however many epochs or evaluations hit it.

    Examples
    --------
    >>> log = FailureLog()
    >>> log.add("a.png", "empty file"); log.add("a.png", "empty file")
    >>> len(log), log.records()
    (1, [{'path': 'a.png', 'reason': 'empty file'}])
    """

    def __init__(self, failures: Iterable[tuple[str | os.PathLike[str], str]] = ()) -> None:
        self._reasons: dict[str, str] = {}
        self.extend(failures)

    def add(self, path: str | os.PathLike[str], reason: str) -> None:
        """Record that ``path`` failed because of ``reason``."""
        self._reasons.setdefault(str(path), str(reason))

    def extend(self, failures: Iterable[tuple[str | os.PathLike[str], str]]) -> None:
        """Record many ``(path, reason)`` pairs (e.g. ``Batch.failures``)."""
        for path, reason in failures:
            self.add(path, reason)

    def __len__(self) -> int:
        return len(self._reasons)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._reasons.items())

    def __contains__(self, path: object) -> bool:
        return str(path) in self._reasons

    def records(self) -> list[dict[str, str]]:
        """``[{"path", "reason"}, ...]`` in the order first seen."""
        return [{"path": p, "reason": r} for p, r in self._reasons.items()]

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the records as a JSON list (atomically); returns the path."""
        target = Path(path)
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(self.records(), indent=2) + "\n", encoding="utf-8")
        return target

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the records as CSV with columns ``path,reason`` (atomically); returns the path."""
        target = Path(path)
        with atomic_path(target) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["path", "reason"])
            writer.writeheader()
            writer.writerows(self.records())
        return target
