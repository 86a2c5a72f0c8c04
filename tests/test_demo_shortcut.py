"""The demo benchmark's shortcut check: global statistics, and the cross-validated detector on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrr.demo._benchmark import SHORTCUT, BenchmarkResult, BenchmarkSettings, _aggregate, _shortcut_row, format_tables
from hrr.demo._generators import GENERATORS
from hrr.demo._patches import cut_patches, packaged_photos
from hrr.demo._shortcut import HIST_BINS, global_statistics, shortcut_scores


@pytest.fixture(scope="module")
def real() -> np.ndarray:
    return cut_patches(packaged_photos(), 80, 32, seed=0, part="test")


def test_statistics_of_a_constant_image() -> None:
    img = np.zeros((1, 8, 8, 3))
    img[..., 0], img[..., 1], img[..., 2] = 0.05, 0.5, 1.0  # bins 0, 4 and the last (1.0 is in the last bin)
    f = global_statistics(img)[0]
    np.testing.assert_allclose(f[:3], [0.05, 0.5, 1.0])
    np.testing.assert_allclose(f[3:6], 0.0, atol=1e-12)
    hist = f[6:6 + 3 * HIST_BINS].reshape(3, HIST_BINS)
    assert hist[0, 0] == hist[1, 4] == hist[2, HIST_BINS - 1] == 1.0 and hist.sum() == 3.0
    np.testing.assert_allclose(f[-2:], np.log(1e-6))  # no edges: both sharpness measures at their floor


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_histograms_are_fractions_and_a_blur_lowers_sharpness(seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = rng.random((2, 16, 16, 3))
    f = global_statistics(img)
    np.testing.assert_allclose(f[:, 6:6 + 3 * HIST_BINS].reshape(2, 3, HIST_BINS).sum(axis=2), 1.0)
    blurred = (img + np.roll(img, 1, axis=1) + np.roll(img, 1, axis=2) + np.roll(img, (1, 1), axis=(1, 2))) / 4
    g = global_statistics(blurred)
    assert (g[:, -2] < f[:, -2]).all() and (g[:, -1] < f[:, -1]).all()


def test_reals_against_reals_are_at_chance(real: np.ndarray) -> None:
    scores = shortcut_scores(real[:40], real[40:], seed=0)
    assert 0.3 < scores["ap"] < 0.75 and 0.25 < scores["acc"] < 0.75


def test_flat_squares_a_colour_cast_and_a_blur_are_found_and_grow_with_strength(real: np.ndarray) -> None:
    from scipy.ndimage import gaussian_filter

    reals, fakes = real[:40], real[40:]
    flat = np.broadcast_to(fakes.mean(axis=(1, 2), keepdims=True), fakes.shape)  # the old SinGAN fakes looked so
    assert shortcut_scores(reals, flat)["ap"] > 0.95

    def cast(k: float) -> float:
        return shortcut_scores(reals, np.clip(fakes * np.array([1.0, 1.0, k]), 0, 1))["ap"]

    def blur(sigma: float) -> float:
        return shortcut_scores(reals, gaussian_filter(fakes, sigma=(0, sigma, sigma, 0), mode="reflect"))["ap"]

    assert cast(0.5) > 0.85 and cast(0.5) > cast(0.9)
    assert blur(1.5) > 0.75 and blur(1.5) > blur(0.7)


def test_scores_are_deterministic_under_the_seed_and_the_seed_sets_the_folds(real: np.ndarray) -> None:
    noisy = np.clip(real[40:] + 0.02 * np.random.default_rng(0).standard_normal(real[40:].shape), 0, 1)
    assert shortcut_scores(real[:40], noisy, seed=3) == shortcut_scores(real[:40], noisy, seed=3)
    assert shortcut_scores(real[:40], noisy, seed=3) != shortcut_scores(real[:40], noisy, seed=4)


def test_the_row_covers_every_generator_and_reaches_table_iv_only(real: np.ndarray) -> None:
    arrays = {"real_test": real[:40], **{f"{g}_test": real[40:] for g in GENERATORS}}
    row = _shortcut_row(arrays, 0)
    assert row["variant"] == SHORTCUT and row["mean/ap"] == pytest.approx(row["tconv/ap"])  # same fakes everywhere
    assert row["held-out/ap"] == pytest.approx(row["tconv/ap"])
    baseline = {**row, "variant": "baseline", "ece": 0.1, "mean/real_acc": 0.5,
                **{f"{g}/fake_acc": 0.5 for g in GENERATORS},
                **{f"x{s:g}/{g}/{m}": 0.5 for s in (1, 0.5, 0.25) for g in ("mean", "held-out") for m in ("acc", "ap")}}
    iv, v = _aggregate([row, baseline])
    assert [r["variant"] for r in iv] == ["baseline", SHORTCUT] and [r["variant"] for r in v] == ["baseline"]
    text = format_tables(BenchmarkResult(iv, v, [row, baseline], {}, BenchmarkSettings(seeds=(0,)), {}, Path(".")))
    assert f"| {SHORTCUT} | {100 * row['tconv/acc']:.1f} |" in text
    assert f"- *{SHORTCUT}*: no CNN" in text and "- *baseline*" in text and "- *HRR*" not in text  # the rows shown


def test_bad_inputs_name_the_argument(real: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"images must be an array of shape \(N, H, W, 3\).*got shape \(4, 8, 8\)"):
        global_statistics(np.zeros((4, 8, 8)))
    with pytest.raises(ValueError, match="images must be finite floats in \\[0, 1\\]; got 16 NaN or infinite"):
        global_statistics(np.dstack([np.full((4, 4), np.nan), np.zeros((4, 4)), np.zeros((4, 4))])[None])
    with pytest.raises(ValueError, match=r"real must be floats in \[0, 1\]; got values in \[0, 25\d.*by 255"):
        shortcut_scores(real[:10] * 255, real[10:20])
    with pytest.raises(ValueError, match=r"fake must be an array of shape \(N, H, W, 3\)"):
        shortcut_scores(real[:10], real[10:20, :, :, 0])
    with pytest.raises(ValueError, match="seed must be"):
        shortcut_scores(real[:10], real[10:20], seed=-1)
    with pytest.raises(ValueError, match="fake must hold at least n_splits = 5 images; got 3"):
        shortcut_scores(real[:10], real[10:13])
    with pytest.raises(ValueError, match="n_splits"):
        shortcut_scores(real[:10], real[10:20], n_splits=1)
