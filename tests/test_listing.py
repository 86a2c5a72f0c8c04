"""The shared folder walker (hrr._files.walk_tree): linked folders followed, loops ended, each real folder listed
once, broken links and unreadable folders skipped with a warning, and the same file set whichever entry point lists
a folder (list_images, scan_dataset, HRRDetector.predict_paths, the MSR source listing)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch
from _detect_data import TinyBackbone, make_images

from hrr._files import list_images, walk_tree
from hrr._images import save_png
from hrr.data import scan_dataset
from hrr.detect import Detector, HRRDetector
from hrr.msr._engine import MultiScaleRetrospector


@pytest.fixture(autouse=True)
def _needs_symlinks(tmp_path: Path) -> None:
    try:
        os.symlink(tmp_path, tmp_path / "probe", target_is_directory=True)
    except (OSError, NotImplementedError) as exc:  # Windows without the privilege, some file systems
        pytest.skip(f"os.symlink not permitted here: {exc}")
    (tmp_path / "probe").unlink()


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def _link(link: Path, target: str) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link, target_is_directory=True)


def _rel(paths: object, root: Path) -> list[str]:
    return sorted(Path(p).relative_to(root).as_posix() for p in paths)  # type: ignore[attr-defined]


def test_scan_dataset_follows_a_linked_folder_inside_a_label_folder(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    _touch(ds, "real/r.png", "fake/own.png", "elsewhere/e.png", "elsewhere/sub/f.jpg")
    _link(ds / "fake" / "linked", "../elsewhere")  # ds/fake/linked -> ../elsewhere, the reported case
    samples = scan_dataset(ds)
    assert [(s.path.relative_to(ds).as_posix(), s.label) for s in samples] == [
        ("fake/linked/e.png", 1), ("fake/linked/sub/f.jpg", 1), ("fake/own.png", 1), ("real/r.png", 0),
    ]


def test_loops_end_and_each_real_folder_is_listed_once(tmp_path: Path) -> None:
    _touch(tmp_path, "a/x.png", "a/deep/y.png")
    _link(tmp_path / "a" / "loop", "..")  # back to the root
    _link(tmp_path / "a" / "deep" / "self", ".")  # to itself
    _link(tmp_path / "b", "a")  # a second name for a
    _link(tmp_path / "c" / "again", "../a")  # and a third, deeper
    assert _rel(list_images(tmp_path), tmp_path) == ["a/deep/y.png", "a/x.png"]
    folders = [f.relative_to(tmp_path).as_posix() for f, _, _ in walk_tree(tmp_path)]
    assert folders == [".", "a", "c", "a/deep"]  # breadth-first; "b" and "c/again" are a, already listed

    # The shortest path wins, whatever the names: here the real folder sits deeper than its link.
    other = tmp_path / "other"
    _touch(other, "z/real/p.png")
    _link(other / "a", "z/real")
    assert _rel(list_images(other), other) == ["a/p.png"]


def test_scan_dataset_loops_and_cross_links_do_not_duplicate_or_relabel(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    _touch(ds, "real/r.png", "fake/f.png")
    _link(ds / "fake" / "loop", "..")  # the dataset root: must not list real/ again under fake/
    _link(ds / "fake" / "reals", "../real")  # another label folder: its images keep their own label
    _link(ds / "real" / "up", "..")
    samples = scan_dataset(ds)
    assert [(s.path.relative_to(ds).as_posix(), s.label) for s in samples] == [("fake/f.png", 1), ("real/r.png", 0)]


def test_linked_group_folder_and_linked_label_folder(tmp_path: Path) -> None:
    ds, store = tmp_path / "ds", tmp_path / "store"
    _touch(store, "cats/real/c0.png", "cats/fake/c1.png", "dog_fakes/d1.png")
    _touch(ds, "dogs/real/d0.png")
    _link(ds / "cats", "../store/cats")  # a whole group elsewhere
    _link(ds / "dogs" / "fake", "../../store/dog_fakes")  # a label folder elsewhere
    got = [(s.path.relative_to(ds).as_posix(), s.label, s.group) for s in scan_dataset(ds)]
    assert got == [("cats/fake/c1.png", 1, "cats"), ("cats/real/c0.png", 0, "cats"),
                   ("dogs/fake/d1.png", 1, "dogs"), ("dogs/real/d0.png", 0, "dogs")]

    # A label folder reached through two group links is one set of samples, under the first group.
    _link(ds / "zebras", "../store/cats")
    assert len(scan_dataset(ds)) == 4


def test_broken_links_and_unreadable_folders_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _touch(tmp_path, "ok.png", "locked/secret.png", "sub/s.png")
    _link(tmp_path / "gone", "no-such-folder")
    os.symlink("no-such-file.png", tmp_path / "sub" / "gone.png")
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if Path(path).name == "locked":  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)  # chmod 000 does not stop root; fake the refusal instead
    with caplog.at_level(logging.WARNING, logger="hrr.images"):
        assert _rel(list_images(tmp_path), tmp_path) == ["ok.png", "sub/s.png"]
    text = caplog.text
    assert str(tmp_path / "gone") in text and str(tmp_path / "sub" / "gone.png") in text and "broken link" in text
    assert str(tmp_path / "locked") in text and "unreadable" in text
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "gone")  # a broken link given as the root is still a missing source


def test_same_file_set_through_every_listing(tmp_path: Path) -> None:
    ds, extra = tmp_path / "ds", tmp_path / "extra"
    for rel, img in zip(("ds/real/a.png", "ds/fake/b.png", "extra/real/c.png", "extra/fake/sub/d.png"),
                        make_images(4, 32, 0, fake=False), strict=True):
        save_png(tmp_path / rel, img)
    _link(ds / "real" / "linked", "../../extra/real")
    _link(ds / "real" / "again", "../../extra/real")  # same folder twice: listed once
    _link(ds / "fake" / "linked", "../../extra/fake")
    _link(ds / "fake" / "loop", "..")
    _touch(extra, "fake/.hidden.png", "fake/.d.png.123.tmp")

    listed = list_images(ds)
    assert _rel(listed, ds) == ["fake/b.png", "fake/linked/sub/d.png", "real/a.png", "real/again/c.png"]
    assert sorted(s.path for s in scan_dataset(ds)) == listed
    assert sorted(Path(s.source) for s in MultiScaleRetrospector._sources(ds)) == listed
    torch.manual_seed(0)
    detector = HRRDetector(Detector(TinyBackbone()), device="cpu")
    results = detector.predict_paths(ds, progress=False)
    assert all(r.error is None for r in results)
    assert sorted(Path(r.path) for r in results) == listed
