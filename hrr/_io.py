"""Atomic file writes (a reader never sees a half-written file), figures included."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` with ``os.replace``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600, and so do writers that replace the file themselves (safetensors >= 0.5): give
        # the result the usual permissions (0644 under the default umask) just before it takes the final name.
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg", "jpg", "jpeg")
"""File extensions (without the dot) that :func:`save_figure` writes."""


def figure_format(path: str | os.PathLike[str]) -> str:
    """The matplotlib format named by ``path``'s extension; raises ValueError naming the allowed ones."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"path must end in one of {', '.join('.' + f for f in FIGURE_FORMATS)}; got {str(path)!r}")
    return fmt


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically in the format its extension names; close it if pyplot manages it."""
    target = Path(path)
    fmt = figure_format(target)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    if "matplotlib.pyplot" in sys.modules:  # a pyplot figure stays alive (and in memory) until closed
        sys.modules["matplotlib.pyplot"].close(fig)
    return target
