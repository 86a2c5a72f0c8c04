"""Listing user folders: one walker that follows linked folders with a loop guard, and the image files it finds.

Every listing of user data in the package goes through :func:`walk_tree` (``list_images``, the dataset layouts,
MSR sources, ``HRRDetector.predict_paths``), so they all see the same files.
"""

from __future__ import annotations

import logging
import os
import pathlib
from collections import deque
from collections.abc import Iterator

__all__ = ["IMAGE_EXTENSIONS", "list_images", "walk_tree"]

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
"""File extensions (lower case, with the dot) that :func:`list_images` picks up, compared case-insensitively."""


_log = logging.getLogger("hrr.images")


def walk_tree(
    root: str | os.PathLike[str], *, seen: set[tuple[int, int]] | None = None
) -> Iterator[tuple[pathlib.Path, list[pathlib.Path], list[pathlib.Path]]]:
    """Walk a folder tree top-down, following directory links, each real directory once: the listing walker.

    Every listing of user folders in the package goes through here (:func:`list_images`, the dataset layouts'
    folder search, MSR sources, ``HRRDetector.predict_paths``), so they all see the same files.

    - Links are followed, to folders and to files, at every depth (``os.walk`` skips linked folders by default).
    - Each real directory, identified by ``(st_dev, st_ino)``, is listed once: a link loop (``a/loop -> ..``)
      ends, and a folder reached through several links or paths appears under its shortest path only (fewest
      components; ties: first in name order). So a file seen through two linked folders is listed once. Files
      are not compared: two file names (links or hard links) for the same data are two entries.
    - Hidden entries (name starting with ``.``) are skipped, which includes the temporary files that
      :func:`hrr._io.atomic_path` creates while writing.
    - Broken links and unreadable folders are skipped with a warning on the ``hrr.images`` logger naming the path,
      instead of failing the whole listing.

    Parameters
    ----------
    root : str or os.PathLike
        The folder to walk (a link to a folder is followed).
    seen : set of (int, int), optional
        ``(st_dev, st_ino)`` of directories the walk must not enter; every directory it lists is added. Share one
        set between several walks so that no directory is listed twice across them, and pre-fill it to keep a walk
        out of folders listed elsewhere (``scan_dataset`` reserves the dataset's own folders, so a link inside a
        label folder cannot pull another label's images in). ``root`` itself is always listed.

    Yields
    ------
    tuple
        ``(folder, subfolders, files)`` as :class:`pathlib.Path` built from ``root`` (links are not resolved),
        each list sorted by name. As with ``os.walk``, remove entries from ``subfolders`` in place to keep the
        walk out of them; a removed folder still counts as seen.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist (or is a broken link).

    Examples
    --------
    >>> import tempfile, pathlib, os
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a").mkdir(); _ = (d / "a" / "x.png").write_bytes(b"")
    >>> os.symlink("..", d / "a" / "loop")  # a loop: listed once, never entered again
    >>> [(f.relative_to(d).as_posix(), [s.name for s in subs], [p.name for p in files])
    ...  for f, subs, files in walk_tree(d)]
    [('.', ['a'], []), ('a', [], ['x.png'])]
    """
    base = pathlib.Path(root)
    seen = set() if seen is None else seen
    try:
        key = _dir_key(base)
    except FileNotFoundError:
        raise FileNotFoundError(f"folder {str(base)!r} does not exist") from None
    except OSError as exc:
        _log.warning("skipping unreadable folder %s: %s", base, exc)
        return
    seen.add(key)  # listed even if the caller reserved it: only the folders below are checked against ``seen``
    # Breadth-first with sorted names: the first path that reaches a directory is its shortest one, so which alias
    # of a linked folder is kept does not depend on how deep the other aliases sit.
    queue: deque[pathlib.Path] = deque([base])
    while queue:
        folder = queue.popleft()
        subfolders, files = _read_folder(folder, seen)
        yield folder, subfolders, files
        queue.extend(subfolders)


def _dir_key(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Identity of the directory ``path`` points to (links followed): ``(st_dev, st_ino)``."""
    st = os.stat(path)  # not DirEntry.stat(): on Windows that leaves st_dev and st_ino at zero
    if st.st_ino == 0:  # a file system without inode numbers (FAT, some network mounts): the resolved path instead
        return (-1, hash(os.path.normcase(os.path.realpath(path))))
    return (st.st_dev, st.st_ino)


def _read_folder(folder: pathlib.Path, seen: set[tuple[int, int]]) -> tuple[list[pathlib.Path], list[pathlib.Path]]:
    """One level of :func:`walk_tree`: (new subfolders, files), links followed, directories claimed in ``seen``."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        _log.warning("skipping unreadable folder %s: %s", folder, exc)
        return [], []
    subfolders: list[pathlib.Path] = []
    files: list[pathlib.Path] = []
    for entry in entries:
        if entry.name.startswith("."):  # hidden, and atomic_path's ".<name>.<random>.tmp" partial writes
            continue
        path = folder / entry.name
        try:
            if entry.is_dir():  # follows links
                # Claimed when found, not when entered, so a second link to it in the same walk is dropped.
                key = _dir_key(path)
                if key in seen:
                    _log.debug("not listing %s again: the same folder was already listed", path)
                    continue
                seen.add(key)
                subfolders.append(path)
            elif entry.is_file():  # follows links
                files.append(path)
            elif entry.is_symlink():
                _log.warning("skipping broken link %s -> %s", path, os.readlink(path))
        except OSError as exc:  # a link loop of its own (ELOOP), a permission error on the target, ...
            _log.warning("skipping %s: %s", path, exc)
    return subfolders, files


def list_images(
    root: str | os.PathLike[str], *, recursive: bool = True, seen: set[tuple[int, int]] | None = None
) -> list[pathlib.Path]:
    """List image files under ``root``, sorted, selected by extension (case-insensitive).

    The folders are walked by :func:`walk_tree`: links to folders and files are followed, each real directory is
    listed once (link loops end), hidden files and folders and the temporary files that
    :func:`hrr._io.atomic_path` creates while writing are skipped, and broken links or unreadable folders are
    skipped with a logged warning.

    Parameters
    ----------
    root : str or os.PathLike
        A folder, or a single file (returned as ``[root]`` whatever its extension).
    recursive : bool, default True
        Descend into sub-folders.
    seen : set of (int, int), optional
        Shared with other listings so that no directory is listed twice across them; see :func:`walk_tree`.

    Returns
    -------
    list of pathlib.Path
        Sorted by their POSIX path string, so the order is the same on every machine and every rank.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.PNG", "a.jpg", ".hidden.png", "notes.txt"):
    ...     _ = (d / name).write_bytes(b"")
    >>> [p.name for p in list_images(d)]
    ['a.jpg', 'b.PNG']
    """
    base = pathlib.Path(root)
    if not base.exists():
        raise FileNotFoundError(f"image source {str(base)!r} does not exist")
    if base.is_file():
        return [base]
    found: list[pathlib.Path] = []
    for _folder, subfolders, files in walk_tree(base, seen=seen):
        if not recursive:
            subfolders.clear()
        found.extend(f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS)
    found.sort(key=lambda p: p.as_posix())
    return found
