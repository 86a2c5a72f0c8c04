"""MultiScaleRetrospector: the MSR regeneration engine (HRR paper Sec. III-A, Eqs. 2-3; Sec. IV-B).

For every image and scale: load robustly, resize to a size the model accepts as is, add light seeded noise,
line-enhance (Eq. 2), regenerate through the latent diffusion model (Eq. 3's denoiser, run img2img). The outputs per
scale are the real view and the regenerated pseudo-fake, lossless PNGs of the same size.

Reliability for long runs over many files:

- work is planned from image headers only and batched by equal size;
- per-item seeds come from ``(seed, image id, scale)``, so results do not depend on batch size, order or sharding;
- every file is written atomically (an existing output is a complete output), so resuming is an existence check;
- a manifest with the configuration hash guards the output folder against mixing settings;
- bad inputs are logged and skipped, CUDA out-of-memory halves the batch and retries;
- each run ends with a report (done / skipped as already complete / failed with reasons), also written as JSON.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrr._files import list_images
from hrr._images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, read_image_size, save_png
from hrr._io import atomic_path
from hrr._pixels import check_image_array, tensor_to_arrays, to_tensor_batch, warn_upsampling
from hrr.msr._line import LineEnhancer
from hrr.msr._manifest import ensure_manifest
from hrr.msr._regenerators import Regenerator
from hrr.msr._shard import ShardSpec, resolve_shard, split_contiguous
from hrr.msr._sizes import ResizeMode, add_noise, item_seed, resize_to, target_size

__all__ = ["MSRViews", "MultiScaleRetrospector", "RunReport", "WorkItem"]

logger = logging.getLogger("hrr.msr")

_FORMAT_VERSION = 1
_KINDS = ("real", "lineE", "regen")
_DEFAULT_LINE = LineEnhancer()
_NON_FINITE_REASON = (
    "the regenerated image contains NaN or infinity, most likely a float16 overflow in the model (running in "
    "{dtype}); run it in float32 or bfloat16 (--dtype), or use a VAE whose config sets force_upcast"
)


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
class MSRViews:
    """The views of one image at one scale (float32 ``(H, W, 3)`` arrays in ``[0, 1]``).

    Attributes
    ----------
    real : numpy.ndarray
        The resized real image (the detector's real sample at this scale).
    line_enhanced : numpy.ndarray
        What the regenerator was given: resized, noised and line-enhanced.
    regenerated : numpy.ndarray
        The pseudo-fake.
    seed : int
    """

    real: np.ndarray
    line_enhanced: np.ndarray
    regenerated: np.ndarray
    seed: int


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
class _Source:
    image_id: str
    source: str
    path: Path | None
    array: np.ndarray | None


@dataclass
class _Prepared:
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


class MultiScaleRetrospector:
    """Multi-scale style retrospection: regenerate real images at several scales through a diffusion model.

    Parameters
    ----------
    regenerator : Regenerator
        The backend: :class:`~hrr.msr.DiffusersImg2ImgRegenerator` (the paper's SD-XL refiner),
        :class:`~hrr.msr.VAERegenerator` or :class:`~hrr.msr.IdentityRegenerator`.
    scales : sequence of int, default (256, 512, 1024)
        Short sides to produce (``resize_mode="short_side"``) or square sides (``"square"``). Each is rounded to
        the nearest multiple of the backend's ``size_multiple`` (64 for SD-XL), so the model never resizes.
        The paper resizes inputs "to several sizes" without listing them; these defaults are a choice.
    resize_mode : {"short_side", "square"}, default "short_side"
        Keep the aspect ratio (long side rounded down to the multiple, centre-cropped) or centre-crop a square.
    noise_std : float, default 2/255
        Standard deviation of the seeded Gaussian noise added after resizing (0 disables).
    line_enhancer : LineEnhancer or None, default LineEnhancer()
        Eq. 2 applied to the noised view before regeneration; ``None`` skips it.
    seed : int, default 0
        Base seed; item seeds are hashes of ``(seed, image_id, scale)``.
    batch_size : int, default 4
        Images per regenerator call (equal sizes only); halved automatically on CUDA out-of-memory.
    save_line_enhanced : bool, default False
        Also write the regenerator's input (``lineE/``) next to ``real/`` and ``regen/``.
    max_pixels : int or None, default 89_478_485
        Decompression-bomb guard for loading.
    min_size : int, default 8
        Images with a shorter side below this are reported as failed.
    background : tuple of float, default (1.0, 1.0, 1.0)
        Colour that transparent pixels are composited over.
    num_workers : int, default 2
        Threads that load and prepare the next batches and write PNGs while the model runs.
    progress : bool, default True
        One tqdm bar per rank.
    shard : (int, int), "auto" or None, default "auto"
        ``(rank, world_size)``; ``"auto"`` reads ``RANK``/``WORLD_SIZE`` (``accelerate launch``, ``torchrun``).

    Examples
    --------
    >>> import numpy as np
    >>> from hrr.msr import IdentityRegenerator
    >>> msr = MultiScaleRetrospector(IdentityRegenerator(8), scales=(32, 64), progress=False)
    >>> views = msr.retrospect([np.full((48, 64, 3), 0.5, np.float32)])
    >>> {s: v.regenerated.shape for s, v in views[0].items()}
    {32: (32, 40, 3), 64: (64, 80, 3)}
    """

    def __init__(
        self,
        regenerator: Regenerator,
        *,
        scales: Sequence[int] = (256, 512, 1024),
        resize_mode: ResizeMode = "short_side",
        noise_std: float = 2 / 255,
        line_enhancer: LineEnhancer | None = _DEFAULT_LINE,
        seed: int = 0,
        batch_size: int = 4,
        save_line_enhanced: bool = False,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        min_size: int = 8,
        background: tuple[float, float, float] = (1.0, 1.0, 1.0),
        num_workers: int = 2,
        progress: bool = True,
        shard: ShardSpec = "auto",
    ) -> None:
        if not isinstance(regenerator, Regenerator):
            raise TypeError(
                "regenerator must provide size_multiple, config() and regenerate(images, seeds) (see "
                f"hrr.msr.Regenerator), got {type(regenerator).__name__}"
            )
        multiple = int(regenerator.size_multiple)
        if isinstance(scales, (int, str)) or len(scales) == 0:
            raise ValueError(f"scales must be a non-empty sequence of positive ints, got {scales!r}")
        rounded: list[int] = []
        for s in scales:
            if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s <= 0:
                raise ValueError(f"scales must be a non-empty sequence of positive ints, got {scales!r}")
            r = max(multiple, round(int(s) / multiple) * multiple)
            if r != s:
                logger.info("scale %d rounded to %d (a multiple of %d, what the model accepts)", s, r, multiple)
            if r not in rounded:
                rounded.append(r)
        if resize_mode not in ("short_side", "square"):
            raise ValueError(f"resize_mode must be 'short_side' or 'square', got {resize_mode!r}")
        if not np.isfinite(noise_std) or noise_std < 0:
            raise ValueError(f"noise_std must be a float >= 0, got {noise_std!r}")
        if line_enhancer is not None and not isinstance(line_enhancer, LineEnhancer):
            raise TypeError(f"line_enhancer must be a LineEnhancer or None, got {type(line_enhancer).__name__}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
        self.regenerator = regenerator
        self.scales: tuple[int, ...] = tuple(sorted(rounded))
        self.size_multiple = multiple
        self.resize_mode: ResizeMode = resize_mode
        self.noise_std = float(noise_std)
        self.line_enhancer = line_enhancer
        self.seed = int(seed)
        self.batch_size = batch_size
        self.save_line_enhanced = bool(save_line_enhanced)
        self.max_pixels = max_pixels
        self.min_size = int(min_size)
        self.background = tuple(float(c) for c in background)
        self.num_workers = num_workers
        self.progress = bool(progress)
        self.shard = resolve_shard(shard)
        self._batch_limit = batch_size  # lowered for the rest of the run after an out-of-memory error

    # ---- configuration ----------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """Everything that changes the output files (hashed into the manifest)."""
        return {
            "format": _FORMAT_VERSION,
            "scales": list(self.scales),
            "resize_mode": self.resize_mode,
            "size_multiple": self.size_multiple,
            "noise_std": self.noise_std,
            "line_enhancer": self.line_enhancer.config() if self.line_enhancer is not None else None,
            "seed": self.seed,
            "background": list(self.background),
            "regenerator": self.regenerator.config(),
        }

    # ---- per-item steps ---------------------------------------------------------------------------------------

    def prepare(self, image: np.ndarray, image_id: str, scale: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Resize, add noise and line-enhance one image for one scale.

        Parameters
        ----------
        image : numpy.ndarray
            Float ``(H, W, 3)`` in ``[0, 1]``.
        image_id : str
            Identifier that, with ``seed`` and ``scale``, fixes the item's random draws.
        scale : int
            One of :attr:`scales`.

        Returns
        -------
        tuple
            ``(real_view, model_input, item_seed)``: float32 arrays of the target size and the seed.
        """
        image = check_image_array(image, "image")
        size = target_size(image.shape[0], image.shape[1], scale, self.size_multiple, self.resize_mode)
        seed = item_seed(self.seed, image_id, scale)
        warn_upsampling(image.shape[:2], size, f"MSR at scale {scale}")
        real = resize_to(image, size, self.resize_mode)
        model_input = add_noise(real, self.noise_std, seed)
        if self.line_enhancer is not None:
            model_input = self.line_enhancer(model_input)
        return real, model_input, seed

    def _regenerate(self, batch: list[_Prepared], on_failure: Callable[[_Prepared, str], None]) -> list[Any]:
        """Regenerate prepared items of one size; on CUDA out-of-memory halve the batch (and keep it halved)."""
        out: list[Any] = []
        step = self._batch_limit  # fixed for this call even if a chunk lowers the limit
        for start in range(0, len(batch), step):
            out.extend(self._regenerate_chunk(batch[start : start + step], on_failure))
        return out

    def _regenerate_chunk(self, chunk: list[_Prepared], on_failure: Callable[[_Prepared, str], None]) -> list[Any]:
        images = to_tensor_batch([p.model_input for p in chunk])
        try:
            result = self.regenerator.regenerate(images, [p.item.seed for p in chunk])
        except Exception as exc:
            if not _is_oom(exc):
                raise
            del exc
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if len(chunk) == 1:
                on_failure(chunk[0], "out of memory at batch size 1")
                return [None]
            self._batch_limit = max(1, len(chunk) // 2)
            logger.warning("out of memory at batch size %d; retrying with %d", len(chunk), self._batch_limit)
            return self._regenerate(chunk, on_failure)
        if result.shape != images.shape:
            raise RuntimeError(f"the regenerator returned shape {tuple(result.shape)} for {tuple(images.shape)}")
        # A NaN item must not reach the writer (whose range check would stop the whole run): report it alone.
        finite = torch.isfinite(result).flatten(1).all(1).tolist()
        arrays = tensor_to_arrays(result)
        out: list[Any] = []
        for prepared, ok, array in zip(chunk, finite, arrays, strict=True):
            if ok:
                out.append(array)
            else:
                on_failure(prepared, _NON_FINITE_REASON.format(dtype=getattr(self.regenerator, "dtype", "its dtype")))
                out.append(None)
        return out

    def retrospect(self, images: Sequence[np.ndarray], ids: Sequence[str] | None = None) -> list[dict[int, MSRViews]]:
        """Run MSR in memory on arrays: for each image a dict ``scale -> MSRViews``.

        Parameters
        ----------
        images : sequence of numpy.ndarray
            Float ``(H, W, 3)`` images in ``[0, 1]``.
        ids : sequence of str, optional
            Identifiers fixing the seeds (default ``"000000"``, ``"000001"``, ... as in :meth:`run`).

        Returns
        -------
        list of dict
        """
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise TypeError("images must be a sequence of (H, W, 3) arrays; wrap a single image in a list")
        ids = [f"{i:06d}" for i in range(len(images))] if ids is None else [str(i) for i in ids]
        if len(ids) != len(images):
            raise ValueError(f"ids must have one entry per image ({len(images)}), got {len(ids)}")
        groups: dict[tuple[int, tuple[int, int]], list[tuple[int, _Prepared]]] = defaultdict(list)
        for index, (image, image_id) in enumerate(zip(images, ids, strict=True)):
            image = check_image_array(image, f"images[{index}]")
            for scale in self.scales:
                real, model_input, seed = self.prepare(image, image_id, scale)
                item = WorkItem(image_id, f"<array {index}>", scale, real.shape[:2], seed)
                groups[(scale, item.size)].append((index, _Prepared(item, real, model_input)))
        results: list[dict[int, MSRViews]] = [{} for _ in images]

        def fail(p: _Prepared, reason: str) -> None:
            raise RuntimeError(f"{p.item.source} at scale {p.item.scale}: {reason}")

        for key in sorted(groups):
            members = groups[key]
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                regenerated = self._regenerate([p for _, p in chunk], fail)
                for (index, p), regen in zip(chunk, regenerated, strict=True):
                    results[index][p.item.scale] = MSRViews(p.real, p.model_input, regen, p.item.seed)
        return results

    # ---- sources and planning ---------------------------------------------------------------------------------

    @staticmethod
    def _sources(source: Any) -> list[_Source]:
        if isinstance(source, (str, os.PathLike)):
            root = Path(source)
            paths = list_images(root)
            base = root if root.is_dir() else root.parent
            rel = [p.relative_to(base) for p in paths]
        elif isinstance(source, Sequence) and not isinstance(source, np.ndarray):
            items = list(source)
            if items and all(isinstance(a, np.ndarray) for a in items):
                return [_Source(f"{i:06d}", f"<array {i}>", None, a) for i, a in enumerate(items)]
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
            out.append(_Source(image_id, str(p), p, None))
        return out

    def output_paths(self, out_dir: str | os.PathLike[str], image_id: str, scale: int) -> dict[str, Path]:
        """Where the views of one item go: ``out_dir/s{scale:04d}/{real,lineE,regen}/{image_id}.png``."""
        base = Path(out_dir) / f"s{scale:04d}"
        kinds = _KINDS if self.save_line_enhanced else ("real", "regen")
        return {k: base / k / f"{image_id}.png" for k in kinds}

    def plan(self, source: Any, *, shard: ShardSpec | None = None) -> tuple[list[WorkItem], list[dict[str, Any]]]:
        """Work items of this rank from image headers (no decoding), and the files that failed already.

        Parameters
        ----------
        source : folder, file, list of paths, or list of arrays
        shard : (int, int), "auto" or None, optional
            Overrides the constructor's ``shard``.

        Returns
        -------
        tuple
            ``(items, failures)``; items are sorted by (scale, size, image id).
        """
        rank, world = self.shard if shard is None else resolve_shard(shard)
        items, failures, _ = self._plan(split_contiguous(self._sources(source), rank, world), None)
        return items, failures

    def _header(self, src: _Source) -> tuple[int, int] | str:
        try:
            if src.array is not None:
                return check_image_array(src.array, src.source).shape[:2]  # type: ignore[return-value]
            h, w = read_image_size(src.source, max_pixels=self.max_pixels)
        except ImageLoadError as exc:
            return exc.reason
        except (TypeError, ValueError) as exc:
            return str(exc)
        if min(h, w) < self.min_size:
            return f"image is {w}x{h}, smaller than min_size={self.min_size}"
        return h, w

    def _plan(
        self, mine: list[_Source], out: Path | None
    ) -> tuple[list[WorkItem], list[dict[str, Any]], list[tuple[str, int]]]:
        """Items to run, failures, and (with ``out``) items already complete; complete sources are not even opened."""
        skipped: list[tuple[str, int]] = []
        pending: list[_Source] = []
        for src in mine:
            if out is not None and all(
                p.exists() for s in self.scales for p in self.output_paths(out, src.image_id, s).values()
            ):
                skipped.extend((src.image_id, s) for s in self.scales)
            else:
                pending.append(src)
        # header reads are I/O bound: overlap them (tens of thousands of files on network storage)
        with cf.ThreadPoolExecutor(max(1, 2 * self.num_workers), thread_name_prefix="msr-plan") as pool:
            headers = list(pool.map(self._header, pending))
        items: list[WorkItem] = []
        failures: list[dict[str, Any]] = []
        for src, header in zip(pending, headers, strict=True):
            if isinstance(header, str):
                failures.append({"image_id": src.image_id, "source": src.source, "scale": None, "reason": header})
                continue
            h, w = header
            for scale in self.scales:
                paths = self.output_paths(out, src.image_id, scale).values() if out is not None else ()
                if paths and all(p.exists() for p in paths):
                    skipped.append((src.image_id, scale))
                    continue
                size = target_size(h, w, scale, self.size_multiple, self.resize_mode)
                items.append(WorkItem(src.image_id, src.source, scale, size, item_seed(self.seed, src.image_id, scale)))
        items.sort(key=lambda it: (it.scale, it.size, it.image_id))
        return items, failures, skipped

    # ---- the run ----------------------------------------------------------------------------------------------

    def _load(self, item: WorkItem, arrays: dict[str, np.ndarray]) -> np.ndarray:
        if item.source in arrays:
            return check_image_array(arrays[item.source], item.source)
        return load_image(item.source, max_pixels=self.max_pixels, min_size=self.min_size, background=self.background)

    def _prepare_batch(
        self, batch: list[WorkItem], arrays: dict[str, np.ndarray]
    ) -> list[_Prepared | tuple[WorkItem, str]]:
        out: list[_Prepared | tuple[WorkItem, str]] = []
        for item in batch:
            try:
                image = self._load(item, arrays)
                real, model_input, _ = self.prepare(image, item.image_id, item.scale)
            except (ImageLoadError, TypeError, ValueError, OSError, MemoryError) as exc:
                # one bad (or, with MemoryError, one enormous) file must not end a run over thousands
                out.append((item, exc.reason if isinstance(exc, ImageLoadError) else f"{type(exc).__name__}: {exc}"))
                continue
            # the header size can differ from the decoded one (e.g. a PNG's EXIF chunk after the pixels)
            out.append(
                _Prepared(
                    WorkItem(item.image_id, item.source, item.scale, real.shape[:2], item.seed), real, model_input
                )
            )
        return out

    def _write(self, out_dir: Path, prepared: _Prepared, regenerated: np.ndarray) -> None:
        paths = self.output_paths(out_dir, prepared.item.image_id, prepared.item.scale)
        save_png(paths["real"], prepared.real)
        if "lineE" in paths:
            save_png(paths["lineE"], prepared.model_input)
        save_png(paths["regen"], regenerated)  # last: its presence marks the item complete

    @staticmethod
    def _remove_stale_temporaries(paths: Sequence[Path]) -> int:
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

    def _batches(self, items: list[WorkItem]) -> Iterator[list[WorkItem]]:
        groups: dict[tuple[int, tuple[int, int]], list[WorkItem]] = defaultdict(list)
        for it in items:
            groups[(it.scale, it.size)].append(it)
        for key in sorted(groups):
            members = groups[key]
            for start in range(0, len(members), self.batch_size):
                yield members[start : start + self.batch_size]

    def run(self, source: Any, out_dir: str | os.PathLike[str], *, shard: ShardSpec | None = None) -> RunReport:
        """Regenerate everything under ``source`` into ``out_dir``; resumable, shardable, never stopped by bad files.

        Layout: ``out_dir/msr_manifest.json``, ``out_dir/s0512/real/<id>.png``, ``out_dir/s0512/regen/<id>.png``
        (``lineE/`` too with ``save_line_enhanced``), ``out_dir/msr_reports/rank00000-of-00001.json``. Ids are the
        source paths relative to the source folder, without extension.

        Parameters
        ----------
        source : str, os.PathLike, sequence of paths, or sequence of arrays
            A folder (searched recursively), one file, a list of files, or in-memory float images.
        out_dir : str or os.PathLike
            Output folder; must be new, or made earlier with the same settings (see the manifest).
        shard : (int, int), "auto" or None, optional
            Overrides the constructor's ``shard``.

        Returns
        -------
        RunReport

        Raises
        ------
        ManifestMismatchError
            ``out_dir`` holds outputs made with other settings.
        """
        start = time.perf_counter()
        out = Path(out_dir)
        rank, world = self.shard if shard is None else resolve_shard(shard)
        info = {"versions": _versions(), "regenerator_source": getattr(self.regenerator, "name_or_path", None)}
        digest = ensure_manifest(out, self.config(), info)
        report = RunReport(str(out), digest, rank, world)
        mine = split_contiguous(self._sources(source), rank, world)
        todo, report.failed, report.skipped = self._plan(mine, out)
        for f in report.failed:
            logger.warning("skipping %s: %s", f["source"], f["reason"])
        arrays: dict[str, np.ndarray] = {}
        if not isinstance(source, (str, os.PathLike)) and isinstance(source, Sequence):
            arrays = {f"<array {i}>": a for i, a in enumerate(source) if isinstance(a, np.ndarray)}
        self._remove_stale_temporaries(
            [p for it in todo for p in self.output_paths(out, it.image_id, it.scale).values()]
        )
        self._batch_limit = self.batch_size

        def fail(item: WorkItem, reason: str) -> None:
            logger.warning("skipping %s at scale %d: %s", item.source, item.scale, reason)
            report.failed.append(
                {"image_id": item.image_id, "source": item.source, "scale": item.scale, "reason": reason}
            )

        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(todo),
            desc=f"MSR rank {rank}/{world}" if world > 1 else "MSR",
            position=rank if world > 1 else None,
            disable=not self.progress,
            unit="img",
            dynamic_ncols=True,
        )
        workers = max(1, self.num_workers)
        prepare_pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="msr-prepare")
        write_pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="msr-write")
        pending_writes: list[tuple[cf.Future[None], WorkItem]] = []

        def drain(limit: int) -> None:
            while len(pending_writes) > limit:
                fut, item = pending_writes.pop(0)
                fut.result()  # a failing write (disk full, permissions) stops the run: it would hit every item
                report.done.append((item.image_id, item.scale))
                bar.update(1)

        try:
            batches = list(self._batches(todo))
            futures: list[cf.Future[list[_Prepared | tuple[WorkItem, str]]]] = []
            prefetch = max(1, self.num_workers)
            for i in range(min(prefetch, len(batches))):
                futures.append(prepare_pool.submit(self._prepare_batch, batches[i], arrays))
            for index in range(len(batches)):
                prepared_all = futures[index].result()
                nxt = index + prefetch
                if nxt < len(batches):
                    futures.append(prepare_pool.submit(self._prepare_batch, batches[nxt], arrays))
                futures[index] = None  # type: ignore[call-overload]  # free the batch's memory
                ready: dict[tuple[int, int], list[_Prepared]] = defaultdict(list)
                for entry in prepared_all:
                    if isinstance(entry, _Prepared):
                        ready[entry.item.size].append(entry)
                    else:
                        fail(entry[0], entry[1])
                        bar.update(1)
                for group in ready.values():
                    regenerated = self._regenerate(group, lambda p, r: (fail(p.item, r), bar.update(1)))
                    for prepared, regen in zip(group, regenerated, strict=True):
                        if regen is not None:
                            pending_writes.append((write_pool.submit(self._write, out, prepared, regen), prepared.item))
                drain(limit=4 * self.batch_size)  # bound the images held in memory by queued writes
            drain(limit=0)
        finally:
            prepare_pool.shutdown(wait=True, cancel_futures=True)
            write_pool.shutdown(wait=True)
            bar.close()
        report.seconds = time.perf_counter() - start
        path = out / "msr_reports" / f"rank{rank:05d}-of-{world:05d}.json"
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
        report.report_path = str(path)
        if report.failed:
            logger.warning("%d item(s) failed; see %s", len(report.failed), path)
        return report
