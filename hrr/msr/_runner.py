"""Running MSR over many files: thread pools, batches of one size, out-of-memory backoff, atomic writes, the report.

Everything mutable about a run lives here and is created afresh by each run: the batch size that CUDA
out-of-memory lowers (:class:`BatchBackoff`), the queue of pending writes and the report. A
:class:`~hrr.msr.MultiScaleRetrospector` can therefore run twice, or from two threads at once, without one run's
backoff shrinking the other's batches. The maths is :class:`~hrr.msr._transform.MSRTransform`'s, the work list the
planner's (:mod:`hrr.msr._planner`).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import logging
import os
import platform
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from hrr._images import ImageLoadError, save_png
from hrr._io import atomic_path
from hrr._msr_layout import LINE_ENHANCED, REAL, REGENERATED, report_path
from hrr._pixels import check_image_array
from hrr.msr._manifest import ensure_manifest
from hrr.msr._planner import Planner, WorkItem, array_name, shard_sources, source_arrays
from hrr.msr._transform import MSRTransform, MSRViews

__all__ = ["BatchBackoff", "Prepared", "RunReport", "Runner", "remove_stale_temporaries", "retrospect"]

logger = logging.getLogger("hrr.msr")
T = TypeVar("T")
OnFailure = Callable[["Prepared", str], None]
SizeKey = tuple[int, tuple[int, int]]  # (scale, (H, W)): what one regenerator call may mix


@dataclass
class RunReport:
    """Outcome of :meth:`MultiScaleRetrospector.run` on one rank.

    Attributes
    ----------
    out_dir : str
    config_hash : str
    rank, world_size : int
    done : list of (str, int)
        ``(image_id, scale)`` regenerated and written in this run.
    skipped : list of (str, int)
        Already complete from an earlier run (nothing redone).
    failed : list of dict
        ``{"image_id", "source", "scale", "reason"}``; ``scale`` is ``None`` when the file failed before planning.
    seconds : float
    report_path : str or None
        Where the JSON copy was written.
    """

    out_dir: str
    config_hash: str
    rank: int
    world_size: int
    done: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, int]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    report_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "out_dir": self.out_dir,
            "config_hash": self.config_hash,
            "rank": self.rank,
            "world_size": self.world_size,
            "counts": {"done": len(self.done), "skipped": len(self.skipped), "failed": len(self.failed)},
            "seconds": round(self.seconds, 3),
            "done": [{"image_id": i, "scale": s} for i, s in self.done],
            "skipped": [{"image_id": i, "scale": s} for i, s in self.skipped],
            "failed": self.failed,
        }

    def summary(self) -> str:
        """Short human-readable summary naming every failed file and why."""
        head = (
            f"MSR rank {self.rank}/{self.world_size}: {len(self.done)} done, {len(self.skipped)} skipped (already "
            f"complete), {len(self.failed)} failed in {self.seconds:.1f} s -> {self.out_dir}"
        )
        lines = [head]
        for f in self.failed:
            where = f" at scale {f['scale']}" if f["scale"] is not None else ""
            lines.append(f"  failed: {f['source']}{where}: {f['reason']}")
        return "\n".join(lines)


@dataclass
class Prepared:
    """A work item with its views, ready for the regenerator (the size is the decoded image's, not the header's)."""

    item: WorkItem
    real: np.ndarray
    model_input: np.ndarray


def _is_oom(exc: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("hrr", "torch", "diffusers", "transformers", "numpy", "cv2", "PIL"):
        try:
            module = __import__(name)
            out[name] = str(getattr(module, "__version__", "?"))
        except ImportError:
            continue
    return out


def batches_by_size(entries: Iterable[T], key: Callable[[T], SizeKey], size: int) -> Iterator[list[T]]:
    """Batches of at most ``size`` entries sharing one ``key`` (scale, (H, W)), keys in sorted order."""
    groups: dict[SizeKey, list[T]] = defaultdict(list)
    for entry in entries:
        groups[key(entry)].append(entry)
    for k in sorted(groups):
        members = groups[k]
        for start in range(0, len(members), size):
            yield members[start : start + size]


class BatchBackoff:
    """The batch size of one run: the configured size, halved on CUDA out-of-memory and kept halved for the run.

    Parameters
    ----------
    transform : MSRTransform
        Does the regeneration.
    batch_size : int
        Where the run starts.

    Attributes
    ----------
    limit : int
        The current most images per regenerator call.
    """

    def __init__(self, transform: MSRTransform, batch_size: int) -> None:
        self.transform = transform
        self.limit = batch_size

    def regenerate(self, batch: list[Prepared], on_failure: OnFailure) -> list[np.ndarray | None]:
        """Regenerate prepared items of one size in chunks of :attr:`limit`; ``None`` for an item that failed.

        ``on_failure(prepared, reason)`` is told about each item that failed: out of memory at batch size 1, or a
        non-finite result. Other regenerator errors propagate (they would hit every item).
        """
        out: list[np.ndarray | None] = []
        step = self.limit  # fixed for this call even if a chunk lowers the limit
        for start in range(0, len(batch), step):
            out.extend(self._regenerate_chunk(batch[start : start + step], on_failure))
        return out

    def _regenerate_chunk(self, chunk: list[Prepared], on_failure: OnFailure) -> list[np.ndarray | None]:
        try:
            result = self.transform.regenerate([p.model_input for p in chunk], [p.item.seed for p in chunk])
        except Exception as exc:
            if not _is_oom(exc):
                raise
            del exc
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if len(chunk) == 1:
                on_failure(chunk[0], "out of memory at batch size 1")
                return [None]
            self.limit = max(1, len(chunk) // 2)
            logger.warning("out of memory at batch size %d; retrying with %d", len(chunk), self.limit)
            return self.regenerate(chunk, on_failure)
        for prepared, regenerated in zip(chunk, result, strict=True):
            if regenerated is None:
                on_failure(prepared, self.transform.non_finite_reason())
        return result


def retrospect(
    transform: MSRTransform, scales: Sequence[int], batch_size: int, images: Sequence[np.ndarray], ids: Sequence[str]
) -> list[dict[int, MSRViews]]:
    """In-memory MSR (see :meth:`~hrr.msr.MultiScaleRetrospector.retrospect`); any failed item raises."""
    entries: list[tuple[int, Prepared]] = []
    for index, (image, image_id) in enumerate(zip(images, ids, strict=True)):
        image = check_image_array(image, f"images[{index}]")
        for scale in scales:
            real, model_input, seed = transform.prepare(image, image_id, scale)
            item = WorkItem(image_id, array_name(index), scale, real.shape[:2], seed)  # type: ignore[arg-type]
            entries.append((index, Prepared(item, real, model_input)))

    def fail(p: Prepared, reason: str) -> None:
        raise RuntimeError(f"{p.item.source} at scale {p.item.scale}: {reason}")

    results: list[dict[int, MSRViews]] = [{} for _ in images]
    backoff = BatchBackoff(transform, batch_size)  # this call's own, like a run's
    for chunk in batches_by_size(entries, lambda e: (e[1].item.scale, e[1].item.size), batch_size):
        regenerated = backoff.regenerate([p for _, p in chunk], fail)
        for (index, p), regen in zip(chunk, regenerated, strict=True):
            results[index][p.item.scale] = MSRViews(p.real, p.model_input, regen, p.item.seed)  # type: ignore[arg-type]
    return results


def remove_stale_temporaries(paths: Sequence[Path]) -> int:
    """Delete leftovers of writes killed mid-way, only for this rank's own outputs (ranks share folders)."""
    by_dir: dict[Path, set[str]] = defaultdict(set)
    for p in paths:
        by_dir[p.parent].add(p.name)
    removed = 0
    for folder, names in by_dir.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            n = entry.name
            if n.startswith(".") and n.endswith(".tmp"):
                target = n[1:].rsplit(".", 2)[0]  # ".{name}.{random}.tmp" from hrr._io.atomic_path
                if target in names:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
    return removed


class _Writes:
    """One run's queued PNG writes; an item counts as done once its files are written."""

    def __init__(self, workers: int, report: RunReport, bar: Any) -> None:
        self.pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="msr-write")
        self._pending: deque[tuple[cf.Future[None], WorkItem]] = deque()
        self._report = report
        self._bar = bar

    def submit(self, write: Callable[[], None], item: WorkItem) -> None:
        self._pending.append((self.pool.submit(write), item))

    def drain(self, limit: int) -> None:
        """Wait for the oldest writes until at most ``limit`` are pending."""
        while len(self._pending) > limit:
            fut, item = self._pending.popleft()
            fut.result()  # a failing write (disk full, permissions) stops the run: it would hit every item
            self._report.done.append((item.image_id, item.scale))
            self._bar.update(1)


@dataclass(frozen=True)
class Runner:
    """Runs planned MSR work into an output folder. Immutable: each :meth:`run` keeps its state to itself.

    Parameters
    ----------
    transform : MSRTransform
    planner : Planner
    config : dict
        What the manifest records and hashes (:meth:`~hrr.msr.MultiScaleRetrospector.config`).
    batch_size : int
        Images per regenerator call at the start of every run.
    num_workers : int
        Threads preparing batches ahead, and threads writing PNGs.
    progress : bool
        One tqdm bar.
    load : callable
        ``path -> image`` (:func:`hrr._images.load_image` with the pixel limit, minimum size and background bound).
    """

    transform: MSRTransform
    planner: Planner
    config: dict[str, Any]
    batch_size: int
    num_workers: int
    progress: bool
    load: Callable[[str], np.ndarray]

    def run(self, source: Any, out_dir: Path, rank: int, world_size: int) -> RunReport:
        """Regenerate this rank's share of ``source`` into ``out_dir`` (see :meth:`MultiScaleRetrospector.run`)."""
        start = time.perf_counter()
        source_of_weights = getattr(self.transform.regenerator, "name_or_path", None)
        info = {"versions": _versions(), "regenerator_source": source_of_weights}
        digest = ensure_manifest(out_dir, self.config, info)
        report = RunReport(str(out_dir), digest, rank, world_size)
        todo, report.failed, report.skipped = self.planner.plan(shard_sources(source, rank, world_size), out_dir)
        for f in report.failed:
            logger.warning("skipping %s: %s", f["source"], f["reason"])
        remove_stale_temporaries(
            [p for it in todo for p in self.planner.output_paths(out_dir, it.image_id, it.scale).values()]
        )
        self._execute(todo, source_arrays(source), out_dir, report)
        report.seconds = time.perf_counter() - start
        path = report_path(out_dir, rank, world_size)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
        report.report_path = str(path)
        if report.failed:
            logger.warning("%d item(s) failed; see %s", len(report.failed), path)
        return report

    def _execute(self, todo: list[WorkItem], arrays: dict[str, np.ndarray], out_dir: Path, report: RunReport) -> None:
        """Prepare ahead, regenerate, write behind; every item ends in ``report.done`` or ``report.failed``."""
        backoff = BatchBackoff(self.transform, self.batch_size)  # this run's own: nothing leaks into another run
        bar = self._progress_bar(len(todo), report.rank, report.world_size)

        def fail(item: WorkItem, reason: str) -> None:
            logger.warning("skipping %s at scale %d: %s", item.source, item.scale, reason)
            report.failed.append(
                {"image_id": item.image_id, "source": item.source, "scale": item.scale, "reason": reason}
            )
            bar.update(1)

        workers = max(1, self.num_workers)
        prepare_pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="msr-prepare")
        writes = _Writes(workers, report, bar)
        try:
            for prepared_all in self._prepared_batches(todo, arrays, prepare_pool):
                ready: dict[tuple[int, int], list[Prepared]] = defaultdict(list)
                for entry in prepared_all:
                    if isinstance(entry, Prepared):
                        ready[entry.item.size].append(entry)
                    else:
                        fail(*entry)
                for group in ready.values():
                    regenerated = backoff.regenerate(group, lambda p, r: fail(p.item, r))
                    for prepared, regen in zip(group, regenerated, strict=True):
                        if regen is not None:
                            writes.submit(partial(self._write, out_dir, prepared, regen), prepared.item)
                writes.drain(limit=4 * self.batch_size)  # bound the images held in memory by queued writes
            writes.drain(limit=0)
        finally:
            prepare_pool.shutdown(wait=True, cancel_futures=True)
            writes.pool.shutdown(wait=True)
            bar.close()

    def _progress_bar(self, total: int, rank: int, world_size: int) -> Any:
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            desc=f"MSR rank {rank}/{world_size}" if world_size > 1 else "MSR",
            position=rank if world_size > 1 else None,
            disable=not self.progress,
            unit="img",
            dynamic_ncols=True,
        )

    def _prepared_batches(
        self, todo: list[WorkItem], arrays: dict[str, np.ndarray], pool: cf.ThreadPoolExecutor
    ) -> Iterator[list[Prepared | tuple[WorkItem, str]]]:
        """Prepared batches in order, while the pool prepares the next ``num_workers`` ones."""
        batches = list(batches_by_size(todo, lambda it: (it.scale, it.size), self.batch_size))
        prefetch = max(1, self.num_workers)
        futures: list[cf.Future[list[Prepared | tuple[WorkItem, str]]] | None] = [
            pool.submit(self._prepare_batch, batch, arrays) for batch in batches[:prefetch]
        ]
        for index in range(len(batches)):
            prepared = futures[index].result()  # type: ignore[union-attr]
            if index + prefetch < len(batches):
                futures.append(pool.submit(self._prepare_batch, batches[index + prefetch], arrays))
            futures[index] = None  # free the batch's memory once handed over
            yield prepared

    def _prepare_batch(
        self, batch: list[WorkItem], arrays: dict[str, np.ndarray]
    ) -> list[Prepared | tuple[WorkItem, str]]:
        out: list[Prepared | tuple[WorkItem, str]] = []
        for item in batch:
            try:
                if item.source in arrays:
                    image = check_image_array(arrays[item.source], item.source)
                else:
                    image = self.load(item.source)
                real, model_input, _ = self.transform.prepare(image, item.image_id, item.scale)
            except (ImageLoadError, TypeError, ValueError, OSError, MemoryError) as exc:
                # one bad (or, with MemoryError, one enormous) file must not end a run over thousands
                out.append((item, exc.reason if isinstance(exc, ImageLoadError) else f"{type(exc).__name__}: {exc}"))
                continue
            # the header size can differ from the decoded one (e.g. a PNG's EXIF chunk after the pixels)
            out.append(Prepared(dataclasses.replace(item, size=real.shape[:2]), real, model_input))
        return out

    def _write(self, out_dir: Path, prepared: Prepared, regenerated: np.ndarray) -> None:
        paths = self.planner.output_paths(out_dir, prepared.item.image_id, prepared.item.scale)
        save_png(paths[REAL], prepared.real)
        if LINE_ENHANCED in paths:
            save_png(paths[LINE_ENHANCED], prepared.model_input)
        save_png(paths[REGENERATED], regenerated)  # last: its presence marks the item complete
