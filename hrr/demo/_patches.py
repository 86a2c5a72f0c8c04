"""Real photographs that ship inside installed packages, cut into patches at several positions and scales."""

from __future__ import annotations

import cv2
import numpy as np

from hrr._pixels import clip_unit

# Colour photographs of scikit-image and scikit-learn (no downloads: both ship these files in their wheels).
_SKIMAGE = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
_SKLEARN = ("china.jpg", "flower.jpg")


def packaged_photos() -> dict[str, np.ndarray]:
    """Name -> HxWx3 float32 photo in [0, 1]."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_image

    photos = {name: getattr(skdata, name)()[..., :3] for name in _SKIMAGE}
    photos.update({name.split(".")[0]: load_sample_image(name) for name in _SKLEARN})
    return {k: np.ascontiguousarray(v, dtype=np.float32) / 255.0 for k, v in photos.items()}


def cut_patches(photos: dict[str, np.ndarray], n: int, size: int, *, seed: int, part: str,
                scales: tuple[float, ...] = (1.0, 0.75, 0.5), return_positions: bool = False
                ) -> np.ndarray | tuple[np.ndarray, list[tuple[str, float, int, int]]]:
    """``n`` patches ``(n, size, size, 3)`` at random positions of randomly rescaled photos.

    ``part="train"`` draws from the top 75 % of every photo and ``"test"`` from the bottom 25 %, so the train and
    test reals never share pixels. With ``return_positions``, also the ``(photo, scale, y, x)`` of each patch.
    """
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test'; got {part!r}")
    rng = np.random.default_rng(seed)
    names = sorted(photos)
    resized = {(k, s): clip_unit(cv2.resize(photos[k], None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
               if s != 1 else photos[k] for k in names for s in scales}
    out = np.empty((n, size, size, 3), np.float32)
    positions: list[tuple[str, float, int, int]] = []
    for i in range(n):
        key = (names[int(rng.integers(len(names)))], scales[int(rng.integers(len(scales)))])
        img = resized[key]
        h, w = img.shape[:2]
        cut = int(h * 0.75)
        lo, hi = (0, cut - size) if part == "train" else (cut, h - size)
        if hi <= lo:  # photo too small at this scale for a disjoint test strip: fall back to the full scale
            key = (key[0], 1.0)
            img = photos[key[0]]
            h, w = img.shape[:2]
            cut = int(h * 0.75)
            lo, hi = (0, cut - size) if part == "train" else (cut, h - size)
        y = int(rng.integers(lo, hi + 1))
        x = int(rng.integers(0, w - size + 1))
        out[i] = img[y:y + size, x:x + size]
        positions.append((key[0], key[1], y, x))
    return (out, positions) if return_positions else out
