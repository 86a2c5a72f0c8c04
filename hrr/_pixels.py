"""Pixel arrays and batches: the checks at the library boundary (float in [0, 1] or uint8), the clip every pixel
producer ends with, resampling, and the conversions between numpy ``H x W x 3`` images and ``(B, 3, H, W)`` tensors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

__all__ = [
    "UpsamplingWarning",
    "check_image_array",
    "check_image_batch",
    "clip_unit",
    "resize_image",
    "tensor_to_arrays",
    "to_tensor_batch",
    "warn_upsampling",
]

class UpsamplingWarning(UserWarning):
    """An image smaller than a requested target size was enlarged (interpolated pixels carry no generator traces)."""


def clip_unit(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as C-contiguous float32 with values clipped to ``[0, 1]``.

    Every function that produces or transforms pixels ends with this: blur, resampling and convex combinations
    of values in ``[0, 1]`` can land a rounding step outside it (``1.0000001``), which the range checks at the
    library boundary would then reject. NaN passes through unchanged (it is reported, not hidden).

    Examples
    --------
    >>> clip_unit(np.array([[[-1e-8, 0.5, 1.0000001]]], np.float32)).tolist()
    [[[0.0, 0.5, 1.0]]]
    """
    out = np.ascontiguousarray(image, dtype=np.float32)
    return np.clip(out, 0.0, 1.0, out=out if out is not image else None)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"numpy array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, torch.Tensor):
        return f"torch tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def _range_text(lo: float, hi: float) -> str:
    # repr: every digit, so 1.0000001192092896 is not shown as 1 (the bound the check compares against).
    return f"got values in [{lo!r}, {hi!r}]"


def check_image_array(image: Any, name: str = "image") -> np.ndarray:
    """Validate an ``H x W x 3`` image, float in ``[0, 1]`` or ``uint8`` in ``[0, 255]``, and return it as float32.

    ``uint8`` arrays are converted to float32 by dividing by 255.

    Parameters
    ----------
    image : numpy.ndarray
        The array to check: float ``(H, W, 3)`` in ``[0, 1]``, or ``uint8`` ``(H, W, 3)``.
    name : str, default "image"
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        ``float32`` ``(H, W, 3)`` in ``[0, 1]``: a view or copy of ``image``.

    Raises
    ------
    TypeError
        Not a numpy array, or neither a floating dtype nor ``uint8``.
    ValueError
        Wrong shape, empty, non-finite or outside ``[0, 1]`` (the message gives the minimum and maximum with
        every digit).

    Examples
    --------
    >>> import numpy as np
    >>> check_image_array(np.zeros((4, 5, 3))).dtype
    dtype('float32')
    >>> float(check_image_array(np.full((2, 2, 3), 255, np.uint8)).max())
    1.0
    """
    expected = "a float numpy array of shape (H, W, 3) with values in [0, 1] (or uint8)"
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be {expected}, got {_describe(image)}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} must be {expected}, got {_describe(image)}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"{name} must be {expected}, got {_describe(image)}")
    out = np.asarray(image, dtype=np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} must be {expected}, got an array containing NaN or infinity")
    lo, hi = float(out.min()), float(out.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must be {expected}, {_range_text(lo, hi)}")
    return out


def check_image_batch(images: Any, name: str = "images", *, channels: int | None = 3) -> torch.Tensor:
    """Validate an image batch ``(B, 3, H, W)``, float in ``[0, 1]`` or ``uint8``, and return it as a float tensor.

    Float batches are returned unchanged (same object, dtype and device); ``uint8`` batches are converted to
    float32 by dividing by 255, on their device.

    Parameters
    ----------
    images : torch.Tensor
        The batch to check.
    name : str, default "images"
        Argument name used in error messages.
    channels : int or None, default 3
        Required channel count; ``None`` accepts any (encoders of grayscale or multispectral images).

    Returns
    -------
    torch.Tensor
        ``images`` itself when it is a float tensor, else its float32 conversion.

    Raises
    ------
    TypeError
        Not a tensor, or neither a floating dtype nor ``uint8``.
    ValueError
        Wrong shape, empty, non-finite or outside ``[0, 1]`` (the message gives the minimum and maximum with
        every digit).

    Examples
    --------
    >>> import torch
    >>> check_image_batch(torch.zeros(2, 3, 4, 4)).shape
    torch.Size([2, 3, 4, 4])
    >>> check_image_batch(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)).max().item()
    1.0
    """
    expected = (
        f"a float torch tensor of shape (B, {'C' if channels is None else channels}, H, W) with values in [0, 1] "
        "(or uint8)"
    )
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be {expected}, got {_describe(images)}")
    if not (images.is_floating_point() or images.dtype == torch.uint8):
        raise TypeError(f"{name} must be {expected}, got {_describe(images)}")
    wrong_channels = channels is not None and images.ndim == 4 and images.shape[1] != channels
    if images.ndim != 4 or wrong_channels or images.numel() == 0:
        raise ValueError(f"{name} must be {expected}, got {_describe(images)}")
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 255.0
    values = images.detach()  # no autograd warning for tensors that require grad
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} must be {expected}, got a tensor containing NaN or infinity")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must be {expected}, {_range_text(lo, hi)}")
    return images


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float image: area averaging when shrinking, bicubic when enlarging.

    Parameters
    ----------
    image : numpy.ndarray
        Float ``(H, W, 3)`` in [0, 1], or ``uint8`` (divided by 255).
    size : tuple of int
        Target ``(height, width)``, both >= 1.

    Returns
    -------
    numpy.ndarray
        Float32 ``(height, width, 3)`` in [0, 1] (bicubic overshoot and round-off are clipped).

    Examples
    --------
    >>> resize_image(np.zeros((64, 48, 3), np.float32), (32, 24)).shape
    (32, 24, 3)
    """
    image = check_image_array(image, "image")
    h, w = image.shape[:2]
    out_h, out_w = int(size[0]), int(size[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"resize target must be >= 1 pixel per side; got {size!r}")
    if (out_h, out_w) == (h, w):
        return image
    # INTER_AREA is the alias-free choice for shrinking; it degrades to blocky nearest-like output when enlarging.
    shrink = out_h <= h and out_w <= w
    out = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return clip_unit(out)


def warn_upsampling(source: tuple[int, int], target: tuple[int, int], setting: str) -> bool:
    """Warn with :class:`UpsamplingWarning` when an image of size ``source`` is enlarged to ``target``.

    The message names the ``setting`` (e.g. ``"TestTransform(size=512)"``), not the image, so Python's default
    warning filter shows it once per setting instead of once per image of a long run.

    Parameters
    ----------
    source, target : (int, int)
        ``(height, width)`` before and after resizing.
    setting : str
        What asked for the size, in the user's terms.

    Returns
    -------
    bool
        Whether the image is up-sampled (on either side).

    Examples
    --------
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_upsampling((32, 32), (64, 64), "TestTransform(size=64)")
    True
    >>> caught[0].category.__name__
    'UpsamplingWarning'
    """
    up = target[0] > source[0] or target[1] > source[1]
    if up:
        warnings.warn(
            f"{setting} up-samples images smaller than its target size (bicubic); interpolated pixels carry no "
            "generator traces, so scores on them say little about the original image",
            UpsamplingWarning,
            stacklevel=3,
        )
    return up


def to_tensor_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack ``H x W x 3`` float images of one size into a float32 tensor ``(B, 3, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> to_tensor_batch([np.zeros((4, 5, 3), np.float32)] * 2).shape
    torch.Size([2, 3, 4, 5])
    """
    if isinstance(images, np.ndarray) or len(images) == 0:
        raise ValueError(f"images must be a non-empty sequence of (H, W, 3) arrays, got {_describe(images)}")
    arrays = [check_image_array(im, f"images[{i}]") for i, im in enumerate(images)]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"images must all have the same shape to form a batch, got shapes {sorted(shapes)}")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def tensor_to_arrays(t: torch.Tensor) -> list[np.ndarray]:
    """Split a batch ``(B, 3, H, W)`` into float32 ``H x W x 3`` numpy arrays (on the CPU).

    Examples
    --------
    >>> import torch
    >>> [a.shape for a in tensor_to_arrays(torch.zeros(2, 3, 4, 5))]
    [(4, 5, 3), (4, 5, 3)]
    """
    if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"t must be a torch tensor of shape (B, 3, H, W), got {_describe(t)}")
    arr = t.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(a) for a in arr]
