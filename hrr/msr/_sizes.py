"""Scale planning for MSR: target sizes that the model accepts as they are, resizing, seeded noise, item seeds.

Diffusers pipelines silently *resize* inputs whose sides are not multiples of the VAE factor, and UNets want
multiples of ``vae_factor * 2**(levels - 1)`` (64 for SD 1.x and the SD-XL refiner). Content alignment between a
real view and its regeneration needs both to be the same pixels, so MSR chooses sizes that are already multiples
and never lets the model resize.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np

from hrr._pixels import resize_image

__all__ = ["ResizeMode", "add_noise", "item_seed", "resize_to", "target_size"]

ResizeMode = Literal["short_side", "square"]


def target_size(height: int, width: int, scale: int, multiple: int, mode: ResizeMode = "short_side") -> tuple[int, int]:
    """Size ``(H, W)`` an image of ``height x width`` takes at ``scale``.

    ``"short_side"``: the shorter side becomes ``scale``, the longer one keeps the aspect ratio and is then
    rounded down to a multiple of ``multiple`` (the few pixels beyond it are centre-cropped by :func:`resize_to`).
    ``"square"``: a centred square crop resized to ``scale x scale`` (all images of a scale share one size, so
    batches are always full).

    Parameters
    ----------
    height, width : int
        Source size (after EXIF orientation).
    scale : int
        Requested short side; must be a positive multiple of ``multiple``.
    multiple : int
        Both output sides are multiples of this.
    mode : {"short_side", "square"}, default "short_side"

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> target_size(480, 640, 256, 64)
    (256, 320)
    >>> target_size(640, 480, 256, 64, "square")
    (256, 256)
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if multiple <= 0 or scale <= 0 or scale % multiple:
        raise ValueError(f"scale must be a positive multiple of {multiple}, got {scale}")
    if mode == "square":
        return scale, scale
    if mode != "short_side":
        raise ValueError(f"mode must be 'short_side' or 'square', got {mode!r}")
    if height <= width:
        long_side = round(width * scale / height)
        return scale, max(multiple, long_side // multiple * multiple)
    long_side = round(height * scale / width)
    return max(multiple, long_side // multiple * multiple), scale


def resize_to(image: np.ndarray, size: tuple[int, int], mode: ResizeMode = "short_side") -> np.ndarray:
    """Resize a float32 ``(H, W, 3)`` image to ``size`` = ``(H', W')`` from :func:`target_size`, cropping centrally.

    Area averaging when shrinking (no aliasing), bicubic when enlarging (clipped back to ``[0, 1]``).

    Examples
    --------
    >>> import numpy as np
    >>> resize_to(np.zeros((480, 640, 3), np.float32), (256, 320)).shape
    (256, 320, 3)
    """
    h, w = image.shape[:2]
    th, tw = size
    if mode == "square":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top : top + side, left : left + side]
        h = w = side
        sh, sw = th, tw
    else:
        # scale so the short side matches exactly, then crop the long side down to the rounded target
        factor = th / h if h <= w else tw / w
        sh, sw = (th, max(tw, round(w * factor))) if h <= w else (max(th, round(h * factor)), tw)
    resized = resize_image(image, (sh, sw))
    top, left = (sh - th) // 2, (sw - tw) // 2
    return np.ascontiguousarray(resized[top : top + th, left : left + tw], dtype=np.float32)


def item_seed(seed: int, image_id: str, scale: int) -> int:
    """Seed of one (image, scale) work item: a hash, so it does not depend on order, batching or sharding.

    Examples
    --------
    >>> item_seed(0, "cat", 256) == item_seed(0, "cat", 256) != item_seed(0, "cat", 512)
    True
    """
    digest = hashlib.sha256(f"{int(seed)}|{image_id}|{int(scale)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def add_noise(image: np.ndarray, std: float, seed: int) -> np.ndarray:
    """Add seeded Gaussian noise ``N(0, std^2)`` per pixel and channel, then clip to ``[0, 1]``.

    The clip matters: diffusers treats any negative input as already in ``[-1, 1]`` (silently wrong colours).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.full((4, 4, 3), 0.5, np.float32)
    >>> bool(np.array_equal(add_noise(x, 0.01, 1), add_noise(x, 0.01, 1)))
    True
    """
    if std <= 0:
        return image
    noise = np.random.default_rng(seed).standard_normal(image.shape, dtype=np.float32)
    return np.clip(image + np.float32(std) * noise, 0.0, 1.0).astype(np.float32, copy=False)
