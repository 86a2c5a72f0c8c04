"""Read the dataset folder layouts people already have: ForenSynths/CNNDetection, GenImage, plain real/fake, MSR output.

Every layout is reduced to one flat, sorted list of :class:`Sample` (path, label, group, split). Labels come from
the name of the *label folder* an image sits in (``0_real``/``real``/``nature`` -> 0, ``1_fake``/``fake``/``ai``
-> 1, case-insensitive); the group and split come from the folders above it, so the layouts differ only in how
those upper folders are read.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hrr._files import _dir_key, list_images, walk_tree
from hrr._msr_layout import MANIFEST_NAME, REAL, REGENERATED, SCALE_DIR_HELP, parse_scale_dir

__all__ = [
    "FAKE_DIR_NAMES",
    "LAYOUTS",
    "REAL_DIR_NAMES",
    "Sample",
    "count_samples",
    "detect_layout",
    "group_samples",
    "label_from_dirname",
    "scan_dataset",
]

Layout = Literal["forensynths", "genimage", "realfake", "msr"]
LAYOUTS: tuple[str, ...] = ("forensynths", "genimage", "realfake", "msr")
REAL_DIR_NAMES: frozenset[str] = frozenset({"0_real", "real", "nature"})
FAKE_DIR_NAMES: frozenset[str] = frozenset({"1_fake", "fake", "ai"})
_SPLITS = ("train", "val", "test")
# Deep enough for GenImage as downloaded (<root>/<generator>/<subset>/<split>/<label>) plus one folder above it;
# bounded so that pointing at a home directory does not walk the whole disk.
_MAX_LABEL_DEPTH = 5

_LAYOUT_HELP = (
    "looked for: 'forensynths' (<root>/{train,val,test}/<class or generator>/[<class>/]{0_real,1_fake}), "
    "'genimage' (<root>/<generator>/[<subset>/]{train,val}/{nature,ai}, or <root>/{train,val}/{nature,ai}), "
    "'realfake' (<root>/[<group>/...]{real,fake} or {0_real,1_fake}), "
    f"'msr' (an `hrr regenerate` output folder: {MANIFEST_NAME}, {SCALE_DIR_HELP}/{{{REAL},{REGENERATED}}})"
)


@dataclass(frozen=True, order=True)
class Sample:
    """One labelled image file.

    Parameters
    ----------
    path : Path
        The image file.
    label : int
        0 for a real image, 1 for a fake / generated (or regenerated, pseudo-fake) one.
    group : str
        What the evaluation table groups by: the generator of a test set (``progan``, ``stable_diffusion_v_1_4``),
        the object class of a ForenSynths training set (``car``), or ``msr@<scale>`` for `hrr regenerate` output.
    split : str
        ``"train"``, ``"val"``, ``"test"`` or ``""`` when the layout has no split level.

    Examples
    --------
    >>> Sample(Path("test/progan/cat/1_fake/0001.png"), 1, "progan", "test").label
    1
    """

    path: Path
    label: int
    group: str
    split: str = ""

    def __post_init__(self) -> None:
        if self.label not in (0, 1):
            raise ValueError(f"Sample.label must be 0 (real) or 1 (fake); got {self.label!r} for {self.path}")


def label_from_dirname(name: str) -> int | None:
    """Label encoded by a folder name: 0 for ``0_real``/``real``/``nature``, 1 for ``1_fake``/``fake``/``ai``.

    Parameters
    ----------
    name : str
        A folder name (not a path); compared case-insensitively.

    Returns
    -------
    int or None
        0, 1, or None when the name is not a label folder.

    Examples
    --------
    >>> label_from_dirname("1_fake"), label_from_dirname("Nature"), label_from_dirname("car")
    (1, 0, None)
    """
    low = name.lower()
    if low in REAL_DIR_NAMES:
        return 0
    if low in FAKE_DIR_NAMES:
        return 1
    return None


def _check_root(root: str | os.PathLike[str]) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"dataset root {str(path)!r} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"dataset root {str(path)!r} is a file; expected a folder")
    return path


def _subdirs(path: Path) -> list[Path]:
    """Visible sub-folders of ``path``, sorted; links followed, as everywhere (the first level of the shared walker)."""
    try:
        for _folder, subfolders, _files in walk_tree(path):
            return subfolders
    except FileNotFoundError:  # vanished, or a broken link
        pass
    return []  # unreadable: walk_tree logged a warning


def _find_label_dirs(root: Path) -> list[tuple[tuple[str, ...], Path, int]]:
    """Label folders below ``root`` as (parts of the parent relative to root, folder, label); never enters one."""
    found: list[tuple[tuple[str, ...], Path, int]] = []
    # The shared walker follows linked folders and stops at loops; a folder linked twice is found once, under its
    # shortest path, so its images cannot be counted under two groups.
    for folder, subfolders, _files in walk_tree(root):
        parts = folder.relative_to(root).parts
        enter = []
        for sub in subfolders:
            label = label_from_dirname(sub.name)
            if label is not None:
                found.append((parts, sub, label))
            elif len(parts) + 1 < _MAX_LABEL_DEPTH:
                enter.append(sub)
        subfolders[:] = enter
    found.sort(key=lambda item: item[1].as_posix())
    return found


def _reserved_folders(root: Path, label_dirs: list[tuple[tuple[str, ...], Path, int]]) -> set[tuple[int, int]]:
    """``(st_dev, st_ino)`` of the root, the folders above each label folder and the label folders themselves.

    Listing the label folders with this as the walker's ``seen`` set keeps a link inside one (``fake/loop -> ..``,
    ``fake/x -> ../real``) from listing the dataset again or another label's images under this label, and lists
    every other real folder once: no image becomes two samples.
    """
    seen: set[tuple[int, int]] = set()
    for parts, label_dir, _ in label_dirs:
        for folder in (*(root.joinpath(*parts[:i]) for i in range(len(parts) + 1)), label_dir):
            try:
                seen.add(_dir_key(folder))
            except OSError:  # vanished since the search; the listing will warn
                continue
    return seen


def _msr_scale_dirs(folder: Path) -> list[Path]:
    return [
        d
        for d in _subdirs(folder)
        if parse_scale_dir(d.name) is not None and ((d / REAL).is_dir() or (d / REGENERATED).is_dir())
    ]


def _is_msr(root: Path) -> bool:
    return (root / MANIFEST_NAME).is_file() or bool(_msr_scale_dirs(root))


def _classify(parts: tuple[str, ...], label_dir: Path) -> str:
    """Which layout a single label folder, seen from the root, belongs to."""
    low = [p.lower() for p in parts]
    if label_dir.name.lower() in {"nature", "ai"} and low and low[-1] in ("train", "val"):
        return "genimage"
    if low and low[0] in _SPLITS:
        return "forensynths"
    return "realfake"


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Name the layout of a dataset folder.

    Parameters
    ----------
    root : str or path-like
        The dataset root (the folder holding ``train``/``val``/``test``, the generators, or the label folders).

    Returns
    -------
    str
        One of ``"forensynths"``, ``"genimage"``, ``"realfake"``, ``"msr"``. When label folders of several kinds are
        present, the kind most of them belong to wins (ties: genimage, forensynths, realfake).

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        ``root`` is missing or not a folder.
    ValueError
        No known layout matches; the message names the root and the layouts looked for.

    Examples
    --------
    >>> detect_layout("datasets/ForenSynths")  # doctest: +SKIP
    'forensynths'
    """
    path = _check_root(root)
    if _is_msr(path):
        return "msr"
    label_dirs = _find_label_dirs(path)
    if not label_dirs:
        raise ValueError(
            f"no known dataset layout under {str(path)!r}: found no label folders "
            f"({', '.join(sorted(REAL_DIR_NAMES | FAKE_DIR_NAMES))}) within {_MAX_LABEL_DEPTH} levels; {_LAYOUT_HELP}"
        )
    votes = {"genimage": 0, "forensynths": 0, "realfake": 0}
    for parts, label_dir, _ in label_dirs:
        votes[_classify(parts, label_dir)] += 1
    return max(votes, key=lambda k: (votes[k], -list(votes).index(k)))


def _interpret(layout: str, root: Path, parts: tuple[str, ...]) -> tuple[str, str] | None:
    """(group, split) of a label folder's parent parts under ``layout``; None when it does not fit the layout."""
    low = [p.lower() for p in parts]
    if layout == "forensynths":
        if not low or low[0] not in _SPLITS:
            return None
        # test/<generator>/<class>/0_real and train/<class>/0_real both group by the level right under the split.
        return (parts[1] if len(parts) >= 2 else root.name), low[0]
    if layout == "genimage":
        idx = next((i for i in range(len(low) - 1, -1, -1) if low[i] in ("train", "val", "test")), None)
        if idx is None:
            return None
        return (parts[0] if idx >= 1 else root.name), low[idx]
    # realfake: group = first folder below the root; a train/val/test folder on the way is the split.
    split = next((p for p in low if p in _SPLITS), "")
    group_parts = [p for p, q in zip(parts, low, strict=True) if q not in _SPLITS]
    return (group_parts[0] if group_parts else root.name), split


def _scan_msr(root: Path) -> list[Sample]:
    """The layout :meth:`hrr.msr.MultiScaleRetrospector.run` writes: ``s<scale:04d>/{real,regen}/<id>.png``."""
    samples: list[Sample] = []
    seen: set[tuple[int, int]] = set()  # one listing per real folder across the scan: no duplicated samples
    for sdir in _msr_scale_dirs(root):
        group = f"msr@{parse_scale_dir(sdir.name)}"
        for sub, label in ((REAL, 0), (REGENERATED, 1)):
            if (sdir / sub).is_dir():
                samples.extend(Sample(p, label, group, "") for p in list_images(sdir / sub, seen=seen))
    if not samples:
        raise ValueError(
            f"MSR output folder {str(root)!r} holds no images under {SCALE_DIR_HELP}/{{{REAL},{REGENERATED}}}"
        )
    return samples


def scan_dataset(
    root: str | os.PathLike[str],
    *,
    layout: str = "auto",
    split: str | Sequence[str] | None = None,
    groups: Iterable[str] | None = None,
) -> list[Sample]:
    """List every labelled image of a dataset folder.

    Parameters
    ----------
    root : str or path-like
        Dataset root; see :func:`detect_layout` for what each layout expects.
    layout : {"auto", "forensynths", "genimage", "realfake", "msr"}
        ``"auto"`` calls :func:`detect_layout`.
    split : str or sequence of str, optional
        Keep only these splits (``"train"``, ``"val"``, ``"test"``; ``""`` for layouts without splits).
    groups : iterable of str, optional
        Keep only these groups, e.g. ``["car", "cat", "chair", "horse"]`` for the 4-class ForenSynths training
        subset, or a list of test generators. Unknown names raise, listing the groups present.

    Returns
    -------
    list of Sample
        Sorted by (split, group, path): the same folder always gives the same list.

    Raises
    ------
    ValueError
        Unknown layout, no images, or a ``split``/``groups`` filter that matches nothing present.

    Examples
    --------
    >>> train = scan_dataset("ForenSynths", split="train", groups=["car", "cat", "chair", "horse"])  # doctest: +SKIP
    >>> sorted({s.group for s in train})  # doctest: +SKIP
    ['car', 'cat', 'chair', 'horse']
    """
    path = _check_root(root)
    if layout not in ("auto", *LAYOUTS):
        raise ValueError(f"layout must be 'auto' or one of {LAYOUTS}; got {layout!r}")
    chosen = detect_layout(path) if layout == "auto" else layout
    if chosen == "msr":
        samples = _scan_msr(path)
    else:
        samples = []
        skipped: list[str] = []
        label_dirs = _find_label_dirs(path)
        seen = _reserved_folders(path, label_dirs)  # one listing per real folder across the scan
        for parts, label_dir, label in label_dirs:
            where = _interpret(chosen, path, parts)
            if where is None:
                skipped.append(label_dir.relative_to(path).as_posix())
                continue
            group, split_name = where
            samples.extend(Sample(p, label, group, split_name) for p in list_images(label_dir, seen=seen))
        if skipped:
            warnings.warn(
                f"{len(skipped)} label folder(s) under {str(path)!r} do not fit the {chosen!r} layout and were "
                f"skipped: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
                stacklevel=2,
            )
        if not samples:
            raise ValueError(f"no images found in the {chosen!r} layout under {str(path)!r}; {_LAYOUT_HELP}")

    if split is not None:
        wanted_splits = {split} if isinstance(split, str) else set(split)
        present = sorted({s.split for s in samples})
        unknown = wanted_splits - set(present)
        if unknown:
            raise ValueError(f"split {sorted(unknown)} not found under {str(path)!r}; splits present: {present}")
        samples = [s for s in samples if s.split in wanted_splits]
    if groups is not None:
        if isinstance(groups, str):
            groups = [groups]
        wanted_groups = set(groups)
        present_groups = sorted({s.group for s in samples})
        unknown = wanted_groups - set(present_groups)
        if unknown:
            raise ValueError(
                f"groups {sorted(unknown)} not found under {str(path)!r}"
                f"{f' (split {split!r})' if split is not None else ''}; groups present: {present_groups}"
            )
        samples = [s for s in samples if s.group in wanted_groups]
    samples.sort(key=lambda s: (s.split, s.group, s.path.as_posix(), s.label))
    return samples


def group_samples(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    """Samples per group, groups in order of first appearance (per-generator evaluation).

    Parameters
    ----------
    samples : iterable of Sample

    Returns
    -------
    dict of str to list of Sample

    Examples
    --------
    >>> s = [Sample(Path("a.png"), 0, "progan"), Sample(Path("b.png"), 1, "progan")]
    >>> {g: len(v) for g, v in group_samples(s).items()}
    {'progan': 2}
    """
    out: dict[str, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.group, []).append(s)
    return out


def count_samples(samples: Iterable[Sample]) -> list[dict[str, object]]:
    """Counts of real and fake images per (split, group), for printing what a scan found.

    Parameters
    ----------
    samples : iterable of Sample

    Returns
    -------
    list of dict
        Rows ``{"split", "group", "n_real", "n_fake"}`` in order of first appearance.

    Examples
    --------
    >>> count_samples([Sample(Path("a.png"), 0, "cat", "train")])
    [{'split': 'train', 'group': 'cat', 'n_real': 1, 'n_fake': 0}]
    """
    counts: dict[tuple[str, str], list[int]] = {}
    for s in samples:
        counts.setdefault((s.split, s.group), [0, 0])[s.label] += 1
    return [{"split": sp, "group": g, "n_real": n[0], "n_fake": n[1]} for (sp, g), n in counts.items()]
