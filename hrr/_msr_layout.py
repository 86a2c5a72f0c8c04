"""The layout of an MSR output folder: the one schema that the writer (:mod:`hrr.msr`) and the reader
(:mod:`hrr.data`, layout ``"msr"``) share.

It sits in the kernel because ``hrr.data`` may not import ``hrr.msr``. Standard library only.

::

    out_dir/
      msr_manifest.json                      MANIFEST_NAME
      s0512/real/<image id>.png              scale_dir(512), REAL, relative_output_path(image_id, 512, REAL)
      s0512/lineE/<image id>.png             LINE_ENHANCED (only with save_line_enhanced)
      s0512/regen/<image id>.png             REGENERATED (written last: its presence marks the item complete)
      msr_reports/rank00000-of-00001.json    REPORTS_DIR, report_name(0, 1)

Image ids are POSIX relative paths without extension (``sub/a``), so an id may span folders.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

__all__ = [
    "IMAGE_SUFFIX",
    "KINDS",
    "LINE_ENHANCED",
    "MANIFEST_NAME",
    "REAL",
    "REGENERATED",
    "REPORTS_DIR",
    "SCALE_DIR_HELP",
    "output_path",
    "output_paths",
    "parse_scale_dir",
    "relative_output_path",
    "report_name",
    "report_path",
    "scale_dir",
]

MANIFEST_NAME = "msr_manifest.json"
REPORTS_DIR = "msr_reports"
REAL = "real"
LINE_ENHANCED = "lineE"
REGENERATED = "regen"
KINDS: tuple[str, ...] = (REAL, LINE_ENHANCED, REGENERATED)
IMAGE_SUFFIX = ".png"
SCALE_DIR_HELP = "s<scale:04d>"  # how messages and docs spell the scale folder
# Exactly four digits, as the reader has always accepted (the writer's s{scale:04d} gives five from scale 10000).
_SCALE_DIR = re.compile(r"^s(\d{4})$")


def scale_dir(scale: int) -> str:
    """Name of the folder holding one scale's views.

    Examples
    --------
    >>> scale_dir(512)
    's0512'
    """
    return f"s{scale:04d}"


def parse_scale_dir(name: str) -> int | None:
    """The scale a folder name stands for, or None when it is not a scale folder.

    Examples
    --------
    >>> parse_scale_dir("s0512"), parse_scale_dir("s512"), parse_scale_dir("real")
    (512, None, None)
    """
    match = _SCALE_DIR.match(name)
    return int(match.group(1)) if match else None


def relative_output_path(image_id: str, scale: int, kind: str) -> PurePosixPath:
    """Where one view of an item goes, relative to the output folder.

    Examples
    --------
    >>> relative_output_path("sub/a", 512, REGENERATED).as_posix()
    's0512/regen/sub/a.png'
    """
    return PurePosixPath(scale_dir(scale), kind, f"{image_id}{IMAGE_SUFFIX}")


def output_path(out_dir: str | os.PathLike[str], image_id: str, scale: int, kind: str) -> Path:
    """``out_dir`` joined with :func:`relative_output_path`."""
    return Path(out_dir, scale_dir(scale), kind, f"{image_id}{IMAGE_SUFFIX}")


def output_paths(
    out_dir: str | os.PathLike[str], image_id: str, scale: int, kinds: Iterable[str] = KINDS
) -> dict[str, Path]:
    """``kind -> path`` for the views of one item, in the order of ``kinds``."""
    return {kind: output_path(out_dir, image_id, scale, kind) for kind in kinds}


def report_name(rank: int, world_size: int) -> str:
    """File name of one rank's run report.

    Examples
    --------
    >>> report_name(0, 1)
    'rank00000-of-00001.json'
    """
    return f"rank{rank:05d}-of-{world_size:05d}.json"


def report_path(out_dir: str | os.PathLike[str], rank: int, world_size: int) -> Path:
    """``out_dir/msr_reports/rank<rank>-of-<world_size>.json``."""
    return Path(out_dir) / REPORTS_DIR / report_name(rank, world_size)
