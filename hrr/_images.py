"""Robust image I/O shared by the whole library: listing, header-only sizes, strict decoding, lossless atomic saving.

Every decoding path goes through Pillow with explicit handling of the cases that silently go wrong elsewhere
(EXIF orientation, 16-bit grayscale, alpha and palette transparency, CMYK, truncated files, decompression bombs,
animations). Nothing here changes Pillow's process-wide settings (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``): the pixel limit is checked per call from the header, before any decoding.

Arrays are ``float32`` ``H x W x 3`` in ``[0, 1]`` (RGB); batches are torch tensors ``(B, 3, H, W)``.
"""

from __future__ import annotations

import logging
import os
import pathlib
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps

from hrr._io import atomic_path

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageLoadError",
    "UpsamplingWarning",
    "check_image_array",
    "check_image_batch",
    "clip_unit",
    "list_images",
    "load_image",
    "load_image_or_none",
    "read_image_size",
    "resize_image",
    "save_png",
    "tensor_to_arrays",
    "to_tensor_batch",
    "walk_tree",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
"""File extensions (lower case, with the dot) that :func:`list_images` picks up, compared case-insensitively."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Default decompression-bomb guard: Pillow's own default ``Image.MAX_IMAGE_PIXELS`` (about 9459 x 9459)."""

# EXIF orientation tag values that swap width and height (transpose, 90 degree rotations, transverse).
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION_TAG = 0x0112


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


_log = logging.getLogger("hrr.images")


def walk_tree(
    root: str | os.PathLike[str], *, seen: set[tuple[int, int]] | None = None
) -> Iterator[tuple[pathlib.Path, list[pathlib.Path], list[pathlib.Path]]]:
    """Walk a folder tree top-down, following directory links, each real directory once: the listing walker.

    Every listing of user folders in the package goes through here (:func:`list_images`, the dataset layouts'
    folder search, MSR sources, ``HRRDetector.predict_paths``), so they all see the same files.

    - Links are followed, to folders and to files, at every depth (``os.walk`` skips linked folders by default).
    - Each real directory, identified by ``(st_dev, st_ino)``, is listed once: a link loop (``a/loop -> ..``)
      ends, and a folder reached through several links or paths appears under its shortest path only (fewest
      components; ties: first in name order). So a file seen through two linked folders is listed once. Files
      are not compared: two file names (links or hard links) for the same data are two entries.
    - Hidden entries (name starting with ``.``) are skipped, which includes the temporary files that
      :func:`hrr._io.atomic_path` creates while writing.
    - Broken links and unreadable folders are skipped with a warning on the ``hrr.images`` logger naming the path,
      instead of failing the whole listing.

    Parameters
    ----------
    root : str or os.PathLike
        The folder to walk (a link to a folder is followed).
    seen : set of (int, int), optional
        ``(st_dev, st_ino)`` of directories the walk must not enter; every directory it lists is added. Share one
        set between several walks so that no directory is listed twice across them, and pre-fill it to keep a walk
        out of folders listed elsewhere (``scan_dataset`` reserves the dataset's own folders, so a link inside a
        label folder cannot pull another label's images in). ``root`` itself is always listed.

    Yields
    ------
    tuple
        ``(folder, subfolders, files)`` as :class:`pathlib.Path` built from ``root`` (links are not resolved),
        each list sorted by name. As with ``os.walk``, remove entries from ``subfolders`` in place to keep the
        walk out of them; a removed folder still counts as seen.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist (or is a broken link).

    Examples
    --------
    >>> import tempfile, pathlib, os
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a").mkdir(); _ = (d / "a" / "x.png").write_bytes(b"")
    >>> os.symlink("..", d / "a" / "loop")  # a loop: listed once, never entered again
    >>> [(f.relative_to(d).as_posix(), [s.name for s in subs], [p.name for p in files])
    ...  for f, subs, files in walk_tree(d)]
    [('.', ['a'], []), ('a', [], ['x.png'])]
    """
    base = pathlib.Path(root)
    seen = set() if seen is None else seen
    try:
        key = _dir_key(base)
    except FileNotFoundError:
        raise FileNotFoundError(f"folder {str(base)!r} does not exist") from None
    except OSError as exc:
        _log.warning("skipping unreadable folder %s: %s", base, exc)
        return
    seen.add(key)  # listed even if the caller reserved it: only the folders below are checked against ``seen``
    # Breadth-first with sorted names: the first path that reaches a directory is its shortest one, so which alias
    # of a linked folder is kept does not depend on how deep the other aliases sit.
    queue: deque[pathlib.Path] = deque([base])
    while queue:
        folder = queue.popleft()
        subfolders, files = _read_folder(folder, seen)
        yield folder, subfolders, files
        queue.extend(subfolders)


def _dir_key(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Identity of the directory ``path`` points to (links followed): ``(st_dev, st_ino)``."""
    st = os.stat(path)  # not DirEntry.stat(): on Windows that leaves st_dev and st_ino at zero
    if st.st_ino == 0:  # a file system without inode numbers (FAT, some network mounts): the resolved path instead
        return (-1, hash(os.path.normcase(os.path.realpath(path))))
    return (st.st_dev, st.st_ino)


def _read_folder(folder: pathlib.Path, seen: set[tuple[int, int]]) -> tuple[list[pathlib.Path], list[pathlib.Path]]:
    """One level of :func:`walk_tree`: (new subfolders, files), links followed, directories claimed in ``seen``."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        _log.warning("skipping unreadable folder %s: %s", folder, exc)
        return [], []
    subfolders: list[pathlib.Path] = []
    files: list[pathlib.Path] = []
    for entry in entries:
        if entry.name.startswith("."):  # hidden, and atomic_path's ".<name>.<random>.tmp" partial writes
            continue
        path = folder / entry.name
        try:
            if entry.is_dir():  # follows links
                # Claimed when found, not when entered, so a second link to it in the same walk is dropped.
                key = _dir_key(path)
                if key in seen:
                    _log.debug("not listing %s again: the same folder was already listed", path)
                    continue
                seen.add(key)
                subfolders.append(path)
            elif entry.is_file():  # follows links
                files.append(path)
            elif entry.is_symlink():
                _log.warning("skipping broken link %s -> %s", path, os.readlink(path))
        except OSError as exc:  # a link loop of its own (ELOOP), a permission error on the target, ...
            _log.warning("skipping %s: %s", path, exc)
    return subfolders, files


def list_images(
    root: str | os.PathLike[str], *, recursive: bool = True, seen: set[tuple[int, int]] | None = None
) -> list[pathlib.Path]:
    """List image files under ``root``, sorted, selected by extension (case-insensitive).

    The folders are walked by :func:`walk_tree`: links to folders and files are followed, each real directory is
    listed once (link loops end), hidden files and folders and the temporary files that
    :func:`hrr._io.atomic_path` creates while writing are skipped, and broken links or unreadable folders are
    skipped with a logged warning.

    Parameters
    ----------
    root : str or os.PathLike
        A folder, or a single file (returned as ``[root]`` whatever its extension).
    recursive : bool, default True
        Descend into sub-folders.
    seen : set of (int, int), optional
        Shared with other listings so that no directory is listed twice across them; see :func:`walk_tree`.

    Returns
    -------
    list of pathlib.Path
        Sorted by their POSIX path string, so the order is the same on every machine and every rank.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.PNG", "a.jpg", ".hidden.png", "notes.txt"):
    ...     _ = (d / name).write_bytes(b"")
    >>> [p.name for p in list_images(d)]
    ['a.jpg', 'b.PNG']
    """
    base = pathlib.Path(root)
    if not base.exists():
        raise FileNotFoundError(f"image source {str(base)!r} does not exist")
    if base.is_file():
        return [base]
    found: list[pathlib.Path] = []
    for _folder, subfolders, files in walk_tree(base, seen=seen):
        if not recursive:
            subfolders.clear()
        found.extend(f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS)
    found.sort(key=lambda p: p.as_posix())
    return found


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
