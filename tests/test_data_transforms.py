"""Training augmentation and test-time transforms: sizes, determinism, each operation's effect, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hrr.data import TestTransform, TrainAugment, gaussian_blur, jpeg_compress, resize_image


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


@given(h=st.integers(8, 70), w=st.integers(8, 70), crop=st.integers(8, 48), seed=st.integers(0, 2**32 - 1))
def test_train_augment_output_size_and_range(h: int, w: int, crop: int, seed: int) -> None:
    for small in ("reflect", "upscale"):
        aug = TrainAugment(crop_size=crop, blur_prob=0.5, jpeg_prob=0.5, small=small)
        out = aug(_image(h, w), np.random.default_rng(seed))
        assert out.shape == (crop, crop, 3) == (*aug.output_size(h, w), 3)
        assert out.dtype == np.float32 and out.flags.c_contiguous
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_train_augment_deterministic_given_rng() -> None:
    aug = TrainAugment(crop_size=24, blur_prob=0.5, jpeg_prob=0.5)
    img = _image(40, 36)
    a = [aug(img, np.random.default_rng(s)) for s in range(12)]
    b = [aug(img, np.random.default_rng(s)) for s in reversed(range(12))][::-1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len({x.tobytes() for x in a}) == 12  # different seeds give different crops/augmentations


def test_train_augment_identity_and_flip() -> None:
    img = _image(20, 30)
    assert np.array_equal(
        TrainAugment(crop_size=None, blur_prob=0, jpeg_prob=0, flip=False)(img, np.random.default_rng(0)), img
    )
    outs = [TrainAugment(crop_size=None, blur_prob=0, jpeg_prob=0)(img, np.random.default_rng(s)) for s in range(40)]
    flipped = [np.array_equal(o, img[:, ::-1]) for o in outs]
    assert all(f or np.array_equal(o, img) for f, o in zip(flipped, outs, strict=True))
    assert 5 < sum(flipped) < 35  # p = 1/2


def test_train_augment_crop_is_a_window_of_the_image() -> None:
    img = _image(30, 40)
    out = TrainAugment(crop_size=16, blur_prob=0, jpeg_prob=0, flip=False)(img, np.random.default_rng(3))
    hits = [(t, c) for t in range(15) for c in range(25) if np.array_equal(img[t : t + 16, c : c + 16], out)]
    assert len(hits) == 1


def test_small_images_reflect_pad_keeps_pixels_and_upscale_resizes() -> None:
    img = _image(10, 12)
    out = TrainAugment(crop_size=16, blur_prob=0, jpeg_prob=0, flip=False)(img, np.random.default_rng(0))
    assert np.array_equal(out[3:13, 2:14], img)  # padded evenly, original untouched in the middle
    assert np.array_equal(out[2, 2:14], img[1])  # mirror row (reflect, not edge)
    up = TrainAugment(crop_size=20, blur_prob=0, jpeg_prob=0, flip=False, small="upscale")
    flat = np.full((10, 12, 3), 0.25, np.float32)
    np.testing.assert_allclose(up(flat, np.random.default_rng(0)), 0.25, atol=1e-5)


def test_train_augment_blur_and_jpeg_branches() -> None:
    img = _image(32, 32)
    jpeg_only = TrainAugment(crop_size=None, blur_prob=0, jpeg_prob=1.0, jpeg_quality=(40, 40), flip=False)
    assert np.array_equal(jpeg_only(img, np.random.default_rng(1)), jpeg_compress(img, 40))
    blur_only = TrainAugment(crop_size=None, blur_prob=1.0, blur_sigma=(2.0, 2.0), jpeg_prob=0, flip=False)
    assert np.allclose(blur_only(img, np.random.default_rng(1)), gaussian_blur(img, 2.0))
    # load_size resizes the shorter side first (CNNDetection --loadSize)
    assert TrainAugment(crop_size=None, load_size=16).output_size(32, 48) == (16, 24)
    out = TrainAugment(crop_size=None, load_size=16, flip=False)(_image(32, 48), np.random.default_rng(0))
    assert out.shape == (16, 24, 3)


def test_blur_smooths_and_jpeg_keeps_colours() -> None:
    img = _image(64, 64)
    assert np.abs(np.diff(gaussian_blur(img, 2.0), axis=1)).mean() < 0.3 * np.abs(np.diff(img, axis=1)).mean()
    assert gaussian_blur(img, 0.0) is img
    red = np.zeros((32, 32, 3), np.float32)
    red[..., 0] = 1.0
    dec = jpeg_compress(red, 90)
    assert dec[..., 0].mean() > 0.9 and dec[..., 2].mean() < 0.1  # RGB/BGR order handled
    noisy = _image(64, 64)
    err_hi = np.abs(jpeg_compress(noisy, 95) - noisy).mean()
    err_lo = np.abs(jpeg_compress(noisy, 20) - noisy).mean()
    assert err_lo > err_hi > 0


def test_resize_image_area_and_bicubic() -> None:
    img = np.zeros((4, 4, 3), np.float32)
    img[:2, :2] = 1.0
    np.testing.assert_allclose(resize_image(img, (2, 2))[..., 0], [[1, 0], [0, 0]], atol=1e-6)
    up = resize_image(_image(8, 8), (20, 20))
    assert up.shape == (20, 20, 3) and up.min() >= 0 and up.max() <= 1


@given(
    h=st.integers(8, 60),
    w=st.integers(8, 60),
    scale=st.one_of(st.none(), st.floats(0.1, 2.0)),
    crop=st.one_of(st.none(), st.integers(4, 40)),
    jpeg=st.one_of(st.none(), st.integers(10, 100)),
    blur=st.one_of(st.none(), st.floats(0.0, 2.0)),
)
def test_test_transform_output_size_matches(h: int, w: int, scale, crop, jpeg, blur) -> None:
    t = TestTransform(scale=scale, jpeg_quality=jpeg, blur_sigma=blur, center_crop=crop)
    out = t(_image(h, w))
    assert out.shape[:2] == t.output_size(h, w)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_test_transform_semantics() -> None:
    img = _image(30, 20)
    assert np.array_equal(TestTransform()(img), img)
    assert TestTransform().describe() == "identity"
    assert TestTransform(size=(12, 8)).output_size(30, 20) == (12, 8)
    assert TestTransform(size=16)(img).shape == (16, 16, 3)
    assert np.array_equal(TestTransform(center_crop=10)(img), img[10:20, 5:15])
    assert TestTransform(scale=0.5, jpeg_quality=75, blur_sigma=1.0).describe() == "scale=0.5,blur=1,jpeg=75"
    assert TestTransform().describe_plainly() == "images as given"
    assert (TestTransform(scale=0.5, jpeg_quality=75, blur_sigma=1.0).describe_plainly()
            == "downscaled to 0.5x, Gaussian blur (sigma 1 px), JPEG quality 75")
    assert TestTransform(size=(12, 8), center_crop=10).describe_plainly() == "resized to 12x8 px, centre crop of 10 px"
    flat = np.full((32, 32, 3), 0.4, np.float32)
    np.testing.assert_allclose(TestTransform(scale=0.25)(flat), 0.4, atol=1e-6)
    assert np.array_equal(TestTransform(jpeg_quality=60)(img), jpeg_compress(img, 60))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"crop_size": 0}, "crop_size must be a positive integer"),
        ({"blur_prob": 1.5}, "blur_prob must be a probability"),
        ({"jpeg_prob": -0.1}, "jpeg_prob must be a probability"),
        ({"blur_sigma": (3.0, 1.0)}, r"blur_sigma must satisfy"),
        ({"jpeg_quality": (30, 101)}, r"jpeg_quality must satisfy"),
        ({"jpeg_quality": (30.5, 90)}, "jpeg_quality must hold two integers"),
        ({"jpeg_quality": 50}, r"jpeg_quality must be a \(low, high\) pair"),
        ({"small": "crop"}, "small must be 'reflect' or 'upscale'"),
        ({"flip": "yes"}, "flip must be True or False"),
    ],
)
def test_train_augment_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainAugment(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale": 0.5, "size": 64}, "either scale or size"),
        ({"scale": -1.0}, "scale must be a positive"),
        ({"size": (64,)}, "size must be an int, a"),
        ({"size": 0}, "size must be a positive integer"),
        ({"jpeg_quality": 0}, r"jpeg_quality must be an integer in 1..100"),
        ({"jpeg_quality": True}, r"jpeg_quality must be an integer in 1..100"),
        ({"blur_sigma": -1.0}, "blur_sigma must be a finite number >= 0"),
        ({"center_crop": 2.5}, "center_crop must be a positive integer"),
    ],
)
def test_test_transform_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TestTransform(**kwargs)


def test_transforms_reject_bad_images_and_rng() -> None:
    np.testing.assert_array_equal(TestTransform()(np.full((8, 8, 3), 255, np.uint8)), np.ones((8, 8, 3)))
    with pytest.raises(TypeError, match="int64"):
        TestTransform()(np.zeros((8, 8, 3), np.int64))
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        TrainAugment()(np.zeros((8, 8), np.float32), np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        TrainAugment()(_image(8, 8), 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JPEG quality"):
        jpeg_compress(_image(8, 8), 0)
