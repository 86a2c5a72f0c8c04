"""Tiny random diffusers pipelines built from configs, fully offline (no hub access, no downloaded weights).

Shared by the tests and the benchmarks. Shapes mirror the real models where it matters: the SD-XL refiner has only
``text_encoder_2``/``tokenizer_2`` and aesthetic-score conditioning (``requires_aesthetics_score=True``,
``force_zeros_for_empty_prompt=False``); the SD 1.x pipeline has ``text_encoder``/``tokenizer`` and no safety
checker. The CLIP tokenizer is written locally as a byte-level vocabulary with no merges (514 tokens), which is all
an empty prompt needs. Sizes: VAE factor 2, two UNet levels -> image sides must be multiples of 4.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

TINY_SIZE_MULTIPLE = 4


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


def write_tiny_clip_tokenizer(folder: str | os.PathLike[str]) -> Path:
    """Write ``vocab.json`` (bos=0, eos=pad=1, the 256 byte characters and their ``</w>`` forms) and ``merges.txt``."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    chars = _bytes_to_unicode()
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    (path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return path


def tiny_tokenizer(folder: str | os.PathLike[str]) -> Any:
    from transformers import CLIPTokenizer

    write_tiny_clip_tokenizer(folder)
    # model_max_length must be given: without tokenizer_config.json it would be 1e30 and prompts padded forever
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77, local_files_only=True)


def _text_config(projection: bool) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=514,
        hidden_act="gelu",
        projection_dim=32,
        max_position_embeddings=77,
    )


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
    return refiner_pipeline(vae, CLIPTextModelWithProjection(_text_config(True)), tiny_tokenizer(tokenizer_dir), unet)


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
    text_encoder = CLIPTextModel(_text_config(False))
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
