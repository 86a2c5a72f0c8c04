"""A user cache folder for the demo's trained generators and generated images, keyed by version and settings."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import hrr
from hrr._io import atomic_path


def cache_root() -> Path:
    """``$HRR_CACHE_DIR``, else ``$XDG_CACHE_HOME/hrr``, else ``~/.cache/hrr``."""
    if os.environ.get("HRR_CACHE_DIR"):
        return Path(os.environ["HRR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hrr"


def cache_key(spec: dict[str, Any]) -> str:
    """Hash of the settings plus the library version: a new release or any changed setting gets a new entry."""
    payload = json.dumps({"hrr": hrr.__version__, **spec}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cache_path(name: str, spec: dict[str, Any], *, root: Path | None = None) -> Path:
    """Where :func:`cached_arrays` keeps ``name`` for ``spec`` (in ``root``, default the cache's ``demo`` folder)."""
    folder = root if root is not None else cache_root() / "demo"
    return folder / f"{name}-{cache_key(spec)}.npz"


def cached_arrays(name: str, spec: dict[str, Any], build: Callable[[], dict[str, np.ndarray]], *,
                  root: Path | None = None) -> tuple[dict[str, np.ndarray], bool]:
    """Load ``name-<key>.npz`` from the cache, or build it and store it atomically.

    Returns the arrays and whether they came from the cache. A damaged cache file is rebuilt, never trusted.
    """
    path = cache_path(name, spec, root=root)
    folder = path.parent
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}, True
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    arrays = build()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    with atomic_path(folder / f"{name}-{cache_key(spec)}.json") as tmp:
        Path(tmp).write_text(json.dumps({"hrr": hrr.__version__, **spec}, indent=2, sort_keys=True, default=str))
    return arrays, False


def cached_folder(name: str, spec: dict[str, Any], build: Callable[[Path], Path], *, root: Path | None = None
                  ) -> tuple[Path, bool]:
    """The folder ``name-<key>`` in the cache, built by ``build(path)`` (which must write it atomically) when it is
    missing. ``complete`` marks a finished build: a folder without it (an older crash) is rebuilt.

    Returns the folder and whether it came from the cache.
    """
    import shutil

    folder = (root if root is not None else cache_root() / "demo") / f"{name}-{cache_key(spec)}"
    marker = folder / "complete"
    if marker.is_file():
        return folder, True
    shutil.rmtree(folder, ignore_errors=True)
    build(folder)
    with atomic_path(marker) as tmp:
        Path(tmp).write_text(json.dumps({"hrr": hrr.__version__, **spec}, indent=2, sort_keys=True, default=str))
    return folder, False
