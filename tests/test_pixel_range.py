"""Every function of hrr that produces or transforms pixels keeps them in [0, 1], whatever float round-off does.

The fault this guards against: ``gaussian_blur`` of a white image returned 1.0000001, and ``hrr train`` on
white-background photos then crashed at a random epoch in the detector's range check. The inputs below are the
ones that provoke round-off (all white, all black, hard 0/1 edges, values a rounding step below 1), and every
producer is run on them, alone and composed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from hrr._images import load_image
from hrr._pixels import UpsamplingWarning, clip_unit, resize_image, warn_upsampling
from hrr.data import TestTransform, TrainAugment, gaussian_blur, jpeg_compress
from hrr.demo._patches import cut_patches
from hrr.msr import IdentityRegenerator, LineEnhancer, MultiScaleRetrospector
from hrr.msr._sizes import add_noise, resize_to

_KINDS = ("white", "black", "binary", "uniform", "just_below_one")


def _make(kind: str, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "white":
        return np.ones((h, w, 3), np.float32)
    if kind == "black":
        return np.zeros((h, w, 3), np.float32)
    if kind == "binary":
        return rng.integers(0, 2, (h, w, 3)).astype(np.float32)
    if kind == "just_below_one":
        return np.float32(1) - rng.integers(0, 3, (h, w, 3)).astype(np.float32) * np.finfo(np.float32).epsneg
    return rng.random((h, w, 3), dtype=np.float32)


images = st.builds(
    _make, st.sampled_from(_KINDS), st.integers(8, 48), st.integers(8, 48), st.integers(0, 2**16)
)


def _in_range(out: np.ndarray | torch.Tensor) -> None:
    arr = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out
    assert np.isfinite(arr).all()
    assert arr.min() >= 0.0 and arr.max() <= 1.0, (float(arr.min()), float(arr.max()))


def test_the_reported_case() -> None:
    assert gaussian_blur(np.ones((32, 32, 3), np.float32), 0.86).max() == 1.0


@settings(max_examples=60, deadline=None)
@given(image=images, sigma=st.floats(0.0, 4.0), quality=st.integers(1, 100))
def test_blur_and_jpeg(image: np.ndarray, sigma: float, quality: int) -> None:
    _in_range(gaussian_blur(image, sigma))
    _in_range(jpeg_compress(image, quality))
    _in_range(jpeg_compress(gaussian_blur(image, sigma), quality))


@settings(max_examples=60, deadline=None)
@given(image=images, h=st.integers(1, 80), w=st.integers(1, 80))
def test_resampling(image: np.ndarray, h: int, w: int) -> None:
    _in_range(resize_image(image, (h, w)))  # area down, bicubic up, mixed
    side = max(8, min(h, w))
    for mode in ("short_side", "square"):
        _in_range(resize_to(image, (side, side), mode))  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(image=images, seed=st.integers(0, 2**32 - 1), crop=st.integers(8, 40))
def test_training_augmentation(image: np.ndarray, seed: int, crop: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UpsamplingWarning)
        for small in ("reflect", "upscale"):
            aug = TrainAugment(crop_size=crop, blur_prob=1.0, jpeg_prob=0.5, small=small, blur_sigma=(0.1, 3.0))
            _in_range(aug(image, np.random.default_rng(seed)))
        _in_range(TrainAugment(crop_size=None, load_size=20, blur_prob=1.0)(image, np.random.default_rng(seed)))


@settings(max_examples=40, deadline=None)
@given(image=images, scale=st.sampled_from([0.25, 0.5, 0.75, 1.5]), sigma=st.floats(0.0, 3.0))
def test_test_time_transforms_and_multiscale_sweep(image: np.ndarray, scale: float, sigma: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UpsamplingWarning)
        for t in (
            TestTransform(scale=scale),
            TestTransform(size=(24, 40)),
            TestTransform(blur_sigma=sigma, jpeg_quality=75),
            TestTransform(scale=scale, blur_sigma=sigma, center_crop=16),
        ):
            _in_range(t(image))


@settings(max_examples=15, deadline=None)
@given(image=images, seed=st.integers(0, 2**16))
def test_noise_sharpening_and_line_enhancement(image: np.ndarray, seed: int) -> None:
    enhancer = LineEnhancer(usm_kernel=7, min_component_area=2)
    _in_range(add_noise(image, 2 / 255, seed))
    _in_range(enhancer.sharpen(image))
    _in_range(enhancer(image))
    _in_range(enhancer(torch.from_numpy(image).permute(2, 0, 1)[None]))


def test_msr_views_stay_in_range() -> None:
    msr = MultiScaleRetrospector(IdentityRegenerator(), scales=[16, 40], progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UpsamplingWarning)
        views = msr.retrospect([_make(k, 24, 30, 1) for k in _KINDS])
    for per_scale in views:
        for v in per_scale.values():
            _in_range(v.real), _in_range(v.line_enhanced), _in_range(v.regenerated)


def test_alpha_compositing_on_load(tmp_path) -> None:
    rgba = np.dstack([np.full((16, 16, 3), 255, np.uint8), np.arange(256, dtype=np.uint8).reshape(16, 16)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    _in_range(load_image(tmp_path / "a.png"))


def test_demo_patches_stay_in_range() -> None:
    photos = {"white": np.ones((120, 120, 3), np.float32), "mixed": _make("binary", 120, 120, 0)}
    _in_range(cut_patches(photos, 6, 32, seed=0, part="train"))


def test_clip_unit_leaves_its_input_alone_and_keeps_nan() -> None:
    x = np.array([[[1.0000001, -0.0, np.nan]]], np.float32)
    y = clip_unit(x)
    assert x[0, 0, 0] > 1 and y[0, 0, 0] == 1 and np.isnan(y[0, 0, 2])


@pytest.mark.parametrize(("source", "target", "up"), [((32, 32), (64, 64), True), ((64, 64), (32, 80), True),
                                                      ((64, 64), (64, 64), False), ((64, 64), (16, 16), False)])
def test_upsampling_is_announced(source: tuple[int, int], target: tuple[int, int], up: bool) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert warn_upsampling(source, target, "X(size=1)") is up
    assert [w.category for w in caught] == ([UpsamplingWarning] if up else [])
    if up:
        assert "X(size=1) up-samples" in str(caught[0].message)


def test_transforms_warn_when_they_enlarge_to_a_target_size() -> None:
    small = np.zeros((16, 16, 3), np.float32)
    with pytest.warns(UpsamplingWarning, match=r"TestTransform\(size=32\)"):
        TestTransform(size=32)(small)
    with pytest.warns(UpsamplingWarning, match="small='upscale'"):
        TrainAugment(crop_size=24, small="upscale")(small, np.random.default_rng(0))
    with pytest.warns(UpsamplingWarning, match="MSR at scale 64"):
        MultiScaleRetrospector(IdentityRegenerator(), scales=[64], progress=False).prepare(small, "x", 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UpsamplingWarning)
        TestTransform(size=8)(small)  # shrinking is silent
        TestTransform(scale=2.0)(small)  # an explicit factor asks for enlargement
        TrainAugment(crop_size=24)(small, np.random.default_rng(0))  # reflect padding does not resample
