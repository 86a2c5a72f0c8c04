"""What an MSR run has to do: sources, image ids, header sizes, target sizes, resume state and shards. No model calls.

A source (folder, file, list of files, list of arrays) becomes a sorted list of :class:`Source` with stable ids;
:func:`shard_sources` gives a rank its contiguous share; :meth:`Planner.plan` reads only image headers and turns the
share into :class:`WorkItem` per (image, scale), leaving out items whose files all exist already (resuming is an
existence check, because every file is written atomically) and reporting files that cannot be used.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hrr._files import list_images
from hrr._images import ImageLoadError
from hrr._msr_layout import output_paths
from hrr._pixels import check_image_array
from hrr.msr._shard import split_contiguous
from hrr.msr._sizes import ResizeMode, item_seed, target_size

__all__ = ["Plan", "Planner", "Source", "WorkItem", "array_name", "list_sources", "shard_sources", "source_arrays"]


@dataclass(frozen=True)
class WorkItem:
    """One (image, scale) unit of work.

    Attributes
    ----------
    image_id : str
        Relative path of the source without extension (POSIX), or the id given for an in-memory image.
    source : str
        The file path, or ``"<array i>"`` for in-memory images.
    scale : int
        The requested short side (after rounding to the model's multiple).
    size : tuple of int
        Planned output ``(H, W)``.
    seed : int
        Item seed (noise and regeneration).
    """

    image_id: str
    source: str
    scale: int
    size: tuple[int, int]
    seed: int


@dataclass
class Source:
    """One input image: its id, how reports name it, and where its pixels are (a file or an array)."""

    image_id: str
    source: str
    path: Path | None
    array: np.ndarray | None


class Plan(NamedTuple):
    """What a rank has to do (a tuple, so ``items, failures, skipped = plan`` works).

    Attributes
    ----------
    items : list of WorkItem
        To run, sorted by (scale, size, image id).
    failures : list of dict
        ``{"image_id", "source", "scale": None, "reason"}`` for files that failed before planning.
    skipped : list of (str, int)
        ``(image_id, scale)`` already complete in the output folder.
    """

    items: list[WorkItem]
    failures: list[dict[str, Any]]
    skipped: list[tuple[str, int]]


def array_name(index: int) -> str:
    """How reports and work items name the in-memory image ``index`` of a source."""
    return f"<array {index}>"


def list_sources(source: Any) -> list[Source]:
    """The images of ``source`` with their ids, in a stable order.

    Parameters
    ----------
    source : str, os.PathLike, sequence of paths, or sequence of arrays
        A folder (searched recursively), one file, a list of files, or in-memory images (ids ``"000000"``, ...).

    Returns
    -------
    list of Source
        Ids are paths relative to the folder (or to the files' common folder) without extension; ``a.jpg`` next
        to ``a.png`` become ``a__jpg`` and ``a__png``.

    Raises
    ------
    TypeError
        ``source`` is none of the above.
    """
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        paths = list_images(root)
        base = root if root.is_dir() else root.parent
        rel = [p.relative_to(base) for p in paths]
    elif isinstance(source, Sequence) and not isinstance(source, np.ndarray):
        items = list(source)
        if items and all(isinstance(a, np.ndarray) for a in items):
            return [Source(f"{i:06d}", array_name(i), None, a) for i, a in enumerate(items)]
        if not all(isinstance(p, (str, os.PathLike)) for p in items):
            kinds = sorted({type(p).__name__ for p in items})
            raise TypeError(f"source must be a folder, a file, a list of paths or a list of arrays, got {kinds}")
        paths = [Path(p) for p in items]
        if not paths:
            return []
        base = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
        rel = [p.resolve().relative_to(base) for p in paths]
        order = sorted(range(len(paths)), key=lambda i: rel[i].as_posix())
        paths, rel = [paths[i] for i in order], [rel[i] for i in order]
    else:
        raise TypeError(
            f"source must be a folder, a file, a list of paths or a list of arrays, got {type(source).__name__}"
        )
    stems = [r.with_suffix("").as_posix() for r in rel]
    counts: dict[str, int] = defaultdict(int)
    for s in stems:
        counts[s] += 1
    out = []
    for p, r, s in zip(paths, rel, stems, strict=True):
        # "a.jpg" and "a.png" side by side: keep both, told apart by their extension
        image_id = f"{s}__{r.suffix.lstrip('.').lower()}" if counts[s] > 1 else s
        out.append(Source(image_id, str(p), p, None))
    return out


def shard_sources(source: Any, rank: int, world_size: int) -> list[Source]:
    """The contiguous share of :func:`list_sources` for ``rank`` (ranks split by image, never by scale)."""
    return split_contiguous(list_sources(source), rank, world_size)


def source_arrays(source: Any) -> dict[str, np.ndarray]:
    """In-memory images of ``source`` by the name their :class:`WorkItem` carries (empty for files)."""
    if isinstance(source, (str, os.PathLike)) or not isinstance(source, Sequence):
        return {}
    return {array_name(i): a for i, a in enumerate(source) if isinstance(a, np.ndarray)}


@dataclass(frozen=True)
class Planner:
    """Turns sources into work items from image headers only.

    Parameters
    ----------
    scales : tuple of int
        Scales to produce, already rounded to ``size_multiple``.
    size_multiple : int
    resize_mode : {"short_side", "square"}
    seed : int
        Base seed of :func:`~hrr.msr.item_seed`.
    kinds : tuple of str
        The views written per item (see :mod:`hrr._msr_layout`); an item is complete when all exist.
    min_size : int
        Images with a shorter side below this fail.
    read_size : callable
        ``path -> (H, W)`` from the header (:func:`hrr._images.read_image_size` with the pixel limit bound).
    header_threads : int
        Threads reading headers at once.
    """

    scales: tuple[int, ...]
    size_multiple: int
    resize_mode: ResizeMode
    seed: int
    kinds: tuple[str, ...]
    min_size: int
    read_size: Callable[[str], tuple[int, int]]
    header_threads: int = 1

    def output_paths(self, out_dir: str | os.PathLike[str], image_id: str, scale: int) -> dict[str, Path]:
        """``kind -> path`` of the files one item writes."""
        return output_paths(out_dir, image_id, scale, self.kinds)

    def is_complete(self, out_dir: Path, image_id: str, scale: int) -> bool:
        """Whether every file of the item exists (each is written atomically, so existing means complete)."""
        return all(p.exists() for p in self.output_paths(out_dir, image_id, scale).values())

    def header(self, src: Source) -> tuple[int, int] | str:
        """``(H, W)`` of a source from its header, or why it cannot be used."""
        try:
            if src.array is not None:
                return check_image_array(src.array, src.source).shape[:2]  # type: ignore[return-value]
            h, w = self.read_size(src.source)
        except ImageLoadError as exc:
            return exc.reason
        except (TypeError, ValueError) as exc:
            return str(exc)
        if min(h, w) < self.min_size:
            return f"image is {w}x{h}, smaller than min_size={self.min_size}"
        return h, w

    def plan(self, sources: list[Source], out_dir: Path | None = None) -> Plan:
        """Work items, failures and (with ``out_dir``) items already complete; complete sources are not opened."""
        skipped: list[tuple[str, int]] = []
        pending: list[Source] = []
        for src in sources:
            if out_dir is not None and all(self.is_complete(out_dir, src.image_id, s) for s in self.scales):
                skipped.extend((src.image_id, s) for s in self.scales)
            else:
                pending.append(src)
        # header reads are I/O bound: overlap them (tens of thousands of files on network storage)
        with cf.ThreadPoolExecutor(max(1, self.header_threads), thread_name_prefix="msr-plan") as pool:
            headers = list(pool.map(self.header, pending))
        items: list[WorkItem] = []
        failures: list[dict[str, Any]] = []
        for src, header in zip(pending, headers, strict=True):
            if isinstance(header, str):
                failures.append({"image_id": src.image_id, "source": src.source, "scale": None, "reason": header})
                continue
            h, w = header
            for scale in self.scales:
                if out_dir is not None and self.is_complete(out_dir, src.image_id, scale):
                    skipped.append((src.image_id, scale))
                    continue
                size = target_size(h, w, scale, self.size_multiple, self.resize_mode)
                items.append(WorkItem(src.image_id, src.source, scale, size, item_seed(self.seed, src.image_id, scale)))
        items.sort(key=lambda it: (it.scale, it.size, it.image_id))
        return Plan(items, failures, skipped)
