"""SinGAN-style multi-scale GAN (Tang et al., Eqs. 5-8) and the patch sliced-Wasserstein distance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hrr.gan import ScaleGenerator, SinGAN, SinGANConfig, patch_sliced_wasserstein, pyramid_shapes


def _image(h: int = 40, w: int = 48) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([np.sin(xx / 3.0), np.cos(yy / 4.0), np.sin((xx + yy) / 5.0)], axis=-1)
    img = (img + 1) / 2 * 200 + rng.integers(0, 50, size=(h, w, 3))
    return img.clip(0, 255).astype(np.uint8)


TINY = {"min_size": 12, "max_size": 24, "channels": 4, "n_layers": 3, "iters_per_scale": 3}


def test_pyramid_shapes() -> None:
    shapes = pyramid_shapes(512, 512, 25, 64, 0.75)
    assert shapes[0] == (25, 25) and shapes[-1] == (64, 64)
    ratios = [shapes[i][0] / shapes[i + 1][0] for i in range(len(shapes) - 1)]
    assert all(0.65 < r < 0.85 for r in ratios)
    rect = pyramid_shapes(300, 400, 25, 100, 0.75)
    assert rect[-1] == (75, 100) and min(rect[0]) == 25
    assert pyramid_shapes(30, 30, 25, 250, 0.75)[-1] == (30, 30)  # never upscaled
    with pytest.raises(ValueError, match="min_size"):
        pyramid_shapes(20, 20, 25, 64, 0.75)


def test_generator_is_residual_refinement_eq_6() -> None:
    g = ScaleGenerator(4, 3)
    up = torch.rand(2, 3, 10, 10) * 2 - 1
    z = torch.randn(2, 3, 10, 10)
    out = g(z, up)
    psi = torch.tanh(g.tail(g.body(z + up)))
    torch.testing.assert_close(out, up + psi)


@pytest.mark.parametrize("regularizer", ["none", "fgm", "pgd", "adaptive"])
def test_train_and_sample_shapes_ranges(regularizer: str) -> None:
    model = SinGAN(regularizer=regularizer, adv_target="embedding" if regularizer == "pgd" else "input", **TINY)
    model.train(_image(), seed=0, progress=False)
    assert model.shapes[-1] == (20, 24) and model.shapes[0][0] == 12
    samples = model.sample(3, seed=1)
    assert samples.shape == (3, 3, 20, 24) and samples.dtype == torch.float32
    assert float(samples.min()) >= 0.0 and float(samples.max()) <= 1.0
    assert model.reconstruct().shape == (1, 3, 20, 24)
    assert len(model.history) == len(model.shapes)
    if regularizer == "adaptive":
        h = model.history[0]
        assert h["pgd_calls"] + h["fgm_calls"] == 2 * TINY["iters_per_scale"]


def test_deterministic_under_seed_and_batch_size_independent() -> None:
    a = SinGAN(**TINY).train(_image(), seed=3, progress=False)
    b = SinGAN(**TINY).train(_image(), seed=3, progress=False)
    c = SinGAN(**TINY).train(_image(), seed=4, progress=False)
    sa, sb = a.sample(4, seed=7), b.sample(4, seed=7)
    torch.testing.assert_close(sa, sb, rtol=0, atol=0)
    torch.testing.assert_close(a.sample(4, seed=7, batch_size=1), sa, rtol=1e-5, atol=1e-6)
    assert not torch.equal(sa, a.sample(4, seed=8))
    assert not torch.equal(sa, c.sample(4, seed=7))
    assert not torch.equal(sa[0], sa[1])  # a batch holds different samples


def test_training_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SinGAN(**TINY).train(_image(), seed=0, progress=False).sample(2)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


def test_save_load_roundtrip(tmp_path: Path) -> None:
    model = SinGAN(**TINY).train(_image(), seed=0, progress=False)
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = SinGAN.load(path)
    assert loaded.config == model.config and loaded.shapes == model.shapes
    torch.testing.assert_close(loaded.sample(3, seed=2), model.sample(3, seed=2), rtol=0, atol=0)


def test_input_validation() -> None:
    with pytest.raises(TypeError, match="unknown SinGAN option"):
        SinGAN(iters=3)
    with pytest.raises(ValueError, match="regularizer"):
        SinGAN(regularizer="fancy")
    with pytest.raises(ValueError, match="scale_factor"):
        SinGANConfig(scale_factor=1.5).validate()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SinGAN(**TINY).train(torch.full((3, 30, 30), 2.0), progress=False)
    with pytest.raises(ValueError, match="H×W×3"):
        SinGAN(**TINY).train(np.zeros((30, 30), dtype=np.uint8), progress=False)
    with pytest.raises(RuntimeError, match="not trained"):
        SinGAN(**TINY).sample(2)


def test_patch_swd_properties() -> None:
    gen = torch.Generator().manual_seed(0)
    smooth = torch.linspace(0, 1, 40).expand(2, 3, 40, 40).contiguous()
    noisy = smooth + 0.3 * torch.randn(2, 3, 40, 40, generator=gen)
    same = patch_sliced_wasserstein(smooth, smooth.clone())
    d1 = patch_sliced_wasserstein(smooth, noisy)
    assert same < 0.1 * d1
    assert d1 == patch_sliced_wasserstein(smooth, noisy)  # deterministic (seeded)
    assert d1 != patch_sliced_wasserstein(smooth, noisy, seed=1)
    louder = patch_sliced_wasserstein(smooth, smooth + 0.6 * torch.randn(2, 3, 40, 40, generator=gen))
    assert louder > d1
    with pytest.raises(ValueError, match="patch_size"):
        patch_sliced_wasserstein(smooth[:, :, :5, :5], smooth)


def test_super_resolve_shape_range_seed_and_refinement_chain() -> None:
    model = SinGAN(**TINY).train(_image(), seed=0, progress=False)
    h, w = model.shapes[-1]
    up = model.super_resolve(4.0, seed=1)
    assert up.shape == (1, 3, round(h * 4), round(w * 4)) and up.dtype == torch.float32
    assert float(up.min()) >= 0.0 and float(up.max()) <= 1.0
    torch.testing.assert_close(up, model.super_resolve(4.0, seed=1))
    assert not torch.equal(up, model.super_resolve(4.0, seed=2))  # fresh noise at every step
    # With psi = 0 every step of G_N is the identity on its upsampled input, so the result is the chain of
    # resizes by factor**(1/k), k the step count closest to the pyramid ratio (here 20/15, so k = 5 for 4x).
    tail = model.generators[-1].tail
    tail.weight.zero_()
    tail.bias.zero_()
    ratio = h / model.shapes[-2][0]
    k = round(np.log(4.0) / np.log(ratio))
    from hrr.gan._singan_nets import _resize

    x = model.reals[-1]
    for i in range(1, k + 1):
        x = _resize(x, (round(h * 4 ** (i / k)), round(w * 4 ** (i / k))))
    torch.testing.assert_close(model.super_resolve(4.0, seed=1), (x.clamp(-1, 1) + 1) / 2)


def test_super_resolve_errors() -> None:
    with pytest.raises(RuntimeError, match="not trained"):
        SinGAN(**TINY).super_resolve(4.0)
    model = SinGAN(**TINY).train(_image(), seed=0, progress=False)
    with pytest.raises(ValueError, match=r"factor must be a finite number > 1, got 1.0"):
        model.super_resolve(1.0)
    with pytest.raises(ValueError, match=r"factor must be a finite number > 1, got -2"):
        model.super_resolve(-2)
    with pytest.raises(TypeError, match=r"factor must be a real number > 1, got str '4'"):
        model.super_resolve("4")  # type: ignore[arg-type]
