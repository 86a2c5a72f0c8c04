"""ImageDataset, collate_skip_bad, SizeBucketSampler, read_sizes, FailureLog: bad files never crash a run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from torch.utils.data import DataLoader

from hrr.data import (
    Batch,
    FailureLog,
    ImageDataset,
    Sample,
    SizeBucketSampler,
    TestTransform,
    TrainAugment,
    collate_skip_bad,
    read_sizes,
)


def _write(path: Path, size: tuple[int, int], seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def _dataset_files(tmp_path: Path) -> tuple[list[Sample], dict[str, Path]]:
    good = [Sample(_write(tmp_path / f"g{i}.png", (16 + 4 * (i % 2), 20), i), i % 2, "gen", "test") for i in range(6)]
    bad = {"empty": tmp_path / "empty.png", "corrupt": tmp_path / "corrupt.png", "text": tmp_path / "text.jpg"}
    bad["empty"].write_bytes(b"")
    bad["corrupt"].write_bytes(good[0].path.read_bytes()[:60])  # valid header, truncated data
    bad["text"].write_text("this is not an image")
    samples = good[:3] + [Sample(p, 0, "gen", "test") for p in bad.values()] + good[3:]
    return samples, bad


def test_items_and_bad_files_reported_not_raised(tmp_path: Path) -> None:
    samples, bad = _dataset_files(tmp_path)
    ds = ImageDataset(samples, TestTransform())
    items = [ds[i] for i in range(len(ds))]
    errors = {item["path"]: item["error"] for item in items if "error" in item}
    assert set(errors) == {str(p) for p in bad.values()}
    assert all(isinstance(r, str) and r for r in errors.values())
    for item in items:
        if "error" in item:
            continue
        img = item["image"]
        sample = samples[item["index"]]
        expected = np.asarray(Image.open(sample.path), dtype=np.float32) / 255.0
        assert img.dtype == torch.float32 and img.shape == (3, *expected.shape[:2])
        np.testing.assert_allclose(img.permute(1, 2, 0).numpy(), expected, atol=1e-6)
        assert item["label"] == sample.label
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_augmentation_depends_on_seed_epoch_index_only(tmp_path: Path) -> None:
    samples = [Sample(_write(tmp_path / f"{i}.png", (40, 40), i), i % 2, "g") for i in range(8)]
    aug = TrainAugment(crop_size=16, blur_prob=0.5, jpeg_prob=0.5)
    ds = ImageDataset(samples, aug, seed=7)
    forward = [ds[i]["image"] for i in range(8)]
    backward = [ds[i]["image"] for i in reversed(range(8))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward, strict=True))
    ds.set_epoch(1)
    assert not all(torch.equal(a, ds[i]["image"]) for i, a in enumerate(forward))
    ds.set_epoch(0)
    assert all(torch.equal(a, ds[i]["image"]) for i, a in enumerate(forward))
    assert not torch.equal(ImageDataset(samples, aug, seed=8)[0]["image"], forward[0])
    # worker processes give the same batches as the main process
    loaders = [DataLoader(ds, batch_size=3, num_workers=w, collate_fn=collate_skip_bad) for w in (0, 2)]
    b0, b2 = (list(loader) for loader in loaders)
    assert all(
        torch.equal(x.images, y.images) and torch.equal(x.indices, y.indices) for x, y in zip(b0, b2, strict=True)
    )


def test_collate_skip_bad(tmp_path: Path) -> None:
    samples, bad = _dataset_files(tmp_path)
    ds = ImageDataset(samples, TestTransform(center_crop=12))
    batch = collate_skip_bad([ds[i] for i in range(len(ds))])
    assert isinstance(batch, Batch) and len(batch) == 6
    assert batch.images.shape == (6, 3, 12, 12)
    assert batch.indices.tolist() == [0, 1, 2, 6, 7, 8]
    assert batch.labels.tolist() == [samples[i].label for i in batch.indices.tolist()]
    assert sorted(p for p, _ in batch.failures) == sorted(str(p) for p in bad.values())
    all_bad = collate_skip_bad([ds[3], ds[4]])
    assert len(all_bad) == 0 and all_bad.images.shape[0] == 0 and len(all_bad.failures) == 2
    mixed = ImageDataset(samples, TestTransform())
    with pytest.raises(ValueError, match=r"different sizes.*SizeBucketSampler"):
        collate_skip_bad([mixed[0], mixed[1]])
    moved = batch.to("cpu")
    assert torch.equal(moved.images, batch.images) and moved.failures == batch.failures


def test_read_sizes_from_headers(tmp_path: Path) -> None:
    samples, bad = _dataset_files(tmp_path)
    sizes, failures = read_sizes(samples, TestTransform(scale=0.5).output_size)
    # the truncated PNG still has a readable header: it fails later, at decoding
    assert [s is None for s in sizes] == [False] * 3 + [True, False, True] + [False] * 3
    assert {p for p, _ in failures} == {str(bad["empty"]), str(bad["text"])}
    for s, size in zip(samples, sizes, strict=True):
        if size is not None and s.path not in bad.values():
            h, w = Image.open(s.path).size[::-1]
            assert size == (round(h * 0.5), round(w * 0.5))
    with pytest.raises(TypeError, match="Sample"):
        read_sizes(["a.png"])  # type: ignore[list-item]


@given(
    sizes=st.lists(st.one_of(st.none(), st.sampled_from([(8, 8), (8, 12), (16, 16), (12, 8)])), max_size=60),
    batch_size=st.integers(1, 7),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
)
def test_size_bucket_sampler_never_mixes_sizes(sizes, batch_size: int, shuffle: bool, drop_last: bool) -> None:
    sampler = SizeBucketSampler(sizes, batch_size, shuffle=shuffle, seed=3, drop_last=drop_last)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for b in batches:
        assert 1 <= len(b) <= batch_size
        assert len({sizes[i] for i in b}) == 1 and sizes[b[0]] is not None
        if drop_last:
            assert len(b) == batch_size
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen))
    valid = [i for i, s in enumerate(sizes) if s is not None]
    if not drop_last:
        assert sorted(seen) == valid
    assert list(SizeBucketSampler(sizes, batch_size, shuffle=shuffle, seed=3, drop_last=drop_last)) == batches


def test_size_bucket_sampler_shuffle_epochs_and_validation() -> None:
    sizes = [(8, 8)] * 20 + [(4, 4)] * 20
    sampler = SizeBucketSampler(sizes, 4, shuffle=True, seed=1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert next(iter(SizeBucketSampler(sizes, 4))) == [20, 21, 22, 23]  # unshuffled: smallest size first, in order
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        SizeBucketSampler(sizes, 0)
    with pytest.raises(ValueError, match=r"sizes\[1\] must be an \(H, W\) pair"):
        SizeBucketSampler([(8, 8), (8,)], 2)  # type: ignore[list-item]


def test_failure_log_dedupes_and_writes(tmp_path: Path) -> None:
    log = FailureLog([("a.png", "empty file")])
    log.extend([("b.png", "not an image"), ("a.png", "empty file")])
    log.add(tmp_path / "c.png", "too large")
    assert len(log) == 3 and "a.png" in log and str(tmp_path / "c.png") in log
    assert json.loads(log.to_json(tmp_path / "out" / "failures.json").read_text()) == log.records()
    with open(log.to_csv(tmp_path / "failures.csv"), newline="") as fh:
        assert list(csv.DictReader(fh)) == log.records()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failures.csv", "out"]  # no temp files left


def test_dataset_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"list of hrr\.data\.Sample"):
        ImageDataset("some/folder")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="transform must be callable"):
        ImageDataset([], transform=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        ImageDataset([], seed=-1)
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        ImageDataset([]).set_epoch(-2)
