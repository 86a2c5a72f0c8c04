"""Tiny random diffusers pipelines built from configs, fully offline (no hub access, no downloaded weights).

Shared by the tests and the benchmarks. Shapes mirror the real models where it matters: the SD-XL refiner has only
``text_encoder_2``/``tokenizer_2`` and aesthetic-score conditioning (``requires_aesthetics_score=True``,
``force_zeros_for_empty_prompt=False``); the SD 1.x pipeline has ``text_encoder``/``tokenizer`` and no safety
checker. The CLIP tokenizer is written locally as a byte-level vocabulary with no merges (514 tokens), which is all
an empty prompt needs. Sizes: VAE factor 2, two UNet levels -> image sides must be multiples of 4.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from hrr.demo._ldm import byte_clip_tokenizer as tiny_tokenizer
from hrr.demo._ldm import clip_text_config

TINY_SIZE_MULTIPLE = 4


def tiny_vae(seed: int = 0, *, force_upcast: bool = True) -> Any:
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        sample_size=64,
        force_upcast=force_upcast,
    )


def tiny_autoencoder_tiny(seed: int = 0) -> Any:
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    return AutoencoderTiny(
        encoder_block_out_channels=[32, 32],
        decoder_block_out_channels=[32, 32],
        num_encoder_blocks=[1, 1],
        num_decoder_blocks=[1, 1],
    )


def _tiny_unet(**extra: Any) -> Any:
    """The two-level 32/64-channel conditional UNet both tiny pipelines share; ``extra``: the SD-XL additions."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        **extra,
    )


def tiny_refiner(tokenizer_dir: str | os.PathLike[str], seed: int = 0) -> Any:
    """SD-XL-refiner-shaped img2img pipeline (only text_encoder_2, aesthetic-score time ids)."""
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = _tiny_unet(
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=5 * 8 + 32,  # 5 time ids (aesthetic score) * 8 + pooled text 32
    )
    vae = tiny_vae(seed)
    torch.manual_seed(seed)
    return refiner_pipeline(vae, CLIPTextModelWithProjection(clip_text_config()), tiny_tokenizer(tokenizer_dir), unet)


def refiner_pipeline(vae: Any, text_encoder_2: Any, tokenizer_2: Any, unet: Any) -> Any:
    """Assemble an SD-XL refiner img2img pipeline (its scheduler, no first text encoder, no watermark)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline

    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        steps_offset=1,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
    )
    return StableDiffusionXLImg2ImgPipeline(
        vae=vae,
        text_encoder=None,
        tokenizer=None,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
        add_watermarker=False,
    )


def tiny_sd(tokenizer_dir: str | os.PathLike[str], seed: int = 0) -> Any:
    """SD 1.x-shaped img2img pipeline without a safety checker."""
    from diffusers import DDIMScheduler, StableDiffusionImg2ImgPipeline
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = _tiny_unet()
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    vae = tiny_vae(seed, force_upcast=False)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(clip_text_config())
    return StableDiffusionImg2ImgPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_tokenizer(tokenizer_dir),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
