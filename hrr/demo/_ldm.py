"""The demo's MSR model: a tiny latent diffusion model in the Stable Diffusion layout, trained on the spot.

No diffusion weights can be downloaded here, so ``hrr demo`` trains its own img2img model on the real training
patches and then runs MSR through exactly the code a user runs with the SD-XL refiner: the pipeline is written with
``save_pretrained`` and read back with :meth:`hrr.msr.DiffusersImg2ImgRegenerator.from_pretrained`.

The pipeline is a ``StableDiffusionImg2ImgPipeline`` built from

* an ``AutoencoderKL`` (latent factor 2) trained to reconstruct the patches (:func:`hrr.demo._msr.train_demo_vae`),
  its ``scaling_factor`` set to 1 / the standard deviation of the training latents (as Stable Diffusion's is);
* a ``UNet2DConditionModel`` (two levels, cross-attention) trained to predict the noise of noised latents, always
  conditioned on the empty prompt, the only prompt MSR uses (HRR Sec. III-A);
* a randomly initialised two-layer CLIP text encoder and a byte-level CLIP tokenizer written locally (no
  vocabulary download; the empty prompt needs only its start and end tokens);
* Stable Diffusion's DDIM scheduler settings.

This model is a different family from the benchmark's test diffusion model (pixel space, no VAE, no text encoder:
:mod:`hrr.demo._diffusion`), so MSR does not see the test generator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "MSRModelSettings",
    "byte_clip_tokenizer",
    "clip_text_config",
    "demo_msr_model",
    "demo_msr_regenerator",
    "train_msr_diffusion",
    "write_byte_clip_tokenizer",
]

@dataclasses.dataclass(frozen=True)
class MSRModelSettings:
    """How the demo's MSR diffusion model is trained (``quick``: fewer steps) and run."""

    n_patches: int = 320
    patch: int = 64
    vae_steps: int = 400
    unet_steps: int = 400
    seed: int = 0
    strength: float = 0.3  # the library's default, diffusers' SD-XL img2img default
    num_inference_steps: int = 20

    @classmethod
    def quick(cls) -> MSRModelSettings:
        return cls(n_patches=160, vae_steps=150, unet_steps=150)


def demo_msr_model(settings: MSRModelSettings | None = None, *, progress: bool = True) -> Path:
    """The pipeline folder of the demo's MSR model: trained once on real patches of the packaged photos' training
    parts (the same photos, never the test strips) and cached, like a downloaded checkpoint. Load it with
    ``DiffusersImg2ImgRegenerator.from_pretrained(folder)``."""
    from hrr.demo._cache import cached_folder
    from hrr.demo._patches import cut_patches, packaged_photos

    s = settings or MSRModelSettings()
    spec = {k: v for k, v in dataclasses.asdict(s).items() if k not in ("strength", "num_inference_steps")}

    def build(folder: Path) -> Path:
        # seed + 1000: patches of their own, not those of any benchmark seed
        patches = cut_patches(packaged_photos(), s.n_patches, s.patch, seed=s.seed + 1000, part="train")
        return train_msr_diffusion(patches, folder, vae_steps=s.vae_steps, unet_steps=s.unet_steps, seed=s.seed,
                                   progress=progress)

    folder, _ = cached_folder("msr-ldm", spec, build)
    return folder


def demo_msr_regenerator(settings: MSRModelSettings | None = None, *, progress: bool = True) -> Any:
    """:class:`hrr.msr.DiffusersImg2ImgRegenerator` on :func:`demo_msr_model`, loaded with ``from_pretrained`` on
    the CPU (empty prompt, no classifier-free guidance: the tiny model is unconditional in effect)."""
    from hrr.msr import DiffusersImg2ImgRegenerator

    s = settings or MSRModelSettings()
    folder = demo_msr_model(s, progress=progress)
    with _quiet_loading():
        return DiffusersImg2ImgRegenerator.from_pretrained(folder, device="cpu", local_files_only=True,
                                                           strength=s.strength,
                                                           num_inference_steps=s.num_inference_steps,
                                                           guidance_scale=1.0)


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """diffusers and transformers draw loading bars for every component; the demo has its own progress."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    bars = dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if bars[0]:
            dlog.enable_progress_bar()
        if bars[1]:
            tlog.enable_progress_bar()


# Stable Diffusion 1.x's noise schedule (its scheduler config), kept so the pipeline behaves like the real one.
_SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def _bytes_to_unicode() -> list[str]:
    """The byte -> printable-character table of GPT-2/CLIP byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_byte_clip_tokenizer(folder: str | os.PathLike[str]) -> Path:
    """Write ``vocab.json`` (bos=0, eos=pad=1, the 256 byte characters and their ``</w>`` forms: 514 tokens) and an
    empty ``merges.txt`` into ``folder``: a CLIP tokenizer that needs no download."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    chars = _bytes_to_unicode()
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    (path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return path


def byte_clip_tokenizer(folder: str | os.PathLike[str]) -> Any:
    """A ``CLIPTokenizer`` over :func:`write_byte_clip_tokenizer`'s files, written into ``folder``."""
    from transformers import CLIPTokenizer

    write_byte_clip_tokenizer(folder)
    # model_max_length must be given: without tokenizer_config.json it would be 1e30 and prompts padded forever
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77, local_files_only=True)


def clip_text_config() -> Any:
    """A two-layer, 32-wide CLIP text model configuration for the byte tokenizer's 514 tokens."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
                          num_attention_heads=4, num_hidden_layers=2, vocab_size=514, hidden_act="gelu",
                          projection_dim=32, max_position_embeddings=77)


def _unet(latent_size: int) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=16,
    )


def train_msr_diffusion(patches: np.ndarray, out_dir: str | os.PathLike[str], *, vae_steps: int, unet_steps: int,
                        seed: int, crop: int = 32, batch: int = 16, lr: float = 1e-3, progress: bool = True) -> Path:
    """Train the tiny latent diffusion model on real patches ``(N, H, W, 3)`` float32 in [0, 1] and save it.

    Parameters
    ----------
    patches : numpy.ndarray
        ``(N, H, W, 3)`` float32 in [0, 1], ``H, W >= crop``.
    out_dir : path
        Receives the pipeline folder (``save_pretrained`` layout, safetensors), written to a temporary folder and
        moved into place, so a crash never leaves a half-written model.
    vae_steps, unet_steps : int
        Adam steps of the autoencoder and of the denoiser.
    seed : int
        Every random draw; the same seed and thread count give the same weights.
    crop : int, default 32
        Side of the random pixel crops the models train on (the networks are fully convolutional).

    Returns
    -------
    Path
        ``out_dir``, loadable with ``DiffusersImg2ImgRegenerator.from_pretrained(out_dir)``.
    """
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionImg2ImgPipeline
    from transformers import CLIPTextModel

    from hrr.demo._diffusion import train_noise_prediction
    from hrr.demo._msr import train_demo_vae

    out = Path(out_dir)
    # Twice the widths of the MSR section's VAE and an L1 loss: 25 dB on held-out patches in 400 steps, where the
    # (8, 16) VAE reaches 18 dB and its colour errors would dominate every regenerated image.
    vae = train_demo_vae(list(patches), steps=vae_steps, seed=seed, crop=crop, batch=16, block_out_channels=(16, 32),
                         lr=3e-3, loss="l1", threads=torch.get_num_threads(), progress=progress)
    vae.register_to_config(force_upcast=False)
    with torch.no_grad():
        images = torch.from_numpy(np.ascontiguousarray(patches.transpose(0, 3, 1, 2))) * 2 - 1
        latents = torch.cat([vae.encode(images[i:i + 64]).latent_dist.mode() for i in range(0, len(images), 64)])
    scale = float(1.0 / latents.std())
    vae.register_to_config(scaling_factor=scale)
    latents = latents * scale

    tmp_tok = Path(tempfile.mkdtemp(prefix="hrr-tokenizer-"))
    try:
        tokenizer = byte_clip_tokenizer(tmp_tok)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            text_encoder = CLIPTextModel(clip_text_config()).eval()
            unet = _unet(latents.shape[-1])
        with torch.no_grad():
            ids = tokenizer([""], padding="max_length", max_length=77, return_tensors="pt").input_ids
            context = text_encoder(ids)[0]
        cond = context.expand(batch, -1, -1)  # the empty prompt's embedding, the only condition MSR uses
        unet.train()
        train_noise_prediction(unet.parameters(), lambda noisy, t: unet(noisy, t, encoder_hidden_states=cond).sample,
                               latents, DDPMScheduler(**_SD_BETAS), steps=unet_steps, seed=seed, crop=crop // 2,
                               batch=batch, lr=lr, progress=progress, desc="train the MSR diffusion model")
        scheduler = DDIMScheduler(**_SD_BETAS, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
        pipe = StableDiffusionImg2ImgPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                              unet=unet.eval(), scheduler=scheduler, safety_checker=None,
                                              feature_extractor=None, requires_safety_checker=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        try:
            with _quiet_loading():
                pipe.save_pretrained(staging, safe_serialization=True)
            if out.exists():
                shutil.rmtree(out)
            os.replace(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        shutil.rmtree(tmp_tok, ignore_errors=True)
    return out
