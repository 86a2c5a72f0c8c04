"""hrr._images: the bad-image corpus, conversions, validation and atomic lossless saving."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from hrr._files import IMAGE_EXTENSIONS, list_images
from hrr._images import ImageLoadError, load_image, load_image_or_none, read_image_size, save_png
from hrr._pixels import check_image_array, check_image_batch, tensor_to_arrays, to_tensor_batch

# ---------------------------------------------------------------------------------------------------------------
# corpus builders (also used by the engine tests)


def _random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_corpus(folder: Path) -> dict[str, Path]:
    """Write one file per tricky case; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def put(name: str) -> Path:
        files[name.split(".")[0]] = folder / name
        return folder / name

    Image.fromarray(_random_rgb(24, 40)).save(put("rgb.png"))
    buf = io.BytesIO()
    Image.fromarray(_random_rgb(128, 128, 1)).save(buf, format="JPEG", quality=90)
    put("truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    put("garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    buf = io.BytesIO()
    Image.fromarray(_random_rgb(32, 32, 6)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    start = data.find(b"IDAT") + 20
    data[start : start + 40] = bytes(40)  # valid header, damaged compressed pixel data
    put("corrupt.png").write_bytes(bytes(data))
    put("empty.png").write_bytes(b"")
    put("text.jpg").write_text("this is not an image\n")
    gray16 = (np.arange(16 * 32, dtype=np.uint32).reshape(16, 32) * 120).astype(np.uint16)
    Image.fromarray(gray16).save(put("gray16.png"))
    cmyk = Image.new("CMYK", (20, 12), (0, 255, 255, 0))  # pure red in naive CMYK
    cmyk.save(put("cmyk.jpg"), quality=100)
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.paste(1, (0, 0, 8, 16))  # left half index 1 (red), right half index 0 (black, transparent)
    pal.save(put("palette_transparent.png"), transparency=0)
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 128
    rgba[:, :6, 3] = 0
    Image.fromarray(rgba, "RGBA").save(put("rgba.png"))
    Image.fromarray(np.full((9, 11), 100, np.uint8), "L").save(put("gray.png"))
    rot = Image.fromarray(_random_rgb(20, 40, 2))  # stored 40 wide x 20 high, orientation 6 -> 20 wide x 40 high
    exif = Image.Exif()
    exif[0x0112] = 6
    rot.save(put("exif_rotated.jpg"), exif=exif.tobytes(), quality=95)
    frames = [Image.new("RGB", (16, 12), c) for c in ((0, 0, 255), (0, 255, 0), (255, 0, 0))]
    frames[0].save(put("animated.gif"), save_all=True, append_images=frames[1:], duration=50, loop=0)
    Image.fromarray(_random_rgb(4, 4, 3)).save(put("tiny.png"))
    Image.fromarray(_random_rgb(64, 64, 4)).save(put("big.png"))
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


# ---------------------------------------------------------------------------------------------------------------
# good files


def test_rgb_png_exact(corpus: dict[str, Path]) -> None:
    img = load_image(corpus["rgb"])
    assert img.dtype == np.float32 and img.shape == (24, 40, 3)
    np.testing.assert_array_equal(np.round(img * 255).astype(np.uint8), _random_rgb(24, 40))


def test_gray16_is_scaled_not_clipped(corpus: dict[str, Path]) -> None:
    img = load_image(corpus["gray16"])
    expected = (np.arange(16 * 32).reshape(16, 32) * 120).astype(np.float32) / 65535
    np.testing.assert_allclose(img[..., 0], expected, atol=1e-6)
    np.testing.assert_array_equal(img[..., 0], img[..., 2])
    assert img.max() < 1.0  # Pillow's convert("RGB") would have clipped almost everything to white


def test_cmyk_converted(corpus: dict[str, Path]) -> None:
    img = load_image(corpus["cmyk"])
    assert img.shape == (12, 20, 3)
    assert img[..., 0].mean() > 0.9 and img[..., 1].mean() < 0.1 and img[..., 2].mean() < 0.1


def test_palette_transparency_composited(corpus: dict[str, Path]) -> None:
    white = load_image(corpus["palette_transparent"])
    np.testing.assert_array_equal(white[:, :8], np.broadcast_to([1.0, 0.0, 0.0], (16, 8, 3)))
    np.testing.assert_array_equal(white[:, 8:], 1.0)  # black but transparent -> background
    black = load_image(corpus["palette_transparent"], background=(0.0, 0.0, 0.0))
    np.testing.assert_array_equal(black[:, 8:], 0.0)


def test_rgba_alpha_composited(corpus: dict[str, Path]) -> None:
    img = load_image(corpus["rgba"], background=(0.0, 0.0, 1.0))
    np.testing.assert_allclose(img[:, :6], np.broadcast_to([0.0, 0.0, 1.0], (10, 6, 3)))
    a = 128 / 255
    np.testing.assert_allclose(img[:, 6:], np.broadcast_to([a, 0.0, 1 - a], (10, 6, 3)), atol=1e-6)


def test_grayscale_replicated(corpus: dict[str, Path]) -> None:
    img = load_image(corpus["gray"])
    np.testing.assert_allclose(img, 100 / 255, atol=1e-7)


def test_exif_orientation_applied_and_in_header_size(corpus: dict[str, Path]) -> None:
    img = load_image(corpus["exif_rotated"])
    assert img.shape == (40, 20, 3)
    assert read_image_size(corpus["exif_rotated"]) == (40, 20)


def test_animated_gif_first_frame(corpus: dict[str, Path]) -> None:
    img = load_image(corpus["animated"])
    assert img.shape == (12, 16, 3)
    np.testing.assert_allclose(img.mean(axis=(0, 1)), [0, 0, 1], atol=0.02)


def test_read_image_size_matches_load(corpus: dict[str, Path]) -> None:
    for key in ("rgb", "gray16", "cmyk", "palette_transparent", "rgba", "gray", "animated", "big"):
        assert read_image_size(corpus[key]) == load_image(corpus[key]).shape[:2], key


# ---------------------------------------------------------------------------------------------------------------
# bad files


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("truncated", "truncated"),
        ("corrupt", "corrupt or truncated image data"),
        ("garbage", "not a recognised image format"),
        ("empty", "empty file"),
        ("text", "not a recognised image"),
        ("tiny", "smaller than min_size=8"),
    ],
)
def test_bad_files_raise_with_reason(corpus: dict[str, Path], key: str, fragment: str) -> None:
    with pytest.raises(ImageLoadError) as info:
        load_image(corpus[key])
    err = info.value
    assert err.path == str(corpus[key])
    assert fragment.lower() in err.reason.lower()
    assert str(err) == f"{corpus[key]}: {err.reason}"
    image, reason = load_image_or_none(corpus[key])
    assert image is None and reason == err.reason


def test_truncated_does_not_touch_global_flag(corpus: dict[str, Path]) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ImageLoadError):
        load_image(corpus["truncated"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="file not found"):
        read_image_size(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)


def test_bomb_guard_per_call(corpus: dict[str, Path]) -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageLoadError, match=r"64x64 = 4096 pixels, above max_pixels=4000"):
        load_image(corpus["big"], max_pixels=4000)
    with pytest.raises(ImageLoadError, match="max_pixels=4000"):
        read_image_size(corpus["big"], max_pixels=4000)
    assert load_image(corpus["big"], max_pixels=4096).shape == (64, 64, 3)
    assert load_image(corpus["big"], max_pixels=None).shape == (64, 64, 3)
    assert before == Image.MAX_IMAGE_PIXELS


def test_tiny_allowed_with_smaller_min_size(corpus: dict[str, Path]) -> None:
    assert load_image(corpus["tiny"], min_size=1).shape == (4, 4, 3)


def test_background_validated(corpus: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="background"):
        load_image(corpus["rgb"], background=(2.0, 0.0, 0.0))


def test_error_pickles() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(ImageLoadError("a.png", "broken")))
    assert (err.path, err.reason, str(err)) == ("a.png", "broken", "a.png: broken")


# ---------------------------------------------------------------------------------------------------------------
# listing


def test_list_images(tmp_path: Path) -> None:
    for rel in (
        "b.PNG",
        "a.jpg",
        "sub/c.webp",
        "sub/deeper/d.TIFF",
        ".hidden.png",
        ".git/e.png",
        "notes.txt",
        "sub/.f.png.123.tmp",
    ):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    names = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "sub/c.webp", "sub/deeper/d.TIFF"]
    assert [p.name for p in list_images(tmp_path, recursive=False)] == ["a.jpg", "b.PNG"]
    assert list_images(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]
    with pytest.raises(FileNotFoundError, match="missing"):
        list_images(tmp_path / "missing")
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"} == IMAGE_EXTENSIONS


# ---------------------------------------------------------------------------------------------------------------
# saving


def test_save_png_uint8_round_trip_lossless(tmp_path: Path) -> None:
    img = _random_rgb(33, 47, 5)
    save_png(tmp_path / "a" / "b" / "x.png", img)
    with Image.open(tmp_path / "a" / "b" / "x.png") as back:
        assert back.format == "PNG" and back.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(back), img)


def test_save_png_float_rounds(tmp_path: Path) -> None:
    img = np.array([[[0.0, 0.5, 1.0], [1 / 255, 0.499 / 255, 254.6 / 255]]], np.float32)
    save_png(tmp_path / "f.png", img)
    with Image.open(tmp_path / "f.png") as back:
        np.testing.assert_array_equal(np.asarray(back), [[[0, 128, 255], [1, 0, 255]]])


def test_save_png_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    save_png(target, _random_rgb(8, 8))
    original = target.read_bytes()

    def boom(fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk gone"):
        save_png(target, _random_rgb(8, 8, 9))
    assert target.read_bytes() == original  # old complete file still there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary left behind
    with pytest.raises(OSError, match="disk gone"):
        save_png(tmp_path / "new.png", _random_rgb(8, 8))
    assert not (tmp_path / "new.png").exists()


def test_save_png_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"image must be .* got values in"):
        save_png(tmp_path / "x.png", np.full((4, 4, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match=r"shape \(4, 4\)"):
        save_png(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------------------------------------------
# validation and conversion


def test_check_image_array_messages() -> None:
    assert check_image_array(np.zeros((3, 4, 3), np.float64)).dtype == np.float32
    with pytest.raises(TypeError, match=r"photo must be a float numpy array .* got list"):
        check_image_array([[0.0]], "photo")
    u8 = np.array([[[0, 128, 255]]], np.uint8)
    np.testing.assert_array_equal(check_image_array(u8), u8.astype(np.float32) / 255)  # uint8 accepted: x / 255
    with pytest.raises(TypeError, match=r"int16"):
        check_image_array(np.zeros((3, 4, 3), np.int16))
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        check_image_array(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        check_image_array(np.full((3, 4, 3), np.nan))
    with pytest.raises(ValueError, match=r"got values in \[-1\.0, -1\.0\]"):
        check_image_array(-np.ones((3, 4, 3)))
    # Round-off just past 1 is shown with every digit (it used to print as "[0, 1]").
    with pytest.raises(ValueError, match=r"got values in \[0\.0, 1\.0000001192092896\]"):
        check_image_array(np.array([[[0.0, 0.5, np.nextafter(np.float32(1), np.float32(2))]]], np.float32))


def test_check_image_batch_messages() -> None:
    x = torch.rand(2, 3, 4, 5)
    assert check_image_batch(x) is x
    with pytest.raises(TypeError, match="got numpy array of shape"):
        check_image_batch(np.zeros((2, 3, 4, 5)))
    u8 = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    converted = check_image_batch(u8)  # uint8 accepted: a float32 copy, x / 255
    assert converted.dtype == torch.float32
    assert torch.equal(converted.flatten(), torch.tensor([0.0, 51.0, 255.0]) / 255)
    with pytest.raises(TypeError, match=r"torch\.int32"):
        check_image_batch(torch.zeros(2, 3, 4, 5, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"got values in \[0\.0, 1\.0000001192092896\]"):
        check_image_batch(torch.tensor([0.0, 0.5, 1.0000001]).view(1, 3, 1, 1))
    with pytest.raises(ValueError, match=r"shape \(2, 4, 4, 5\)"):
        check_image_batch(torch.zeros(2, 4, 4, 5), "batch")
    with pytest.raises(ValueError, match=r"values in"):
        check_image_batch(torch.full((1, 3, 2, 2), 1.5))


def test_tensor_round_trip() -> None:
    arrays = [np.random.default_rng(i).random((5, 7, 3), dtype=np.float32) for i in range(3)]
    t = to_tensor_batch(arrays)
    assert t.shape == (3, 3, 5, 7) and t.dtype == torch.float32
    assert float(t[1, 2, 4, 6]) == float(arrays[1][4, 6, 2])
    for a, b in zip(tensor_to_arrays(t), arrays, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="same shape"):
        to_tensor_batch([np.zeros((2, 2, 3)), np.zeros((3, 2, 3))])
    with pytest.raises(ValueError, match="non-empty"):
        to_tensor_batch([])
