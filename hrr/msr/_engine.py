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

:class:`MultiScaleRetrospector` is a façade: it validates the settings and, per call, builds the three parts that do
the work from them: the per-image maths (:mod:`hrr.msr._transform`), the planner (:mod:`hrr.msr._planner`) and the
runner (:mod:`hrr.msr._runner`, which owns each run's mutable state). The folder layout is :mod:`hrr._msr_layout`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hrr._images import DEFAULT_MAX_PIXELS, load_image, read_image_size
from hrr._msr_layout import KINDS, LINE_ENHANCED, output_paths
from hrr.msr._line import LineEnhancer
from hrr.msr._planner import Plan, Planner, Source, WorkItem, list_sources, shard_sources
from hrr.msr._regenerators import Regenerator
from hrr.msr._runner import Runner, RunReport, retrospect
from hrr.msr._shard import ShardSpec, resolve_shard
from hrr.msr._sizes import ResizeMode
from hrr.msr._transform import MSRTransform, MSRViews

__all__ = ["MSRViews", "MultiScaleRetrospector", "RunReport", "WorkItem"]

logger = logging.getLogger("hrr.msr")

_FORMAT_VERSION = 1
_DEFAULT_LINE = LineEnhancer()


def _round_scales(scales: Sequence[int], multiple: int) -> tuple[int, ...]:
    """Each scale rounded to the nearest multiple of ``multiple`` (at least one), duplicates dropped, sorted."""
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
    return tuple(sorted(rounded))


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
        Images per regenerator call (equal sizes only); halved automatically on CUDA out-of-memory, for the rest of
        that run only (every run and :meth:`retrospect` call starts again at ``batch_size``).
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
        rounded = _round_scales(scales, multiple)
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
        self.scales: tuple[int, ...] = rounded
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

    # ---- the parts, built from the current settings at each call (they are immutable; a run's state is its own)

    def _transform(self) -> MSRTransform:
        return MSRTransform(
            self.regenerator, self.size_multiple, self.resize_mode, self.noise_std, self.line_enhancer, self.seed
        )

    def _kinds(self) -> tuple[str, ...]:
        return KINDS if self.save_line_enhanced else tuple(k for k in KINDS if k != LINE_ENHANCED)

    def _planner(self) -> Planner:
        return Planner(
            self.scales,
            self.size_multiple,
            self.resize_mode,
            self.seed,
            self._kinds(),
            self.min_size,
            # this module's reader, looked up now: what touches files is decided here (tests count the opens)
            partial(read_image_size, max_pixels=self.max_pixels),
            header_threads=max(1, 2 * self.num_workers),
        )

    def _runner(self) -> Runner:
        load = partial(load_image, max_pixels=self.max_pixels, min_size=self.min_size, background=self.background)
        return Runner(
            self._transform(), self._planner(), self.config(), self.batch_size, self.num_workers, self.progress, load
        )

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
        return self._transform().prepare(image, image_id, scale)

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
        return retrospect(self._transform(), self.scales, self.batch_size, images, ids)

    # ---- sources and planning ---------------------------------------------------------------------------------

    @staticmethod
    def _sources(source: Any) -> list[Source]:
        return list_sources(source)

    def output_paths(self, out_dir: str | os.PathLike[str], image_id: str, scale: int) -> dict[str, Path]:
        """Where the views of one item go: ``out_dir/s{scale:04d}/{real,lineE,regen}/{image_id}.png``."""
        return output_paths(out_dir, image_id, scale, self._kinds())

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
        items, failures, _ = self._planner().plan(shard_sources(source, rank, world))
        return items, failures

    def _plan(self, mine: list[Source], out: Path | None) -> Plan:
        """Items to run, failures, and (with ``out``) items already complete; complete sources are not even opened."""
        return self._planner().plan(mine, out)

    # ---- the run ----------------------------------------------------------------------------------------------

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
        rank, world = self.shard if shard is None else resolve_shard(shard)
        return self._runner().run(source, Path(out_dir), rank, world)
