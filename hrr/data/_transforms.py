"""Image transforms: CNNDetection-style training augmentation and deterministic test-time degradations.

Both work on one numpy image, float32 ``(H, W, 3)`` in [0, 1], and return the same kind of array. Randomness comes
only from the ``numpy.random.Generator`` passed in, so a transform is reproducible from a seed and independent of
the order in which images are visited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from hrr._pixels import check_image_array, clip_unit, resize_image, warn_upsampling

__all__ = ["TestTransform", "TrainAugment", "gaussian_blur", "jpeg_compress", "resize_image"]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (0 returns the image unchanged).

    Parameters
    ----------
    image : numpy.ndarray
        Float ``(H, W, 3)`` in [0, 1], or ``uint8`` (divided by 255).
    sigma : float
        Standard deviation in pixels, >= 0. The kernel covers +-4 sigma (OpenCV's choice for float images).

    Returns
    -------
    numpy.ndarray
        Float32 ``(H, W, 3)`` in [0, 1].

    Examples
    --------
    >>> bool(gaussian_blur(np.ones((16, 16, 3), np.float32), 1.5).max() <= 1.0)
    True
    """
    image = check_image_array(image, "image")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"blur sigma must be a finite number >= 0; got {sigma!r}")
    if sigma == 0:
        return image
    out = cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), sigmaY=float(sigma), borderType=cv2.BORDER_REFLECT_101)
    return clip_unit(out)  # the kernel's weights sum to 1 only up to round-off: white can blur to 1.0000001


def jpeg_compress(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode to JPEG in memory at ``quality`` and decode again (libjpeg via OpenCV, 4:2:0 chroma).

    Parameters
    ----------
    image : numpy.ndarray
        Float ``(H, W, 3)`` RGB in [0, 1] (quantised to 8 bits first, as any saved JPEG is), or ``uint8``.
    quality : int
        1..100.

    Returns
    -------
    numpy.ndarray
        Float32 ``(H, W, 3)`` RGB in [0, 1].

    Examples
    --------
    >>> jpeg_compress(np.full((16, 16, 3), 0.5, np.float32), 75).shape
    (16, 16, 3)
    """
    image = check_image_array(image, "image")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer in 1..100; got {quality!r}")
    u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    # OpenCV expects BGR: converting keeps the YCbCr chroma planes (and their subsampling) those of the real colours.
    ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - libjpeg does not fail on a valid uint8 array
        raise RuntimeError("OpenCV failed to JPEG-encode the image")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(dec[..., ::-1], dtype=np.float32) / np.float32(255.0)


def _reflect_pad_to(image: np.ndarray, min_h: int, min_w: int) -> np.ndarray:
    h, w = image.shape[:2]
    dh, dw = max(0, min_h - h), max(0, min_w - w)
    if dh == 0 and dw == 0:
        return image
    pad = ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2), (0, 0))
    # numpy reflects repeatedly when the pad is wider than the image; a 1-pixel side cannot reflect.
    mode = "reflect" if min(h, w) > 1 else "edge"
    return np.ascontiguousarray(np.pad(image, pad, mode=mode))


def _check_pair(name: str, value: object, *, low: float, high: float, integer: bool) -> tuple[float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ValueError(f"{name} must be a (low, high) pair; got {value!r}")
    lo, hi = value
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if any(isinstance(v, bool) or not isinstance(v, kinds) for v in (lo, hi)):
        raise ValueError(f"{name} must hold two {'integers' if integer else 'numbers'}; got {value!r}")
    if not (np.isfinite(lo) and np.isfinite(hi) and low <= lo <= hi <= high):
        raise ValueError(f"{name} must satisfy {low} <= low <= high <= {high}; got {value!r}")
    return lo, hi


def _check_prob(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {value!r}")


def _check_side(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer number of pixels or None; got {value!r}")


def _short_side_size(h: int, w: int, short: int) -> tuple[int, int]:
    scale = short / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


@dataclass
class TrainAugment:
    """CNNDetection training augmentation: [resize] -> blur -> JPEG -> random crop -> horizontal flip.

    Parameters
    ----------
    crop_size : int or None
        Side of the square random crop (224 in CNNDetection). None keeps the whole image (then batches need equal
        sizes, e.g. ``load_size`` with square images, or a size-bucketed sampler).
    blur_prob : float
        Probability of a Gaussian blur, sigma ~ U[``blur_sigma``].
    blur_sigma : (float, float)
        Range of the blur sigma in pixels (CNNDetection: 0..3).
    jpeg_prob : float
        Probability of JPEG re-encoding at quality ~ U{``jpeg_quality``} (inclusive integers).
    jpeg_quality : (int, int)
        Range of JPEG qualities (CNNDetection: 30..100).
    flip : bool
        Random horizontal flip with probability 1/2.
    load_size : int or None
        If set, first resize so the shorter side is ``load_size`` (CNNDetection ``--loadSize 256``); None keeps the
        native resolution, which keeps the generator's pixel-level traces intact.
    small : {"reflect", "upscale"}
        What to do with an image smaller than ``crop_size``: ``"reflect"`` pads it by mirroring (no resampling,
        so high-frequency traces survive), ``"upscale"`` enlarges it bicubically so its shorter side is
        ``crop_size``.

    Examples
    --------
    >>> aug = TrainAugment(crop_size=32, blur_prob=0.5, jpeg_prob=0.5)
    >>> aug(np.random.rand(48, 40, 3).astype(np.float32), np.random.default_rng(0)).shape
    (32, 32, 3)
    """

    crop_size: int | None = 224
    blur_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.0, 3.0)
    jpeg_prob: float = 0.1
    jpeg_quality: tuple[int, int] = (30, 100)
    flip: bool = True
    load_size: int | None = None
    small: Literal["reflect", "upscale"] = "reflect"

    def __post_init__(self) -> None:
        if self.crop_size is not None:
            _check_side("crop_size", self.crop_size)
        if self.load_size is not None:
            _check_side("load_size", self.load_size)
        _check_prob("blur_prob", self.blur_prob)
        _check_prob("jpeg_prob", self.jpeg_prob)
        self.blur_sigma = _check_pair("blur_sigma", self.blur_sigma, low=0.0, high=np.inf, integer=False)
        self.jpeg_quality = _check_pair("jpeg_quality", self.jpeg_quality, low=1, high=100, integer=True)
        if not isinstance(self.flip, bool):
            raise ValueError(f"flip must be True or False; got {self.flip!r}")
        if self.small not in ("reflect", "upscale"):
            raise ValueError(f"small must be 'reflect' or 'upscale'; got {self.small!r}")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Size ``(H, W)`` of the output for an input of ``height`` x ``width`` (no decoding needed)."""
        if self.crop_size is not None:
            return self.crop_size, self.crop_size
        if self.load_size is not None:
            return _short_side_size(height, width, self.load_size)
        return height, width

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment one image.

        Parameters
        ----------
        image : numpy.ndarray
            Float ``(H, W, 3)`` in [0, 1], or ``uint8`` (divided by 255).
        rng : numpy.random.Generator
            The only source of randomness: equal generators give equal outputs.

        Returns
        -------
        numpy.ndarray
            Float32 ``(H', W', 3)`` in [0, 1], ``(crop_size, crop_size)`` when cropping.
        """
        image = check_image_array(image, "image")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
        out = np.ascontiguousarray(image, dtype=np.float32)
        # Draw every decision in a fixed order whatever the branches, so streams stay aligned across settings.
        do_blur, sigma = rng.random() < self.blur_prob, rng.uniform(*self.blur_sigma)
        q_lo, q_hi = self.jpeg_quality
        do_jpeg, quality = rng.random() < self.jpeg_prob, int(rng.integers(q_lo, q_hi + 1))
        do_flip = rng.random() < 0.5
        if self.load_size is not None:
            out = resize_image(out, _short_side_size(*out.shape[:2], self.load_size))
        if do_blur:
            out = gaussian_blur(out, sigma)
        if do_jpeg:
            out = jpeg_compress(out, quality)
        if self.crop_size is not None:
            c = self.crop_size
            h, w = out.shape[:2]
            if h < c or w < c:
                if self.small == "upscale":
                    target = _short_side_size(h, w, c)
                    warn_upsampling((h, w), target, f"TrainAugment(crop_size={c}, small='upscale')")
                    out = resize_image(out, target)
                else:
                    out = _reflect_pad_to(out, c, c)
                h, w = out.shape[:2]
            top = int(rng.integers(0, h - c + 1))
            left = int(rng.integers(0, w - c + 1))
            out = out[top : top + c, left : left + c]
        if self.flip and do_flip:
            out = out[:, ::-1]
        return np.ascontiguousarray(out, dtype=np.float32)


@dataclass
class TestTransform:
    """Deterministic test-time transform: [resize] -> [blur] -> [JPEG] -> [center crop].

    The default (all None) is the identity: the paper's Table V protocol evaluates without cropping. Use one
    :class:`TestTransform` per sweep point for scale, JPEG and blur robustness curves.

    Parameters
    ----------
    scale : float or None
        Resize both sides by this factor (rounded, at least 1 pixel). Exclusive with ``size``.
    size : int or (int, int) or None
        Resize to ``size`` x ``size`` or to ``(height, width)`` (Table V: 512, 256, 128, 64). Area averaging
        down, bicubic up.
    jpeg_quality : int or None
        JPEG re-encoding quality 1..100.
    blur_sigma : float or None
        Gaussian blur sigma in pixels (0 = none).
    center_crop : int or None
        Side of a square center crop (CNNDetection tests with 224); smaller images are reflect-padded first.

    Examples
    --------
    >>> TestTransform(size=64).output_size(256, 256)
    (64, 64)
    >>> TestTransform(scale=0.5, center_crop=100).output_size(300, 240)
    (100, 100)
    """

    __test__ = False  # not a pytest test class despite the name

    scale: float | None = None
    size: int | tuple[int, int] | None = None
    jpeg_quality: int | None = None
    blur_sigma: float | None = None
    center_crop: int | None = None

    def __post_init__(self) -> None:
        if self.scale is not None:
            ok = isinstance(self.scale, (int, float, np.integer, np.floating)) and not isinstance(self.scale, bool)
            if not ok or not np.isfinite(self.scale) or self.scale <= 0:
                raise ValueError(f"scale must be a positive finite factor or None; got {self.scale!r}")
        if self.size is not None:
            if self.scale is not None:
                raise ValueError(f"give either scale or size, not both; got scale={self.scale!r}, size={self.size!r}")
            if isinstance(self.size, (int, np.integer)) and not isinstance(self.size, bool):
                _check_side("size", self.size)
            elif isinstance(self.size, Sequence) and len(self.size) == 2:
                for side in self.size:
                    _check_side("size", side)
                self.size = (int(self.size[0]), int(self.size[1]))
            else:
                raise ValueError(f"size must be an int, a (height, width) pair of ints, or None; got {self.size!r}")
        if self.jpeg_quality is not None and (
            isinstance(self.jpeg_quality, bool)
            or not isinstance(self.jpeg_quality, (int, np.integer))
            or not 1 <= self.jpeg_quality <= 100
        ):
            raise ValueError(f"jpeg_quality must be an integer in 1..100 or None; got {self.jpeg_quality!r}")
        if self.blur_sigma is not None and (
            isinstance(self.blur_sigma, bool)
            or not isinstance(self.blur_sigma, (int, float, np.integer, np.floating))
            or not np.isfinite(self.blur_sigma)
            or self.blur_sigma < 0
        ):
            raise ValueError(f"blur_sigma must be a finite number >= 0 or None; got {self.blur_sigma!r}")
        if self.center_crop is not None:
            _check_side("center_crop", self.center_crop)

    def _resized(self, height: int, width: int) -> tuple[int, int]:
        if self.scale is not None:
            return max(1, round(height * self.scale)), max(1, round(width * self.scale))
        if self.size is not None:
            return (self.size, self.size) if isinstance(self.size, (int, np.integer)) else self.size  # type: ignore[return-value]
        return height, width

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Size ``(H, W)`` of the output for an input of ``height`` x ``width`` (used to bucket by header)."""
        if self.center_crop is not None:
            return self.center_crop, self.center_crop
        return self._resized(height, width)

    def _steps(self) -> list[tuple[str, str]]:
        """(short label, plain words) of each step applied, in the order they are applied."""
        steps = []
        if self.scale is not None:
            steps.append((f"scale={self.scale:g}", f"downscaled to {self.scale:g}x"))
        if self.size is not None:
            h, w = self._resized(1, 1)
            steps.append((f"size={h}x{w}", f"resized to {h}x{w} px"))
        if self.blur_sigma is not None:
            steps.append((f"blur={self.blur_sigma:g}", f"Gaussian blur (sigma {self.blur_sigma:g} px)"))
        if self.jpeg_quality is not None:
            steps.append((f"jpeg={self.jpeg_quality}", f"JPEG quality {self.jpeg_quality}"))
        if self.center_crop is not None:
            steps.append((f"crop={self.center_crop}", f"centre crop of {self.center_crop} px"))
        return steps

    def describe(self) -> str:
        """Short label such as ``"scale=0.5,jpeg=75"`` (``"identity"`` when nothing is applied)."""
        return ",".join(short for short, _ in self._steps()) or "identity"

    def describe_plainly(self) -> str:
        """The same in words for figure titles, e.g. ``"downscaled to 0.5x, JPEG quality 75"`` (``"images as
        given"`` when nothing is applied)."""
        return ", ".join(words for _, words in self._steps()) or "images as given"

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Apply the transform.

        Parameters
        ----------
        image : numpy.ndarray
            Float ``(H, W, 3)`` in [0, 1], or ``uint8`` (divided by 255).
        rng : numpy.random.Generator, optional
            Ignored (accepted so train and test transforms share one call signature).

        Returns
        -------
        numpy.ndarray
            Float32 ``(H', W', 3)`` in [0, 1] with ``(H', W') == output_size(H, W)``.
        """
        out = np.ascontiguousarray(check_image_array(image, "image"))
        target = self._resized(*out.shape[:2])
        if self.size is not None:  # an explicit scale > 1 asks for enlargement; a target size does not
            warn_upsampling(out.shape[:2], target, f"TestTransform(size={self.size})")
        out = resize_image(out, target)
        if self.blur_sigma:
            out = gaussian_blur(out, float(self.blur_sigma))
        if self.jpeg_quality is not None:
            out = jpeg_compress(out, int(self.jpeg_quality))
        if self.center_crop is not None:
            c = self.center_crop
            out = _reflect_pad_to(out, c, c)
            h, w = out.shape[:2]
            top, left = (h - c) // 2, (w - c) // 2
            out = out[top : top + c, left : left + c]
        return np.ascontiguousarray(out, dtype=np.float32)
