"""A tiny, easy real-vs-generated image task written to disk on the fly (shared by the detector tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from skimage import data as skdata
from torch import nn

from hrr._images import save_png


def _photo() -> np.ndarray:
    return skdata.astronaut().astype(np.float32) / 255.0


def make_images(n: int, size: int, seed: int, fake: bool) -> list[np.ndarray]:
    """Random crops of a packaged photo; "generated" ones carry a faint period-2 up-sampling checkerboard."""
    rng = np.random.default_rng(seed)
    photo = _photo()
    yy, xx = np.mgrid[0:size, 0:size]
    checker = (((yy + xx) % 2) * 2.0 - 1.0)[..., None].astype(np.float32)
    out = []
    for _ in range(n):
        y, x = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        img = photo[y:y + size, x:x + size].copy()
        if fake:
            img = np.clip(img + 0.12 * checker, 0.0, 1.0)
        out.append(img)
    return out


def write_realfake(root: Path, n: int = 16, size: int = 32, seed: int = 0) -> Path:
    """``root/{real,fake}/NNN.png`` with ``n`` images per class."""
    for label, fake in (("real", False), ("fake", True)):
        for i, img in enumerate(make_images(n, size, seed + int(fake) * 1000, fake)):
            save_png(root / label / f"{i:03d}.png", img)
    return root


class TinyBackbone(nn.Module):
    """A 2-layer CNN feature extractor: fast enough for CPU tests, able to see period-2 patterns."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
