"""The demo's diffusion models: the pixel DDPM test family (samples, img2img) and the latent diffusion MSR model
that round-trips through save_pretrained / DiffusersImg2ImgRegenerator.from_pretrained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrr.demo._cache import cached_folder
from hrr.demo._diffusion import ddpm_img2img, ddpm_samples, train_ddpm
from hrr.demo._ldm import train_msr_diffusion
from hrr.demo._patches import cut_patches, packaged_photos
from hrr.msr import DiffusersImg2ImgRegenerator


@pytest.fixture(scope="module")
def patches() -> np.ndarray:
    return cut_patches(packaged_photos(), 12, 32, seed=0, part="train")


@pytest.fixture(scope="module")
def ddpm(patches: np.ndarray) -> Any:
    return train_ddpm(patches, steps=3, seed=0, crop=16, batch=4, progress=False)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def test_ddpm_generators_are_sized_ranged_and_deterministic_under_the_seed(ddpm: Any, patches: np.ndarray) -> None:
    again = train_ddpm(patches, steps=3, seed=0, crop=16, batch=4, progress=False)
    other = train_ddpm(patches, steps=3, seed=1, crop=16, batch=4, progress=False)
    for a, b in zip(ddpm.unet.parameters(), again.unet.parameters(), strict=True):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(ddpm.unet.parameters(), other.unet.parameters(), strict=True))
    s1 = ddpm_samples(ddpm, 5, size=32, seed=3, num_inference_steps=3, batch=2)
    s2 = ddpm_samples(again, 5, size=32, seed=3, num_inference_steps=3, batch=2)
    assert s1.shape == (5, 32, 32, 3) and s1.dtype == np.float32 and s1.min() >= 0 and s1.max() <= 1
    assert np.array_equal(s1, s2)
    assert not np.array_equal(s1, ddpm_samples(ddpm, 5, size=32, seed=4, num_inference_steps=3, batch=2))
    r1 = ddpm_img2img(ddpm, patches[:4], strength=0.5, seed=2, num_inference_steps=4)
    r2 = ddpm_img2img(again, patches[:4], strength=0.5, seed=2, num_inference_steps=4)
    assert r1.shape == patches[:4].shape and np.array_equal(r1, r2)


def test_img2img_strength_sets_how_far_the_output_moves(ddpm: Any, patches: np.ndarray) -> None:
    """Noise to a small fraction of the schedule and the input comes back almost unchanged, whatever the network
    (x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) with abar ~ 1); from pure noise it is a new image."""
    near = ddpm_img2img(ddpm, patches, strength=0.05, seed=0, num_inference_steps=20)
    far = ddpm_img2img(ddpm, patches, strength=1.0, seed=0, num_inference_steps=20)
    assert _psnr(near, patches) > 25.0 and _psnr(near, patches) > _psnr(far, patches) + 10.0


def test_img2img_refuses_a_strength_outside_the_schedule(ddpm: Any, patches: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"strength must be in \(0, 1\]"):
        ddpm_img2img(ddpm, patches, strength=0.0, seed=0)
    with pytest.raises(ValueError, match="at least 1"):
        ddpm_img2img(ddpm, patches, strength=0.01, seed=0, num_inference_steps=20)


def test_msr_model_round_trips_through_save_and_from_pretrained(patches: np.ndarray, tmp_path: Path) -> None:
    folder = train_msr_diffusion(patches, tmp_path / "ldm", vae_steps=2, unet_steps=2, seed=0, crop=16, batch=4,
                                 progress=False)
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert "model_index.json" in files and "unet/diffusion_pytorch_model.safetensors" in files
    assert not any(f.endswith((".bin", ".pt", ".pth", ".ckpt")) for f in files)  # nothing that unpickles
    regen = DiffusersImg2ImgRegenerator.from_pretrained(folder, device="cpu", local_files_only=True,
                                                        strength=0.5, num_inference_steps=4, guidance_scale=1.0)
    assert type(regen.pipe).__name__ == "StableDiffusionImg2ImgPipeline" and regen.size_multiple == 4
    images = torch.from_numpy(patches[:3].transpose(0, 3, 1, 2).copy())
    out = regen.regenerate(images, [1, 2, 3])
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    # save the loaded pipeline again and reload it: the same weights, the same regenerated images
    regen.pipe.save_pretrained(tmp_path / "again", safe_serialization=True)
    back = DiffusersImg2ImgRegenerator.from_pretrained(tmp_path / "again", device="cpu", local_files_only=True,
                                                       strength=0.5, num_inference_steps=4, guidance_scale=1.0)
    assert torch.equal(back.regenerate(images, [1, 2, 3]), out)
    assert back.config()["weights"] == regen.config()["weights"]
    # the latent scale comes from the training latents (Stable Diffusion's convention), not SD's 0.18215
    assert regen.pipe.vae.config.scaling_factor != pytest.approx(0.18215)


def test_cached_folder_builds_once_and_rebuilds_an_unfinished_one(tmp_path: Path) -> None:
    calls = []

    def build(folder: Path) -> Path:
        calls.append(folder)
        folder.mkdir(parents=True)
        (folder / "w.txt").write_text(str(len(calls)))
        return folder

    a, hit_a = cached_folder("m", {"k": 1}, build, root=tmp_path)
    b, hit_b = cached_folder("m", {"k": 1}, build, root=tmp_path)
    assert (hit_a, hit_b, len(calls), a) == (False, True, 1, b) and (a / "w.txt").read_text() == "1"
    (a / "complete").unlink()  # as after a crash between the build and its marker
    c, hit_c = cached_folder("m", {"k": 1}, build, root=tmp_path)
    assert not hit_c and len(calls) == 2 and (c / "w.txt").read_text() == "2"
    d, _ = cached_folder("m", {"k": 2}, build, root=tmp_path)
    assert d != a and len(calls) == 3
