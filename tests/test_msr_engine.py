"""MultiScaleRetrospector: planning, sizes and seeds, outputs, bad inputs, manifest, out-of-memory, shards."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from test_images import write_corpus

from hrr._images import load_image, read_image_size, save_png
from hrr.msr import (
    LineEnhancer,
    ManifestMismatchError,
    MultiScaleRetrospector,
    item_seed,
    target_size,
)
from hrr.msr._sizes import add_noise, resize_to


class SeededShift:
    """Deterministic per-image regenerator: blends each image with noise drawn from its own seed; records calls."""

    def __init__(self, size_multiple: int = 8, oom_above: int | None = None, always_oom: bool = False) -> None:
        self.size_multiple = size_multiple
        self.calls: list[tuple[tuple[int, ...], list[int]]] = []
        self.oom_above = oom_above
        self.always_oom = always_oom

    def config(self) -> dict[str, object]:
        return {"backend": "seeded-shift", "size_multiple": self.size_multiple}

    def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        if self.always_oom or (self.oom_above is not None and images.shape[0] > self.oom_above):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        self.calls.append((tuple(images.shape), list(seeds)))
        out = []
        for img, s in zip(images, seeds, strict=True):
            g = torch.Generator().manual_seed(int(s))
            out.append(0.75 * img + 0.25 * torch.rand(img.shape, generator=g))
        return torch.stack(out)


def _folder(root: Path, sizes: Sequence[tuple[int, int]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(sub / f"img{i:02d}.png")
    return root


SIZES = [(40, 56), (56, 40), (40, 56), (48, 48), (40, 56), (64, 32), (33, 47)]


def _msr(regen: object | None = None, **kw: object) -> MultiScaleRetrospector:
    kw.setdefault("scales", (16, 32))
    kw.setdefault("progress", False)
    kw.setdefault("shard", None)
    return MultiScaleRetrospector(regen or SeededShift(), **kw)  # type: ignore[arg-type]


def _tree(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png")) if not p.name.startswith(".")
    }


# ---- sizes and seeds ------------------------------------------------------------------------------------------


@given(st.integers(8, 3000), st.integers(8, 3000), st.sampled_from([64, 128, 256, 512]), st.sampled_from([1, 8, 64]))
def test_target_size_properties(h: int, w: int, scale: int, multiple: int) -> None:
    if scale % multiple:
        return
    th, tw = target_size(h, w, scale, multiple)
    assert th % multiple == 0 and tw % multiple == 0
    assert min(th, tw) == scale
    exact_long = max(h, w) * scale / min(h, w)
    assert exact_long - multiple - 0.5 <= max(th, tw) <= exact_long + 0.5 or max(th, tw) == multiple
    assert target_size(h, w, scale, multiple, "square") == (scale, scale)


def test_resize_to_exact_sizes() -> None:
    img = np.random.default_rng(0).random((97, 131, 3), dtype=np.float32)
    for scale in (32, 64, 256):
        size = target_size(97, 131, scale, 16)
        out = resize_to(img, size)
        assert out.shape == (*size, 3) and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert resize_to(img, (64, 64), "square").shape == (64, 64, 3)
    same = np.random.default_rng(1).random((32, 48, 3), dtype=np.float32)
    np.testing.assert_array_equal(resize_to(same, (32, 48)), same)


def test_item_seed_and_noise() -> None:
    a = item_seed(0, "x/y", 256)
    assert a == item_seed(0, "x/y", 256)
    assert len({a, item_seed(0, "x/y", 512), item_seed(1, "x/y", 256), item_seed(0, "x/z", 256)}) == 4
    img = np.full((8, 8, 3), 0.5, np.float32)
    np.testing.assert_array_equal(add_noise(img, 0.01, 5), add_noise(img, 0.01, 5))
    assert not np.array_equal(add_noise(img, 0.01, 5), add_noise(img, 0.01, 6))
    assert add_noise(np.zeros((8, 8, 3), np.float32), 0.5, 1).min() == 0.0  # clipped, never negative


def test_scales_rounded_to_model_multiple() -> None:
    msr = _msr(SeededShift(size_multiple=64), scales=(500, 256, 250))
    assert msr.scales == (256, 512)
    with pytest.raises(ValueError, match="scales must be a non-empty sequence of positive ints"):
        _msr(scales=(0,))
    with pytest.raises(ValueError, match="scales must be a non-empty sequence"):
        _msr(scales=256)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"regenerator must provide size_multiple, config\(\) and regenerate"):
        MultiScaleRetrospector(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        _msr(batch_size=0)


# ---- the run --------------------------------------------------------------------------------------------------


def test_run_layout_views_and_seeds(tmp_path: Path) -> None:
    src = _folder(tmp_path / "src", SIZES)
    regen = SeededShift()
    msr = _msr(regen, save_line_enhanced=True, batch_size=2)
    report = msr.run(src, tmp_path / "out")
    assert len(report.done) == 2 * len(SIZES) and not report.failed and not report.skipped
    manifest = json.loads((tmp_path / "out" / "msr_manifest.json").read_text())
    assert manifest["config"] == msr.config() and manifest["config_hash"] == report.config_hash
    saved = json.loads(Path(report.report_path).read_text())  # type: ignore[arg-type]
    assert saved["counts"] == {"done": 14, "skipped": 0, "failed": 0}
    # batches hold one size each and at most batch_size items
    assert all(shape[0] <= 2 for shape, _ in regen.calls)
    assert sum(shape[0] for shape, _ in regen.calls) == 14
    # one item checked end to end against the building blocks
    image = load_image(src / "a" / "img01.png")
    real, model_input, seed = msr.prepare(image, "a/img01", 32)
    assert seed == item_seed(0, "a/img01", 32)
    out = tmp_path / "out" / "s0032"
    got_real = np.asarray(Image.open(out / "real" / "a" / "img01.png"))
    np.testing.assert_array_equal(got_real, np.floor(real * 255 + 0.5).astype(np.uint8))
    got_line = np.asarray(Image.open(out / "lineE" / "a" / "img01.png"))
    np.testing.assert_array_equal(got_line, np.floor(model_input * 255 + 0.5).astype(np.uint8))
    expected = SeededShift().regenerate(torch.from_numpy(model_input).permute(2, 0, 1)[None], [seed])[0]
    got_regen = np.asarray(Image.open(out / "regen" / "a" / "img01.png"))
    expected_u8 = np.floor(expected.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(got_regen, expected_u8)
    assert got_real.shape == got_regen.shape == (40, 32, 3)  # 56 high x 40 wide: short side 32, long 44.8 -> 40
    # different scale -> different seed
    seeds = {s for _, ss in regen.calls for s in ss}
    assert len(seeds) == 14


def test_rerun_skips_everything_and_is_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hrr.msr._engine as engine

    src = _folder(tmp_path / "src", SIZES)
    _msr(batch_size=3).run(src, tmp_path / "one")
    first = _tree(tmp_path / "one")
    regen = SeededShift()
    opened: list[object] = []
    monkeypatch.setattr(engine, "read_image_size", lambda *a, **k: opened.append(a))
    monkeypatch.setattr(engine, "load_image", lambda *a, **k: opened.append(a))
    report = _msr(regen, batch_size=3).run(src, tmp_path / "one")
    assert regen.calls == [] and len(report.skipped) == 14 and not report.done
    assert opened == []  # resuming a complete folder does not even open the sources
    monkeypatch.undo()
    assert _tree(tmp_path / "one") == first
    # a second fresh run with another batch size gives the same bytes (per-item seeds)
    _msr(batch_size=1).run(src, tmp_path / "two")
    assert _tree(tmp_path / "two") == first


def test_bad_corpus_is_reported_not_fatal(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "src")
    report = _msr(scales=(16,)).run(tmp_path / "src", tmp_path / "out")
    failed = {Path(f["source"]).name: f["reason"] for f in report.failed}
    assert set(failed) == {"truncated.jpg", "corrupt.png", "garbage.png", "empty.png", "text.jpg", "tiny.png"}
    assert "truncated" in failed["truncated.jpg"] and "empty file" in failed["empty.png"]
    assert "not a recognised image format" in failed["text.jpg"] and "min_size=8" in failed["tiny.png"]
    done = {i for i, _ in report.done}
    assert done == {"rgb", "gray16", "cmyk", "palette_transparent", "rgba", "gray", "exif_rotated", "animated", "big"}
    assert len(files) == len(done) + len(failed)
    assert "tiny.png" in report.summary() and "truncated.jpg" in report.summary()
    saved = json.loads(Path(report.report_path).read_text())  # type: ignore[arg-type]
    assert {Path(f["source"]).name for f in saved["failed"]} == set(failed)
    # exif-rotated source (40 high x 20 wide after rotation) keeps its portrait shape
    assert np.asarray(Image.open(tmp_path / "out" / "s0016" / "real" / "exif_rotated.png")).shape == (32, 16, 3)


def test_manifest_refuses_other_settings(tmp_path: Path) -> None:
    src = _folder(tmp_path / "src", SIZES[:2])
    _msr().run(src, tmp_path / "out")
    with pytest.raises(ManifestMismatchError, match=r"noise_std: 0.00784.* -> 0.1"):
        _msr(noise_std=0.1).run(src, tmp_path / "out")
    with pytest.raises(ManifestMismatchError, match=r"line_enhancer.sharpen_iters: 3 -> 1"):
        _msr(line_enhancer=LineEnhancer(sharpen_iters=1)).run(src, tmp_path / "out")
    _msr(batch_size=7, num_workers=1).run(src, tmp_path / "out")  # scheduling knobs are not part of the hash


def test_out_of_memory_halves_batch(tmp_path: Path) -> None:
    src = _folder(tmp_path / "src", [(40, 56)] * 5)
    _msr(batch_size=4).run(src, tmp_path / "ref")
    regen = SeededShift(oom_above=1)
    report = _msr(regen, batch_size=4).run(src, tmp_path / "oom")
    assert len(report.done) == 10 and not report.failed
    assert all(shape[0] == 1 for shape, _ in regen.calls)
    assert _tree(tmp_path / "oom") == _tree(tmp_path / "ref")
    report = _msr(SeededShift(always_oom=True), batch_size=2).run(src, tmp_path / "never")
    assert len(report.failed) == 10 and all(f["reason"] == "out of memory at batch size 1" for f in report.failed)


def test_other_regenerator_errors_propagate(tmp_path: Path) -> None:
    class Broken(SeededShift):
        def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
            raise RuntimeError("model weights are corrupt")

    src = _folder(tmp_path / "src", SIZES[:2])
    with pytest.raises(RuntimeError, match="model weights are corrupt"):
        _msr(Broken()).run(src, tmp_path / "out")


def test_stale_temporaries_removed_only_for_own_outputs(tmp_path: Path) -> None:
    src = _folder(tmp_path / "src", SIZES[:2])
    regen_dir = tmp_path / "out" / "s0016" / "regen" / "b"
    regen_dir.mkdir(parents=True)
    stale = regen_dir / ".img00.png.k3j2h1.tmp"
    stale.write_bytes(b"half a png")
    foreign = regen_dir / ".img99.png.zzz.tmp"
    foreign.write_bytes(b"another rank's write")
    _msr().run(src, tmp_path / "out")
    assert not stale.exists() and foreign.exists()
    assert (regen_dir / "img00.png").exists()


def test_shards_partition_the_work(tmp_path: Path) -> None:
    src = _folder(tmp_path / "src", SIZES)
    everything = {(i.image_id, i.scale) for i in _msr().plan(src)[0]}
    parts = [{(i.image_id, i.scale) for i in _msr(shard=(r, 3)).plan(src)[0]} for r in range(3)]
    assert set.union(*parts) == everything and sum(map(len, parts)) == len(everything) == 14
    reports = [_msr(shard=(r, 3)).run(src, tmp_path / "out") for r in range(3)]
    assert sorted(x for rep in reports for x in rep.done) == sorted(everything)
    assert len(list((tmp_path / "out" / "msr_reports").glob("rank*-of-00003.json"))) == 3
    _msr().run(src, tmp_path / "single")
    assert _tree(tmp_path / "out") == _tree(tmp_path / "single")


def test_sources_lists_arrays_and_collisions(tmp_path: Path) -> None:
    save_png(tmp_path / "x" / "same.png", np.zeros((20, 20, 3), np.uint8))
    Image.new("RGB", (20, 20), (255, 0, 0)).save(tmp_path / "x" / "same.jpg")
    save_png(tmp_path / "y" / "other.png", np.zeros((20, 20, 3), np.uint8))
    report = _msr(scales=(16,)).run(tmp_path, tmp_path / "out1")
    assert sorted(i for i, _ in report.done) == ["x/same__jpg", "x/same__png", "y/other"]
    report = _msr(scales=(16,)).run([tmp_path / "y" / "other.png", tmp_path / "x" / "same.png"], tmp_path / "out2")
    assert sorted(i for i, _ in report.done) == ["x/same", "y/other"]
    arrays = [np.full((24, 24, 3), v, np.float32) for v in (0.2, 0.7)]
    report = _msr(scales=(16,)).run(arrays, tmp_path / "out3")
    assert sorted(i for i, _ in report.done) == ["000000", "000001"]
    views = _msr(scales=(16,)).retrospect(arrays)
    got = np.asarray(Image.open(tmp_path / "out3" / "s0016" / "regen" / "000001.png"))
    np.testing.assert_array_equal(got, np.floor(views[1][16].regenerated * 255 + 0.5).astype(np.uint8))
    with pytest.raises(TypeError, match="source must be a folder"):
        _msr().run([1, 2], tmp_path / "out4")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _msr().run(tmp_path / "missing", tmp_path / "out5")


def test_header_size_disagrees_with_decoded_size(tmp_path: Path) -> None:
    # PNG whose EXIF orientation (6: rotate) sits after the pixel data: the header-only size is unrotated
    src = tmp_path / "src"
    src.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, (20, 40, 3), dtype=np.uint8))
    img.save(src / "late_exif.png", exif=exif.tobytes())
    data = (src / "late_exif.png").read_bytes()
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append(data[pos : pos + 12 + length])
        pos += 12 + length
    exif_chunk = next(c for c in chunks if c[4:8] == b"eXIf")
    chunks.remove(exif_chunk)
    chunks.insert(len(chunks) - 1, exif_chunk)  # just before IEND, after the pixel data
    (src / "late_exif.png").write_bytes(data[:8] + b"".join(chunks))
    assert read_image_size(src / "late_exif.png") == (20, 40)  # the header alone cannot see the rotation
    assert load_image(src / "late_exif.png").shape == (40, 20, 3)
    report = _msr(scales=(16,)).run(src, tmp_path / "out")
    assert not report.failed and len(report.done) == 1
    shape = np.asarray(Image.open(tmp_path / "out" / "s0016" / "regen" / "late_exif.png")).shape
    assert shape == (32, 16, 3)


def test_env_shard_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    from hrr.msr._shard import resolve_shard

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    assert resolve_shard("auto") == (2, 4)
    assert _msr(shard="auto").shard == (2, 4)
    monkeypatch.delenv("RANK")
    with pytest.raises(ValueError, match="RANK is not"):
        resolve_shard("auto")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert resolve_shard("auto") == (0, 1)
    with pytest.raises(ValueError, match=r"shard must be \(rank, world_size\)"):
        resolve_shard((3, 3))
    os.environ.pop("WORLD_SIZE", None)
