"""Dataset layouts: ForenSynths, GenImage, plain real/fake and `hrr regenerate` output, built on the fly."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hrr.data import Sample, count_samples, detect_layout, group_samples, label_from_dirname, scan_dataset


def _write(path: Path, *, size: tuple[int, int] = (12, 10), seed: int = 0, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path, format=fmt)
    return path


def _make_forensynths(root: Path) -> None:
    for cls in ("car", "cat", "horse"):
        for lab in ("0_real", "1_fake"):
            for i in range(2):
                _write(root / "train" / cls / lab / f"{i}.png", seed=i)
    for lab in ("0_real", "1_fake"):
        _write(root / "val" / "car" / lab / "0.png")
        # progan has the extra class level, biggan is flat (as in the CNNDetection test set)
        for cls in ("airplane", "bird"):
            _write(root / "test" / "progan" / cls / lab / "0.png")
        for i in range(3):
            _write(root / "test" / "biggan" / lab / f"{i}.jpg", fmt="JPEG")
    (root / "test" / "biggan" / "1_fake" / "notes.txt").write_text("not an image")


def test_forensynths_layout_labels_groups_splits(tmp_path: Path) -> None:
    _make_forensynths(tmp_path)
    assert detect_layout(tmp_path) == "forensynths"
    samples = scan_dataset(tmp_path)
    assert len(samples) == 3 * 2 * 2 + 2 + 2 * 2 + 2 * 3
    for s in samples:
        assert s.label == (1 if s.path.parent.name == "1_fake" else 0)
        assert s.split == s.path.relative_to(tmp_path).parts[0]
        assert s.group == s.path.relative_to(tmp_path).parts[1]  # generator (test) or class (train), never class
    counts = Counter((s.split, s.group, s.label) for s in samples)
    assert counts[("test", "progan", 0)] == 2 and counts[("test", "progan", 1)] == 2
    assert counts[("test", "biggan", 1)] == 3
    assert not any(s.path.suffix == ".txt" for s in samples)
    assert scan_dataset(tmp_path) == samples  # deterministic
    assert samples == sorted(samples, key=lambda s: (s.split, s.group, s.path.as_posix()))


def test_forensynths_filters(tmp_path: Path) -> None:
    _make_forensynths(tmp_path)
    train = scan_dataset(tmp_path, split="train", groups=["car", "cat"])
    assert {s.group for s in train} == {"car", "cat"} and {s.split for s in train} == {"train"}
    assert len(train) == 8
    test = scan_dataset(tmp_path, split="test")
    assert list(group_samples(test)) == ["biggan", "progan"]
    assert scan_dataset(tmp_path, split=["val", "test"], groups="car") == scan_dataset(tmp_path, split="val")
    with pytest.raises(ValueError, match=r"groups \['nope'\] not found.*groups present: \['car', 'cat', 'horse'\]"):
        scan_dataset(tmp_path, split="train", groups=["car", "nope"])
    with pytest.raises(ValueError, match=r"split \['tset'\] not found.*\['test', 'train', 'val'\]"):
        scan_dataset(tmp_path, split="tset")


def test_genimage_layout(tmp_path: Path) -> None:
    for split in ("train", "val"):
        for lab in ("nature", "ai"):
            _write(tmp_path / "sdv4" / split / lab / "a.png")
            # the download nests one subset folder: <generator>/<subset>/<split>/<label>
            _write(tmp_path / "midjourney" / "imagenet_midjourney" / split / lab / "b.png")
    _write(tmp_path / "midjourney" / "imagenet_midjourney" / "val" / "ai" / "c.png")
    assert detect_layout(tmp_path) == "genimage"
    samples = scan_dataset(tmp_path)
    assert {(s.group, s.split) for s in samples} == {(g, sp) for g in ("sdv4", "midjourney") for sp in ("train", "val")}
    assert all(s.label == (1 if s.path.parent.name == "ai" else 0) for s in samples)
    rows = count_samples(scan_dataset(tmp_path, split="val"))
    assert {"split": "val", "group": "midjourney", "n_real": 1, "n_fake": 2} in rows
    # the root may also be one generator folder
    one = scan_dataset(tmp_path / "sdv4")
    assert detect_layout(tmp_path / "sdv4") == "genimage"
    assert {s.group for s in one} == {"sdv4"} and len(one) == 4


def test_realfake_layouts(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    _write(flat / "Real" / "a.png")
    _write(flat / "FAKE" / "b.png")
    _write(flat / "FAKE" / "sub" / "c.png")  # nested files under a label folder count
    assert detect_layout(flat) == "realfake"
    samples = scan_dataset(flat)
    assert [(s.path.name, s.label, s.group, s.split) for s in samples] == [
        ("b.png", 1, "flat", ""),
        ("c.png", 1, "flat", ""),
        ("a.png", 0, "flat", ""),
    ]
    numbered = tmp_path / "numbered"
    for gen in ("ganA", "ganB"):
        _write(numbered / gen / "0_real" / "x.png")
        _write(numbered / gen / "1_fake" / "y.png")
    assert detect_layout(numbered) == "realfake"
    assert {(s.group, s.label) for s in scan_dataset(numbered)} == {(g, y) for g in ("ganA", "ganB") for y in (0, 1)}


def test_msr_output_layout_is_read_as_the_engine_writes_it(tmp_path: Path) -> None:
    from hrr.msr import IdentityRegenerator, MultiScaleRetrospector

    src, out = tmp_path / "photos", tmp_path / "regen"
    _write(src / "dir" / "img1.png", size=(40, 48))
    _write(src / "img2.png", size=(40, 48))
    msr = MultiScaleRetrospector(IdentityRegenerator(), scales=[16, 32], save_line_enhanced=True, progress=False)
    report = msr.run(src, out)
    assert len(report.done) == 4 and not report.failed
    assert detect_layout(out) == "msr"
    samples = scan_dataset(out)
    assert len(samples) == 2 * 2 * 2  # lineE debug views are not samples
    for s in samples:
        scale_dir, kind = s.path.relative_to(out).parts[:2]
        assert s.group == f"msr@{int(scale_dir[1:])}" and scale_dir in ("s0016", "s0032")
        assert s.label == (1 if kind == "regen" else 0) and kind in ("real", "regen")
        assert s.split == ""
    assert {s.path.name for s in samples} == {"img1.png", "img2.png"}


def test_no_layout_errors(tmp_path: Path) -> None:
    _write(tmp_path / "photos" / "a.png")
    with pytest.raises(
        ValueError, match=r"no known dataset layout under .*no_layout_errors.*'forensynths'.*'genimage'.*'msr'"
    ):
        detect_layout(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_dataset(tmp_path / "missing")
    with pytest.raises(NotADirectoryError, match="is a file"):
        detect_layout(tmp_path / "photos" / "a.png")
    with pytest.raises(ValueError, match=r"layout must be 'auto' or one of"):
        scan_dataset(tmp_path, layout="imagefolder")
    (tmp_path / "ds" / "real").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images found"):
        scan_dataset(tmp_path / "ds")


def test_forced_layout_skips_misfits_with_warning(tmp_path: Path) -> None:
    _make_forensynths(tmp_path / "fs")
    _write(tmp_path / "fs" / "extra" / "real" / "q.png")  # not under a split folder
    with pytest.warns(UserWarning, match=r"do not fit the 'forensynths' layout.*extra/real"):
        samples = scan_dataset(tmp_path / "fs", layout="forensynths")
    assert not any(s.path.name == "q.png" for s in samples)


def test_label_names_and_sample_validation() -> None:
    assert [label_from_dirname(n) for n in ("0_real", "REAL", "nature", "1_Fake", "fake", "AI", "car")] == [
        0,
        0,
        0,
        1,
        1,
        1,
        None,
    ]
    with pytest.raises(ValueError, match="label must be 0"):
        Sample(Path("a.png"), 2, "g", "")
