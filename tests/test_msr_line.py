"""LineEnhancer (Eq. 2): synthetic lines/boxes/specks, the exact dilation rule, and a plain Python reference."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

from hrr.msr import LineEnhancer

# ---------------------------------------------------------------------------------------------------------------
# straightforward reference, written from the description (float64 numpy blurs, Python loops for h)


def _gauss_1d(ksize: int, sigma: float) -> np.ndarray:
    if sigma <= 0:
        sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8  # OpenCV's rule for sigma from the kernel size
    x = np.arange(ksize) - ksize // 2
    k = np.exp(-(x**2) / (2 * sigma * sigma))
    return k / k.sum()


def _blur2d(channel: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    k = _gauss_1d(ksize, sigma)
    r = ksize // 2
    h, w = channel.shape
    padded = np.pad(channel.astype(np.float64), r, mode="reflect")  # numpy "reflect" == OpenCV BORDER_REFLECT_101
    rows = sum(k[i] * padded[:, i : i + w] for i in range(ksize))
    return sum(k[i] * rows[i : i + h, :] for i in range(ksize))


def _blur(img: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    return np.stack([_blur2d(img[..., c], ksize, sigma) for c in range(img.shape[2])], axis=2)


def ref_sharpen(img: np.ndarray, weight: float = 0.5, ksize: int = 51, thr: float = 10 / 255) -> np.ndarray:
    blur = _blur(img, ksize, 0)
    res = img - blur
    soft = _blur((np.abs(res) > thr).astype(np.float64), ksize, 0)
    sharp = np.clip(img + weight * res, 0, 1)
    return soft * sharp + (1 - soft) * img


def ref_line_mask(sharp: np.ndarray, sigma=0.6, k=2.5, gamma=0.975, eps=-15 / 255, min_area=32, fill=3):
    gray = 0.299 * sharp[..., 0] + 0.587 * sharp[..., 1] + 0.114 * sharp[..., 2]
    size = lambda s: round(s * 8 + 1) | 1  # noqa: E731
    d = _blur2d(gray, size(sigma), sigma) - gamma * _blur2d(gray, size(sigma * k), sigma * k)
    h, w = gray.shape
    if d.max() <= 0:
        return np.zeros((h, w), np.uint8)
    line = (d / d.max() < eps).astype(np.uint8)
    # outlier filter: breadth-first search over 8-connected components
    seen = np.zeros((h, w), bool)
    kept = np.zeros((h, w), np.uint8)
    for y in range(h):
        for x in range(w):
            if line[y, x] and not seen[y, x]:
                comp, queue = [], deque([(y, x)])
                seen[y, x] = True
                while queue:
                    cy, cx = queue.popleft()
                    comp.append((cy, cx))
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = cy + dy, cx + dx
                            if 0 <= ny < h and 0 <= nx < w and line[ny, nx] and not seen[ny, nx]:
                                seen[ny, nx] = True
                                queue.append((ny, nx))
                if len(comp) >= min_area:
                    for cy, cx in comp:
                        kept[cy, cx] = 1
    # passive dilation, one pass counted on the pre-dilation mask
    out = kept.copy()
    for y in range(h):
        for x in range(w):
            if kept[y, x]:
                continue
            n = 0
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if (dy or dx) and 0 <= y + dy < h and 0 <= x + dx < w:
                        n += kept[y + dy, x + dx]
            if n >= fill:
                out[y, x] = 1
    return out


def ref_enhance(img: np.ndarray, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    img = img.astype(np.float64)
    sharp = img
    for _ in range(n):
        sharp = ref_sharpen(sharp)
    mask = ref_line_mask(sharp)
    return np.clip(img + mask[..., None] * (sharp - img), 0, 1), mask


# ---------------------------------------------------------------------------------------------------------------
# synthetic scene


def scene(h: int = 96, w: int = 128) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    img = np.full((h, w, 3), 0.8, np.float32)
    parts = {k: np.zeros((h, w), bool) for k in ("line", "box", "speck")}
    parts["line"][20:22, 10:110] = True
    parts["box"][50:80, 20:22] = parts["box"][50:80, 48:50] = True
    parts["box"][50:52, 20:50] = parts["box"][78:80, 20:50] = True
    for y, x in ((40, 80), (70, 100), (88, 60)):
        parts["speck"][y : y + 2, x : x + 2] = True
    for key, value in (("line", (0.1, 0.1, 0.1)), ("box", (0.2, 0.1, 0.3)), ("speck", (0.15, 0.15, 0.15))):
        img[parts[key]] = value
    return img, parts


def test_lines_kept_specks_dropped() -> None:
    img, parts = scene()
    mask = LineEnhancer().line_mask(img)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert mask[parts["line"]].all() and mask[parts["box"]].all()
    for y, x in ((40, 80), (70, 100), (88, 60)):
        assert not mask[y - 3 : y + 5, x - 3 : x + 5].any(), (y, x)
    # without the outlier filter the specks do show up: the test above is not vacuous
    raw = LineEnhancer(min_component_area=0).line_mask(img)
    assert raw[parts["speck"]].any()


def test_matches_plain_reference() -> None:
    img, _ = scene()
    rng = np.random.default_rng(0)
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)
    out, mask = LineEnhancer()(img, return_mask=True)
    ref_out, ref_mask = ref_enhance(img)
    assert mask.sum() > 300
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_allclose(out, ref_out, atol=2e-5)


def test_sharpen_matches_reference() -> None:
    img = np.random.default_rng(1).random((60, 70, 3), dtype=np.float32)
    np.testing.assert_allclose(LineEnhancer().sharpen(img), ref_sharpen(img), atol=2e-6)


def test_passive_dilation_rule_exact() -> None:
    enh = LineEnhancer(min_component_area=32, fill_min_neighbors=3)
    lines = np.zeros((20, 60), np.uint8)
    lines[10, 5:46] = 1  # 41 pixels: kept
    lines[2:4, 50:52] = 1  # a 4-pixel speck: removed before dilation
    out = enh.postprocess(lines)
    expected = np.zeros_like(lines)
    expected[10, 5:46] = 1
    # above/below the line: 3 line neighbours inside, only 2 at the two ends -> not filled there
    expected[9, 6:45] = expected[11, 6:45] = 1
    np.testing.assert_array_equal(out, expected)  # single pass: rows 8 and 12 stay empty
    np.testing.assert_array_equal(LineEnhancer(fill_min_neighbors=2).postprocess(lines)[9, 5:46], 1)
    no_speck = lines.copy()
    no_speck[2:4, 50:52] = 0
    np.testing.assert_array_equal(LineEnhancer(fill_min_neighbors=0).postprocess(lines), no_speck)


def test_border_neighbours_count_as_background() -> None:
    lines = np.zeros((10, 40), np.uint8)
    lines[0, :] = 1
    out = LineEnhancer(min_component_area=1).postprocess(lines)
    np.testing.assert_array_equal(out[1, 1:-1], 1)
    assert out[1, 0] == 0 and out[1, -1] == 0  # corners see only 2 line neighbours


def test_flat_and_black_images_unchanged() -> None:
    enh = LineEnhancer()
    for value in (0.0, 0.37, 1.0):
        img = np.full((40, 50, 3), value, np.float32)
        out, mask = enh(img, return_mask=True)
        assert not mask.any()
        np.testing.assert_array_equal(out, img)


def test_combine_formula_exact() -> None:
    img, _ = scene()
    enh = LineEnhancer(sharpen_iters=2)
    out, mask = enh(img, return_mask=True)
    s1 = enh.sharpen(img)
    s2 = enh.sharpen(s1)
    m = mask[..., None].astype(np.float32)
    np.testing.assert_array_equal(out, np.clip(img + m * (s2 - img), 0, 1))
    apisr = LineEnhancer(sharpen_iters=2, combine="apisr")(img)
    np.testing.assert_array_equal(apisr, np.clip(s1 + m * (s2 - s1), 0, 1))
    assert not np.array_equal(out, apisr)


def test_pure_and_deterministic() -> None:
    img, _ = scene()
    copy = img.copy()
    a, b = LineEnhancer()(img), LineEnhancer()(img)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(img, copy)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1


def test_torch_batch_matches_numpy() -> None:
    img, _ = scene()
    other = np.ascontiguousarray(img[::-1, ::-1])
    batch = torch.from_numpy(np.stack([img, other])).permute(0, 3, 1, 2).double()
    out, masks = LineEnhancer()(batch, return_mask=True)
    assert out.dtype == torch.float64 and out.shape == batch.shape and masks.shape == (2, 96, 128)
    for i, arr in enumerate((img, other)):
        ref, ref_mask = LineEnhancer()(arr, return_mask=True)
        np.testing.assert_allclose(out[i].permute(1, 2, 0).numpy(), ref, atol=1e-7)
        np.testing.assert_array_equal(masks[i].numpy(), ref_mask.astype(bool))


def test_tiny_image_smaller_than_kernel() -> None:
    img = np.random.default_rng(2).random((8, 9, 3), dtype=np.float32)
    out = LineEnhancer()(img)
    assert out.shape == (8, 9, 3) and np.isfinite(out).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"usm_kernel must be an odd int >= 3, got 50"):
        LineEnhancer(usm_kernel=50)
    with pytest.raises(ValueError, match="combine must be 'hrr' or 'apisr'"):
        LineEnhancer(combine="other")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fill_min_neighbors"):
        LineEnhancer(fill_min_neighbors=9)
    with pytest.raises(TypeError, match=r"image must be a float numpy array"):
        LineEnhancer()(np.zeros((8, 8, 3), np.int32))
    u8 = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)  # uint8 is accepted as x / 255
    np.testing.assert_array_equal(LineEnhancer()(u8), LineEnhancer()(u8.astype(np.float32) / 255))
    as_tensor = torch.from_numpy(u8).permute(2, 0, 1)[None]
    assert LineEnhancer()(as_tensor).dtype == torch.float32
    with pytest.raises(ValueError, match=r"image must be a float torch tensor of shape \(B, 3, H, W\)"):
        LineEnhancer()(torch.zeros(3, 8, 8))
    assert LineEnhancer().config()["sharpen_iters"] == 3
