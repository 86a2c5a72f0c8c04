"""The demo benchmark's building blocks: packaged photos, built-in generators, the cache, the tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hrr.demo._benchmark import BenchmarkResult, BenchmarkSettings, _aggregate, _summary, format_tables
from hrr.demo._cache import cache_key, cache_root, cached_arrays
from hrr.demo._generators import (
    GENERATORS,
    reconstruct,
    run_one_thread_jobs,
    singan_fakes,
    singan_samples,
    train_reconstructor,
)
from hrr.demo._patches import cut_patches, packaged_photos


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return packaged_photos()


@pytest.fixture(scope="module")
def patches(photos: dict[str, np.ndarray]) -> np.ndarray:
    return cut_patches(photos, 24, 32, seed=0, part="train")


def test_packaged_photos_are_colour_images_in_unit_range(photos: dict[str, np.ndarray]) -> None:
    assert len(photos) >= 8
    for name, img in photos.items():
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3, name
        assert img.min() >= 0.0 and img.max() <= 1.0 and min(img.shape[:2]) >= 256, name


def test_patches_are_deterministic_and_train_test_disjoint(photos: dict[str, np.ndarray]) -> None:
    a = cut_patches(photos, 16, 32, seed=3, part="train")
    b = cut_patches(photos, 16, 32, seed=3, part="train")
    assert a.shape == (16, 32, 32, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, cut_patches(photos, 16, 32, seed=4, part="train"))
    # Train patches end above 75 % of each (rescaled) photo's height, test patches start below it.
    for part in ("train", "test"):
        imgs, where = cut_patches(photos, 64, 32, seed=0, part=part, return_positions=True)
        for img, (name, scale, y, x) in zip(imgs, where, strict=True):
            h = round(photos[name].shape[0] * scale)
            cut = int(h * 0.75)
            assert (y + 32 <= cut) if part == "train" else (y >= cut), (part, name, scale, y)
            if scale == 1.0:
                assert np.array_equal(img, photos[name][y:y + 32, x:x + 32])
    one = {"p": photos["astronaut"]}
    with pytest.raises(ValueError, match="part must be"):
        cut_patches(one, 1, 32, seed=0, part="val")


@pytest.mark.parametrize("kind", ["tconv", "upconv", "vae"])
def test_reconstructors_are_sized_ranged_and_seeded(kind: str, patches: np.ndarray) -> None:
    m1 = train_reconstructor(kind, patches, steps=4, seed=0, progress=False)
    m2 = train_reconstructor(kind, patches, steps=4, seed=0, progress=False)
    m3 = train_reconstructor(kind, patches, steps=4, seed=1, progress=False)
    out1, out2, out3 = (reconstruct(m, patches[:5]) for m in (m1, m2, m3))
    assert out1.shape == (5, 32, 32, 3) and out1.dtype == np.float32
    assert out1.min() >= 0.0 and out1.max() <= 1.0
    assert np.array_equal(out1, out2)
    assert not np.array_equal(out1, out3)


def test_reconstructor_training_reduces_the_error(patches: np.ndarray) -> None:
    short = reconstruct(train_reconstructor("tconv", patches, steps=2, seed=0, progress=False), patches)
    longer = reconstruct(train_reconstructor("tconv", patches, steps=60, seed=0, progress=False), patches)
    assert np.abs(longer - patches).mean() < np.abs(short - patches).mean()


def test_unknown_generator_is_rejected(patches: np.ndarray) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        train_reconstructor("gan", patches, steps=1, seed=0)


def test_singan_fakes_are_sized_ranged_and_seeded(photos: dict[str, np.ndarray]) -> None:
    small = {"a": photos["astronaut"][::8, ::8]}
    f1 = singan_fakes([small["a"]], 3, 24, iters=2, seed=0, progress=False)
    f2 = singan_fakes([small["a"]], 3, 24, iters=2, seed=0, progress=False)
    assert f1.shape == (3, 24, 24, 3) and f1.min() >= 0.0 and f1.max() <= 1.0
    assert np.array_equal(f1, f2)


def test_one_thread_generators_in_worker_processes_equal_an_in_process_run(
        patches: np.ndarray, photos: dict[str, np.ndarray]) -> None:
    # The full demo trains these in two processes; its tables (docs/benchmark.md) rely on bit-equal results.
    photo = photos["astronaut"][::8, ::8]
    from hrr.demo._diffusion import ddpm_samples, train_ddpm

    jobs = {"a": ("tconv", {"patches": patches, "steps": 3, "seed": 1}),
            "b": ("singan", {"photo": photo, "count": 2, "size": 24, "iters": 2, "seed": 5}),
            "c": ("upconv", {"patches": patches, "steps": 3, "seed": 2}),
            "d": ("vae", {"patches": patches, "steps": 3, "seed": 3}),
            "e": ("ddpm", {"patches": patches, "steps": 3, "seed": 4, "crop": 16, "batch": 4})}
    here = run_one_thread_jobs(jobs, workers=1, progress=False)
    pooled = run_one_thread_jobs(jobs, workers=2, progress=False)
    assert list(pooled) == ["a", "b", "c", "d", "e"]
    assert np.array_equal(pooled["b"], here["b"])
    for key in ("a", "c", "d"):
        assert np.array_equal(reconstruct(pooled[key], patches), reconstruct(here[key], patches))
    # A job is a one-thread training, whichever process runs it: the same as calling it with threads=1 here.
    direct = train_reconstructor("vae", patches, steps=3, seed=3, progress=False, threads=1)
    assert np.array_equal(reconstruct(direct, patches), reconstruct(here["d"], patches))
    ddpm = train_ddpm(patches, steps=3, seed=4, crop=16, batch=4, progress=False, threads=1)
    drawn = [ddpm_samples(pipe, 2, size=16, seed=9, num_inference_steps=2, progress=False)
             for pipe in (pooled["e"], here["e"], ddpm)]
    assert np.array_equal(drawn[0], drawn[1]) and np.array_equal(drawn[0], drawn[2])
    # singan_fakes from samples computed elsewhere equals singan_fakes computing them (photo i: seed + i)
    computed = [singan_samples(photo, 2, 24, iters=2, seed=7 + i, progress=False) for i in range(2)]
    direct = singan_fakes([photo, photo], 4, 24, iters=2, seed=7, progress=False)
    assert np.array_equal(singan_fakes([photo, photo], 4, 24, iters=2, seed=7, samples=computed), direct)


@pytest.mark.filterwarnings("ignore:A worker stopped while some jobs:UserWarning")  # loky, after the abort
def test_one_thread_jobs_name_a_failing_job_and_reject_unknown_kinds(patches: np.ndarray) -> None:
    import sys

    jobs = {"ok": ("upconv", {"patches": patches, "steps": 1, "seed": 0}),
            ("seed", 3): ("tconv", {"patches": patches[..., 0], "steps": 1, "seed": 0})}
    for workers in (1, 2):
        with pytest.raises(ValueError, match=r"patches must be a non-empty \(N, H, W, 3\)") as err:
            run_one_thread_jobs(jobs, workers=workers, progress=False)
        if sys.version_info >= (3, 11):
            assert "in the generator job ('seed', 3) (tconv)" in err.value.__notes__
    with pytest.raises(ValueError, match=r"jobs\['x'\] must be \(kind, kwargs\) with kind one of"):
        run_one_thread_jobs({"x": ("gan", {})}, workers=2)


def test_cache_is_reused_and_invalidated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}

    def build() -> dict[str, np.ndarray]:
        calls["n"] += 1
        return {"x": np.arange(6, dtype=np.float32) * calls["n"]}

    a, hit_a = cached_arrays("imgs", {"seed": 0}, build, root=tmp_path)
    b, hit_b = cached_arrays("imgs", {"seed": 0}, build, root=tmp_path)
    assert (hit_a, hit_b, calls["n"]) == (False, True, 1) and np.array_equal(a["x"], b["x"])
    c, hit_c = cached_arrays("imgs", {"seed": 1}, build, root=tmp_path)  # changed key -> rebuilt
    assert not hit_c and calls["n"] == 2 and not np.array_equal(a["x"], c["x"])
    key_now = cache_key({"seed": 0})
    monkeypatch.setattr("hrr.__version__", "99.0")  # a new release never reuses old entries
    assert cache_key({"seed": 0}) != key_now
    _, hit_d = cached_arrays("imgs", {"seed": 0}, build, root=tmp_path)
    assert not hit_d and calls["n"] == 3
    # A damaged entry is rebuilt, never trusted.
    monkeypatch.undo()
    for f in tmp_path.glob("imgs-*.npz"):
        f.write_bytes(b"not an npz")
    _, hit_e = cached_arrays("imgs", {"seed": 0}, build, root=tmp_path)
    assert not hit_e and calls["n"] == 4


def test_cache_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HRR_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("HRR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "hrr"


def test_tables_average_over_seeds_with_a_95_percent_t_interval() -> None:
    rows = []
    for seed, acc in ((0, 0.8), (1, 0.6), (2, 0.7)):
        for variant in ("baseline", "w/o AFR", "w/o MSR", "HRR"):
            row: dict[str, object] = {"seed": seed, "variant": variant, "ece": 0.05 * (seed + 1)}
            for g in (*GENERATORS, "mean", "held-out"):
                row[f"{g}/acc"], row[f"{g}/ap"] = acc, float("nan") if g == "vae" else acc
                row[f"{g}/real_acc"], row[f"{g}/fake_acc"] = 0.9, acc
            for s in ("1", "0.5", "0.25"):
                for g in ("mean", "held-out"):
                    row[f"x{s}/{g}/acc"], row[f"x{s}/{g}/ap"] = acc, acc
            rows.append(row)
    iv, v = _aggregate(rows)
    # sd (ddof 1) 0.1 over 3 seeds: half-width t(0.975, 2) * 0.1 / sqrt(3) = 0.2484
    assert iv[0]["tconv/acc"] == pytest.approx(0.7) and iv[0]["tconv/acc_sd"] == pytest.approx(0.24841, abs=1e-5)
    assert iv[0]["ece"] == pytest.approx(0.1) and iv[0]["ece_sd"] == pytest.approx(0.12421, abs=1e-5)
    result = BenchmarkResult(iv, v, rows, {}, BenchmarkSettings(seeds=(0, 1, 2)), {}, Path("."))
    text = format_tables(result)
    assert "70.0 ± 24.8" in text and "n/a" in text and "| held-out mean |" in text
    assert "mean ± 95 % t-interval half-width over 3 seeds" in text
    assert "| real acc |" in text and "| ECE |" in text and "0.100 ± 0.124" in text
    assert "Table V analogue — mean Acc / AP" in text and "Table V analogue — held-out mean Acc / AP" in text
    assert "`upconv`, `singan`, `vae`, `ddpm`, `ddpm-i2i` (not seen in training)" in text
    one = _aggregate([r for r in rows if r["seed"] == 0])[0]
    assert one[0]["tconv/acc"] == pytest.approx(0.8) and one[0]["tconv/acc_sd"] == 0.0


def test_the_held_out_mean_leaves_out_the_training_generator() -> None:
    class Result:
        def table(self) -> list[dict[str, object]]:
            accs = {"tconv": 1.0, "upconv": 0.6, "singan": 0.7, "vae": 0.8}
            return [*({"group": g, "acc": a, "ap": a} for g, a in accs.items()), {"group": "mean", "acc": 0.775,
                                                                                   "ap": 0.775}]

    out = _summary(Result())
    assert out["mean/acc"] == 0.775 and out["held-out/acc"] == pytest.approx(0.7) == out["held-out/ap"]

    class OneUndefined(Result):  # an AP is undefined on a test folder without fakes; the mean skips it
        def table(self) -> list[dict[str, object]]:
            return [{**r, "ap": float("nan")} if r["group"] == "vae" else r for r in super().table()]

    assert _summary(OneUndefined())["held-out/ap"] == pytest.approx(0.65)


def test_torch_threads_sets_the_count_and_restores_the_callers_also_on_an_error() -> None:
    import torch

    from hrr.demo._threads import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
