"""Regenerator backends on tiny random diffusers models, saved and reloaded through the real loading code."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # no test touches the network

from pathlib import Path

import pytest
import torch
from _tiny_diffusers import TINY_SIZE_MULTIPLE, tiny_autoencoder_tiny, tiny_refiner, tiny_sd, tiny_vae

from hrr.msr import (
    DiffusersImg2ImgRegenerator,
    IdentityRegenerator,
    MultiScaleRetrospector,
    Regenerator,
    VAERegenerator,
)

pytest.importorskip("diffusers")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipes")
    tiny_refiner(root / "tok_xl").save_pretrained(root / "refiner")
    tiny_sd(root / "tok_sd").save_pretrained(root / "sd")
    tiny_vae().save_pretrained(root / "vae")
    tiny_autoencoder_tiny().save_pretrained(root / "taesd")
    return {"refiner": root / "refiner", "sd": root / "sd", "vae": root / "vae", "taesd": root / "taesd"}


@pytest.fixture(scope="module")
def refiner(saved: dict[str, Path]) -> DiffusersImg2ImgRegenerator:
    return DiffusersImg2ImgRegenerator.from_pretrained(saved["refiner"], strength=0.5, num_inference_steps=4)


def _batch(b: int = 3, h: int = 16, w: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_refiner_reloaded_with_refiner_flags(refiner: DiffusersImg2ImgRegenerator) -> None:
    from diffusers import StableDiffusionXLImg2ImgPipeline

    pipe = refiner.pipe
    assert isinstance(pipe, StableDiffusionXLImg2ImgPipeline)
    assert pipe.config.requires_aesthetics_score is True and pipe.config.force_zeros_for_empty_prompt is False
    assert pipe.text_encoder is None and pipe.text_encoder_2 is not None
    assert getattr(pipe, "watermark", None) is None
    assert refiner.size_multiple == TINY_SIZE_MULTIPLE
    assert isinstance(refiner, Regenerator)


def test_refiner_output_and_batch_independence(refiner: DiffusersImg2ImgRegenerator) -> None:
    x = _batch()
    y = refiner.regenerate(x, [11, 12, 13])
    assert y.shape == x.shape and y.dtype == torch.float32 and y.device.type == "cpu"
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    single = refiner.regenerate(x[1:2], [12])
    torch.testing.assert_close(y[1:2], single, atol=1e-4, rtol=0)
    again = refiner.regenerate(x, [11, 12, 13])
    assert torch.equal(y, again)
    other_seed = refiner.regenerate(x[1:2], [99])
    assert float((other_seed - single).abs().max()) > 1e-3


def test_precomputed_prompt_equals_prompt_list(saved: dict[str, Path], refiner: DiffusersImg2ImgRegenerator) -> None:
    x = _batch(2)
    plain = DiffusersImg2ImgRegenerator(refiner.pipe, strength=0.5, num_inference_steps=4, precompute_prompt=False)
    torch.testing.assert_close(refiner.regenerate(x, [1, 2]), plain.regenerate(x, [1, 2]), atol=1e-5, rtol=0)


def test_guidance_and_aesthetic_score_matter(refiner: DiffusersImg2ImgRegenerator) -> None:
    x = _batch(1)
    base = refiner.regenerate(x, [5])
    equal_scores = DiffusersImg2ImgRegenerator(
        refiner.pipe, strength=0.5, num_inference_steps=4, aesthetic_score=3.0, negative_aesthetic_score=3.0
    )
    assert float((equal_scores.regenerate(x, [5]) - base).abs().max()) > 1e-4
    assert equal_scores.config() != refiner.config()


def test_sd_pipeline_reloaded_without_safety_checker(saved: dict[str, Path]) -> None:
    from diffusers import StableDiffusionImg2ImgPipeline

    regen = DiffusersImg2ImgRegenerator.from_pretrained(
        saved["sd"], strength=0.5, num_inference_steps=4, guidance_scale=1.0
    )
    assert isinstance(regen.pipe, StableDiffusionImg2ImgPipeline)
    assert regen.pipe.safety_checker is None
    x = _batch(2, 20, 12)
    y = regen.regenerate(x, [3, 4])
    assert y.shape == x.shape
    torch.testing.assert_close(y[1:], regen.regenerate(x[1:], [4]), atol=1e-4, rtol=0)
    assert "aesthetic_score" not in regen.config()


def test_too_few_steps_is_our_error(refiner: DiffusersImg2ImgRegenerator) -> None:
    with pytest.raises(
        ValueError, match=r"num_inference_steps \* strength must be at least 1.*3 \* 0.3 = 0.9.*at least 4"
    ):
        DiffusersImg2ImgRegenerator(refiner.pipe, strength=0.3, num_inference_steps=3)
    with pytest.raises(ValueError, match=r"strength must be in \(0, 1\]"):
        DiffusersImg2ImgRegenerator(refiner.pipe, strength=0.0)


def test_non_multiple_size_is_our_error(refiner: DiffusersImg2ImgRegenerator) -> None:
    with pytest.raises(ValueError, match=r"multiples of 4 .* got 18x24"):
        refiner.regenerate(torch.rand(1, 3, 18, 24), [0])
    with pytest.raises(ValueError, match=r"one int per image \(1\), got 2"):
        refiner.regenerate(torch.rand(1, 3, 32, 48), [0, 1])
    with pytest.raises(ValueError, match=r"values in"):
        refiner.regenerate(torch.rand(1, 3, 32, 48) * 2 - 1, [0])


def test_from_pretrained_bad_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="model must be a diffusers pipeline folder"):
        DiffusersImg2ImgRegenerator.from_pretrained(tmp_path / "nothing-here")
    with pytest.raises(TypeError, match="pipe must be a diffusers image-to-image pipeline"):
        DiffusersImg2ImgRegenerator(object())


def test_vae_round_trip_mode_and_sample(saved: dict[str, Path]) -> None:
    mode = VAERegenerator.from_pretrained(saved["vae"], device="cpu")
    assert mode.size_multiple == 2
    x = _batch(2, 16, 20)
    a = mode.regenerate(x, [1, 2])
    assert a.shape == x.shape and torch.equal(a, mode.regenerate(x, [7, 8]))  # the mode ignores seeds
    sampler = VAERegenerator.from_pretrained(saved["vae"], device="cpu", sample=True)
    s = sampler.regenerate(x, [1, 2])
    torch.testing.assert_close(s[1:], sampler.regenerate(x[1:], [2]), atol=1e-5, rtol=0)
    assert float((s - sampler.regenerate(x, [3, 4])).abs().max()) > 1e-4
    assert mode.config() != sampler.config()
    # a whole pipeline folder: the VAE subfolder is found
    from_pipe = VAERegenerator.from_pretrained(saved["refiner"], device="cpu")
    assert from_pipe.config()["vae"] == mode.config()["vae"]


def test_autoencoder_tiny(saved: dict[str, Path]) -> None:
    regen = VAERegenerator.from_pretrained(saved["taesd"], device="cpu")
    assert regen.config()["class"] == "AutoencoderTiny"
    x = _batch(2, 16, 16)
    assert regen.regenerate(x, [0, 1]).shape == x.shape
    with pytest.raises(ValueError, match="sample=True needs an AutoencoderKL"):
        VAERegenerator(tiny_autoencoder_tiny(), sample=True)


def test_config_tells_weights_apart(saved: dict[str, Path]) -> None:
    a = VAERegenerator(tiny_vae(seed=0), device="cpu")
    b = VAERegenerator(tiny_vae(seed=1), device="cpu")  # same architecture and config, other weights
    assert a.config() != b.config() and a.config()["vae"] == b.config()["vae"]
    assert a.config() == VAERegenerator(tiny_vae(seed=0), device="cpu").config()
    assert VAERegenerator.from_pretrained(saved["vae"], device="cpu").config() == a.config()


def test_identity() -> None:
    x = _batch(2, 8, 8)
    y = IdentityRegenerator().regenerate(x, [0, 1])
    assert torch.equal(x, y) and y.data_ptr() != x.data_ptr()
    with pytest.raises(ValueError, match="size_multiple"):
        IdentityRegenerator(0)


def test_engine_over_refiner_batch_equals_single(refiner: DiffusersImg2ImgRegenerator) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    images = [rng.random((20, 28, 3), dtype=np.float32) for _ in range(2)]
    batched = MultiScaleRetrospector(refiner, scales=(12, 16), batch_size=2, progress=False).retrospect(images)
    single = MultiScaleRetrospector(refiner, scales=(12, 16), batch_size=1, progress=False).retrospect(images)
    for a, b in zip(batched, single, strict=True):
        assert set(a) == {12, 16}
        for s in a:
            np.testing.assert_array_equal(a[s].real, b[s].real)
            np.testing.assert_array_equal(a[s].line_enhanced, b[s].line_enhanced)
            np.testing.assert_allclose(a[s].regenerated, b[s].regenerated, atol=1e-4)
    assert batched[0][12].seed != batched[0][16].seed
