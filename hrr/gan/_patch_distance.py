"""Sliced Wasserstein distance between patch sets: an image-distribution distance with no pretrained network."""

from __future__ import annotations

import torch
from torch import Tensor

from hrr._validate import check_float_tensor, check_int


def _patches(images: Tensor, patch_size: int) -> Tensor:
    """All patch_size × patch_size patches of a (B, C, H, W) batch as rows (N, C·p·p)."""
    cols = torch.nn.functional.unfold(images, kernel_size=patch_size)  # (B, C·p·p, L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def patch_sliced_wasserstein(
    images_a: Tensor,
    images_b: Tensor,
    *,
    patch_size: int = 7,
    n_patches: int = 4096,
    n_projections: int = 256,
    seed: int = 0,
) -> float:
    """Sliced Wasserstein-2 distance between random patch sets of two image batches.

    Patches (``patch_size``², all channels) are drawn uniformly from all positions of all images of each batch
    (``n_patches`` per side, with replacement), projected on ``n_projections`` random unit directions, and the
    sorted projections compared: ``SWD = sqrt(mean_θ mean_q (a_θ(q) − b_θ(q))²)``. Same seed, same patches
    and directions: the number is deterministic. It measures how well samples reproduce the photo's internal
    patch statistics (the quantity SinGAN models); lower is better. Two draws from the same distribution give a
    small positive value (sampling noise, shrinking like 1/√n_patches), not exactly 0.

    Parameters
    ----------
    images_a, images_b : Tensor
        Float batches (B, C, H, W) (or one image (C, H, W)); same C; values in any common range, e.g. [0, 1].
    patch_size : int
        p, >= 1 and <= min(H, W).
    n_patches : int
        Patches drawn per side.
    n_projections : int
        Random directions.
    seed : int
        Seed of the private generator for patches and directions.

    Returns
    -------
    float
        The distance, in the images' units.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> smooth = torch.linspace(0, 1, 32).expand(1, 3, 32, 32)
    >>> noise = torch.rand(1, 3, 32, 32, generator=g)
    >>> patch_sliced_wasserstein(smooth, smooth.flip(-1)) < patch_sliced_wasserstein(smooth, noise)
    True
    """
    if isinstance(images_a, Tensor) and images_a.dim() == 3:
        images_a = images_a.unsqueeze(0)
    if isinstance(images_b, Tensor) and images_b.dim() == 3:
        images_b = images_b.unsqueeze(0)
    check_float_tensor("images_a", images_a, exact_dim=4)
    check_float_tensor("images_b", images_b, exact_dim=4)
    if images_a.shape[1] != images_b.shape[1]:
        raise ValueError(f"images_b must have {images_a.shape[1]} channels like images_a, got {images_b.shape[1]}")
    patch_size = check_int("patch_size", patch_size, minimum=1)
    n_patches = check_int("n_patches", n_patches, minimum=2)
    n_projections = check_int("n_projections", n_projections, minimum=1)
    for name, imgs in (("images_a", images_a), ("images_b", images_b)):
        if min(imgs.shape[-2:]) < patch_size:
            raise ValueError(f"{name} must be at least patch_size={patch_size} pixels on each side, "
                             f"got shape {tuple(imgs.shape)}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    a = _patches(images_a.detach().double().cpu(), patch_size)
    b = _patches(images_b.detach().double().cpu(), patch_size)
    a = a[torch.randint(0, a.shape[0], (n_patches,), generator=gen)]
    b = b[torch.randint(0, b.shape[0], (n_patches,), generator=gen)]
    theta = torch.randn(a.shape[1], n_projections, generator=gen, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    pa = torch.sort(a @ theta, dim=0).values
    pb = torch.sort(b @ theta, dim=0).values
    return float((pa - pb).pow(2).mean().sqrt())
