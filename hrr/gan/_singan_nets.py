"""SinGAN's networks and image pyramid (Tang et al., Eqs. 5-6): the per-scale generator and patch critic, the
scale shapes, and the conversions between [0, 1] images and the models' [-1, 1] range."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F


def _block(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class ScaleGenerator(nn.Module):
    """G_n: ``x̃ = up + ψ(z + up)`` (Eq. 6), ψ a fully convolutional net with a tanh output."""

    def __init__(self, channels: int, n_layers: int) -> None:
        super().__init__()
        blocks = [_block(3, channels, False)] + [_block(channels, channels, False) for _ in range(n_layers - 2)]
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, z: Tensor, up: Tensor) -> Tensor:
        return up + torch.tanh(self.tail(self.body(z + up)))


class PatchDiscriminator(nn.Module):
    """D_n = J ∘ F: ``features`` (conv blocks) then ``head`` (last conv to a 1-channel critic map)."""

    def __init__(self, channels: int, n_layers: int, batch_norm: bool = True) -> None:
        super().__init__()
        blocks = [_block(3, channels, batch_norm)] + [
            _block(channels, channels, batch_norm) for _ in range(n_layers - 2)
        ]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _to_model_range(image: Any) -> Tensor:
    """(1, 3, H, W) float32 in [-1, 1] from a uint8/float HWC array or a float (3, H, W)/(1, 3, H, W) tensor."""
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"image array must be H×W×3 (RGB), got shape {arr.shape}")
        arr = arr[..., :3]
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float()
        if arr.dtype == np.uint8:
            t = t / 255.0
        t = t.unsqueeze(0)
    elif isinstance(image, Tensor):
        t = image.detach().float()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] != 3:
            raise ValueError(f"image tensor must be (3, H, W) or (1, 3, H, W) in [0, 1], "
                             f"got shape {tuple(image.shape)}")
    else:
        raise TypeError(f"image must be a numpy H×W×3 array or a torch tensor (3, H, W), got {type(image).__name__}")
    if float(t.min()) < -1e-6 or float(t.max()) > 1 + 1e-6:
        raise ValueError(f"image values must lie in [0, 1] (uint8 arrays are scaled), got range "
                         f"[{float(t.min()):.3g}, {float(t.max()):.3g}]")
    return t.clamp(0, 1) * 2 - 1


def pyramid_shapes(height: int, width: int, min_size: int, max_size: int, scale_factor: float) -> list[tuple[int, int]]:
    """Scale shapes from coarsest to finest: finest longer side = max_size (never upscaled), coarsest shorter
    side = min_size, with a constant ratio close to ``scale_factor`` between neighbours."""
    top = min(1.0, max_size / max(height, width))
    fh, fw = max(1, round(height * top)), max(1, round(width * top))
    short = min(fh, fw)
    if short < min_size:
        raise ValueError(f"the image is too small: its shorter side at the finest scale is {short} px, below "
                         f"min_size={min_size}; raise max_size (now {max_size}) or lower min_size")
    n_steps = max(1, round(math.log(min_size / short) / math.log(scale_factor))) if short > min_size else 0
    if n_steps == 0:
        return [(fh, fw)]
    ratio = (min_size / short) ** (1.0 / n_steps)
    shapes = []
    for k in range(n_steps, -1, -1):
        s = ratio**k
        shapes.append((max(1, round(fh * s)), max(1, round(fw * s))))
    return shapes


def sr_step_count(shapes: list[tuple[int, int]], factor: float, scale_factor: float) -> int:
    """SinGAN SR: the number of upsampling steps for ``factor``, the one closest to the pyramid's own ratio (finest
    over next-finest scale; ``1/scale_factor`` for a one-scale pyramid)."""
    ratio = shapes[-1][0] / shapes[-2][0] if len(shapes) > 1 else 1.0 / scale_factor
    return max(1, round(math.log(factor) / math.log(ratio)))


def _resize(x: Tensor, shape: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=shape, mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)
