"""Robust image file I/O shared by the whole library: header-only sizes, strict decoding, lossless atomic saving.

Every decoding path goes through Pillow with explicit handling of the cases that silently go wrong elsewhere
(EXIF orientation, 16-bit grayscale, alpha and palette transparency, CMYK, truncated files, decompression bombs,
animations). Nothing here changes Pillow's process-wide settings (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``): the pixel limit is checked per call from the header, before any decoding.

Arrays are ``float32`` ``H x W x 3`` in ``[0, 1]`` (RGB); batches are torch tensors ``(B, 3, H, W)``.
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

from hrr._io import atomic_path
from hrr._pixels import _describe, check_image_array, clip_unit

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageLoadError",
    "load_image",
    "load_image_or_none",
    "read_image_size",
    "save_png",
]

DEFAULT_MAX_PIXELS = 89_478_485
"""Default decompression-bomb guard: Pillow's own default ``Image.MAX_IMAGE_PIXELS`` (about 9459 x 9459)."""


_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})


_EXIF_ORIENTATION_TAG = 0x0112


class ImageLoadError(ValueError):
    """An image file could not be listed, read or decoded.

    Attributes
    ----------
    path : str
        The file concerned.
    reason : str
        What went wrong, in words (for reports and logs).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:  # keep (path, reason) through pickling (worker processes)
        return (type(self), (self.path, self.reason))


def _open(path: str | os.PathLike[str]) -> Image.Image:
    """Open lazily (header only); every failure becomes an :class:`ImageLoadError`."""
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageLoadError(path, "is a directory, not an image file") from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(path, f"rejected by Pillow's own process-wide decompression-bomb limit ({exc})") from None
    except Image.UnidentifiedImageError:
        size = _file_size(path)
        what = "empty file (0 bytes)" if size == 0 else "not a recognised image format"
        raise ImageLoadError(path, what) from None
    except Exception as exc:  # OSError, SyntaxError, struct errors from malformed headers, ...
        raise ImageLoadError(path, f"cannot read image header: {type(exc).__name__}: {exc}") from None


def _file_size(path: str | os.PathLike[str]) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _header_orientation(img: Image.Image) -> int:
    """EXIF orientation readable without decoding pixels (PNG's eXIf may sit after the pixel data: not read)."""
    if img.format == "PNG" and "exif" not in img.info:
        return 1
    try:
        value = img.getexif().get(_EXIF_ORIENTATION_TAG, 1)
        return int(value)
    except Exception:  # malformed EXIF is not a reason to reject the image; treat as upright
        return 1


def _check_pixels(path: str | os.PathLike[str], width: int, height: int, max_pixels: int | None, min_size: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageLoadError(path, f"image header reports an empty size {width}x{height}")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            path,
            f"image is {width}x{height} = {width * height} pixels, above max_pixels={max_pixels} "
            "(decompression-bomb guard; pass a larger max_pixels or None to allow it)",
        )
    if min(width, height) < min_size:
        raise ImageLoadError(path, f"image is {width}x{height}, smaller than min_size={min_size} on a side")


def read_image_size(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """Return ``(height, width)`` as :func:`load_image` will deliver it, reading only the header.

    EXIF orientations 5-8 (90-degree rotations) swap the two sides. (A PNG whose ``eXIf`` chunk follows the pixel
    data is reported unrotated: finding it would need a full decode.)

    Parameters
    ----------
    path : str or os.PathLike
        Image file.
    max_pixels : int or None, default 89_478_485
        Reject images with more pixels than this (decompression-bomb guard). ``None`` disables the check.

    Returns
    -------
    tuple of int
        ``(H, W)`` after EXIF orientation.

    Raises
    ------
    ImageLoadError
        Missing, unreadable, non-image or too large.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> save_png(p, np.zeros((20, 30, 3), np.uint8))
    >>> read_image_size(p)
    (20, 30)
    """
    with _open(path) as img:
        width, height = img.size
        _check_pixels(path, width, height, max_pixels, min_size=1)
        if _header_orientation(img) in _SWAPPING_ORIENTATIONS:
            width, height = height, width
    return int(height), int(width)


def _to_rgb_float(img: Image.Image, background: tuple[float, float, float]) -> np.ndarray:
    """Convert a decoded (already oriented) Pillow image to float32 RGB in [0, 1]."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grayscale: Pillow's convert("RGB") clips at 255 (almost all white), so scale ourselves.
        gray = np.asarray(img, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(gray, 0.0, 1.0)[:, :, None], 3, axis=2)
    if mode == "F":
        gray = np.asarray(img, dtype=np.float32)
        gray = np.nan_to_num(gray, nan=0.0, posinf=1.0, neginf=0.0)
        return np.repeat(np.clip(gray, 0.0, 1.0)[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if has_alpha:
        # convert("RGB") would drop alpha and keep whatever colour hides under transparent pixels.
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[:, :, 3:4]
        bg = np.asarray(background, dtype=np.float32).reshape(1, 1, 3)
        return clip_unit(rgba[:, :, :3] * alpha + bg * (1.0 - alpha))
    # L, 1, P, RGB, CMYK, YCbCr, LAB, HSV, 16-bit RGB (opened as 8-bit RGB by Pillow): Pillow's converters.
    rgb = img if mode == "RGB" else img.convert("RGB")
    return np.asarray(rgb, dtype=np.float32) / 255.0


def load_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_size: int = 8,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Decode an image file strictly into a float32 RGB array.

    - EXIF orientation is applied; animations give their first frame.
    - Alpha (RGBA, LA, palette transparency) is composited over ``background``.
    - 16-bit grayscale is scaled by 1/65535 (not clipped); CMYK and other modes use Pillow's converters.
    - Truncated or corrupt files raise instead of being filled with grey.
    - The pixel count is checked from the header before decoding (``max_pixels``), per call.

    Parameters
    ----------
    path : str or os.PathLike
        Image file.
    max_pixels : int or None, default 89_478_485
        Decompression-bomb guard; ``None`` disables it (Pillow's own process-wide hard limit, twice its
        ``Image.MAX_IMAGE_PIXELS``, still applies and is reported as such).
    min_size : int, default 8
        Reject images whose shorter side is below this.
    background : tuple of float, default (1.0, 1.0, 1.0)
        RGB colour in ``[0, 1]`` that transparent pixels are composited over.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(H, W, 3)`` with values in ``[0, 1]``.

    Raises
    ------
    ImageLoadError
        With a reason: missing file, empty file, not an image, truncated/corrupt data, too large, too small.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> save_png(p, np.full((16, 16, 3), 255, np.uint8))
    >>> img = load_image(p)
    >>> img.shape, img.dtype, float(img.min())
    ((16, 16, 3), dtype('float32'), 1.0)
    """
    bg = tuple(float(c) for c in background)
    if len(bg) != 3 or not all(0.0 <= c <= 1.0 for c in bg):
        raise ValueError(f"background must be three floats in [0, 1], got {background!r}")
    with _open(path) as img:
        width, height = img.size
        _check_pixels(path, width, height, max_pixels, min_size)
        try:
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.load()  # Pillow raises on truncated data unless the global LOAD_TRUNCATED_IMAGES is set
        except Exception as exc:
            raise ImageLoadError(path, f"corrupt or truncated image data ({type(exc).__name__}: {exc})") from None
        try:
            oriented = ImageOps.exif_transpose(img)
        except Exception:  # a broken EXIF block: keep the stored orientation rather than reject the pixels
            oriented = img
        try:
            array = _to_rgb_float(oriented, bg)  # type: ignore[arg-type]
        except Exception as exc:
            reason = f"cannot convert mode {img.mode!r} to RGB ({type(exc).__name__}: {exc})"
            raise ImageLoadError(path, reason) from None
    if not np.isfinite(array).all():
        raise ImageLoadError(path, "decoded pixels contain NaN or infinity")
    return array


def load_image_or_none(path: str | os.PathLike[str], **kwargs: Any) -> tuple[np.ndarray | None, str | None]:
    """Like :func:`load_image`, but return ``(None, reason)`` instead of raising :class:`ImageLoadError`.

    For loops that skip bad files and report them.

    Returns
    -------
    tuple
        ``(image, None)`` on success, ``(None, reason)`` on failure.

    Examples
    --------
    >>> load_image_or_none("/no/such/file.png")
    (None, 'file not found')
    """
    try:
        return load_image(path, **kwargs), None
    except ImageLoadError as exc:
        return None, exc.reason


def _to_uint8(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise ValueError(f"image must be of shape (H, W, 3), got {_describe(image)}")
        return image
    arr = check_image_array(image, "image")
    # Round half up the same way everywhere, so a float image and its saved PNG agree to 1/510.
    return np.clip(np.floor(arr * 255.0 + 0.5), 0, 255).astype(np.uint8)


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an RGB image as a lossless 8-bit PNG, atomically (a reader never sees a partial file).

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent folders are created.
    image : numpy.ndarray
        ``uint8`` ``(H, W, 3)``, or float ``(H, W, 3)`` in ``[0, 1]`` (rounded to the nearest 8-bit level).

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "sub", "x.png")
    >>> img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    >>> save_png(p, img)
    >>> bool((np.round(load_image(p, min_size=1) * 255).astype(np.uint8) == img).all())
    True
    """
    pixels = _to_uint8(image)
    # OpenCV's PNG encoder is several times faster than Pillow's; level 3 is a good size/speed point.
    ok, buf = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OSError(f"PNG encoding failed for {os.fspath(path)!r}")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(buf.tobytes())
        fh.flush()
        os.fsync(fh.fileno())  # durable before the rename: after a crash an existing file is a complete file
