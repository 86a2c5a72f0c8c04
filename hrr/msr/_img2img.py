"""The paper's regenerator: any diffusers image-to-image pipeline (default the SD-XL refiner, empty prompt)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from hrr._device import resolve_device
from hrr._fingerprint import weights_fingerprint
from hrr.msr._hub import DEFAULT_MODEL_ID, ensure_model_available
from hrr.msr._regenerators import (
    _dtype_kwarg,
    _generators,
    _hash_json,
    _module_config,
    _quiet_vae_casts,
    check_regenerator_input,
)

__all__ = ["DiffusersImg2ImgRegenerator"]


class DiffusersImg2ImgRegenerator:
    """Any diffusers image-to-image pipeline as a regenerator (default: the SD-XL refiner, empty prompt).

    The pipeline is called with ``output_type="pt"``, one CPU generator per image and, for SD 1.x/2.x and SD-XL
    pipelines, the prompt embeddings computed once and repeated per batch. The invisible watermark (SD-XL) and the
    safety checker (SD) are switched off: a watermark would be a trivial shortcut for a detector, and the checker
    blacks out images it flags. The VAE runs in float32 where the checkpoint asks for it (``force_upcast``, the
    SD-XL VAE, which overflows in float16); diffusers does the upcast.

    Parameters
    ----------
    pipe : diffusers.DiffusionPipeline
        An img2img pipeline (``StableDiffusionXLImg2ImgPipeline``, ``StableDiffusionImg2ImgPipeline``, ...).
    strength : float, default 0.3
        Fraction of the noise schedule that is re-run (diffusers' SD-XL img2img default).
    num_inference_steps : int, default 50
        Scheduler steps for strength 1; ``int(num_inference_steps * strength)`` are actually run (must be >= 1).
    guidance_scale : float, default 5.0
        Classifier-free guidance. With an empty prompt it acts on SD-XL through the aesthetic-score conditioning
        only; on SD 1.x it is a no-op, so use 1.0 there to halve the cost.
    prompt : str, default ""
        The paper leaves the prompt blank.
    aesthetic_score, negative_aesthetic_score : float, default 6.0 and 2.5
        SD-XL refiner conditioning (ignored by other pipelines).
    precompute_prompt : bool, default True
        Encode the prompt once instead of on every call (same result, less work per batch).

    Examples
    --------
    >>> regen = DiffusersImg2ImgRegenerator.from_pretrained("/models/sdxl-refiner")  # doctest: +SKIP
    >>> regen.regenerate(images, seeds=[1, 2, 3])  # doctest: +SKIP
    """

    def __init__(
        self,
        pipe: Any,
        *,
        strength: float = 0.3,
        num_inference_steps: int = 50,
        guidance_scale: float = 5.0,
        prompt: str = "",
        aesthetic_score: float = 6.0,
        negative_aesthetic_score: float = 2.5,
        precompute_prompt: bool = True,
    ) -> None:
        if not callable(pipe) or not hasattr(pipe, "components"):
            raise TypeError(f"pipe must be a diffusers image-to-image pipeline, got {type(pipe).__name__}")
        if not 0.0 < float(strength) <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {strength!r}")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be an int >= 1, got {num_inference_steps!r}")
        if int(num_inference_steps * strength) < 1:
            raise ValueError(
                f"num_inference_steps * strength must be at least 1 (img2img runs int(steps * strength) denoising "
                f"steps), got {num_inference_steps} * {strength} = {num_inference_steps * strength:g}; raise "
                f"num_inference_steps to at least {int(-(-1 // strength))}"
            )
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        self.pipe = pipe
        self.strength = float(strength)
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = float(guidance_scale)
        self.prompt = prompt
        self.aesthetic_score = float(aesthetic_score)
        self.negative_aesthetic_score = float(negative_aesthetic_score)
        self.precompute_prompt = bool(precompute_prompt)
        self.name_or_path = str(getattr(pipe, "name_or_path", "") or "")
        self._embeddings: dict[str, Any] | None = None
        self._fingerprint: str | None = None
        self._kind = self._pipeline_kind(pipe)
        # Pseudo-fakes must carry only generation traces: no watermark, no blacked-out "unsafe" images.
        if getattr(pipe, "watermark", None) is not None:
            pipe.watermark = None
        if getattr(pipe, "safety_checker", None) is not None:
            pipe.safety_checker = None
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        self.size_multiple = self._size_multiple(pipe)

    @staticmethod
    def _pipeline_kind(pipe: Any) -> str:
        from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

        if isinstance(pipe, StableDiffusionXLImg2ImgPipeline):
            return "sdxl"
        if isinstance(pipe, StableDiffusionImg2ImgPipeline):
            return "sd"
        return "other"

    @staticmethod
    def _size_multiple(pipe: Any) -> int:
        vae_factor = int(getattr(pipe, "vae_scale_factor", 8))
        unet = getattr(pipe, "unet", None)
        if unet is not None:
            # each UNet level but the last halves the latent; its sides must stay divisible all the way down
            return vae_factor * 2 ** (len(unet.config.block_out_channels) - 1)
        transformer = getattr(pipe, "transformer", None)
        patch = int(getattr(getattr(transformer, "config", None), "patch_size", 1) or 1)
        return vae_factor * patch

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike[str] = DEFAULT_MODEL_ID,
        *,
        device: str | torch.device | None = "auto",
        dtype: torch.dtype | None = None,
        variant: str | None = None,
        local_files_only: bool | None = None,
        cpu_offload: bool = False,
        **kwargs: Any,
    ) -> DiffusersImg2ImgRegenerator:
        """Load an img2img pipeline from a folder or hub id and wrap it.

        Text-to-image checkpoints are mapped to their image-to-image class (``AutoPipelineForImage2Image``). Only
        safetensors weights are accepted and no remote code is run.

        Parameters
        ----------
        model : str or os.PathLike, default "stabilityai/stable-diffusion-xl-refiner-1.0"
            Local pipeline folder (``save_pretrained`` layout) or hub id (downloads only where the network and
            ``HF_HUB_OFFLINE`` allow).
        device : str or torch.device, default "auto"
            ``"auto"``: this rank's CUDA device (``LOCAL_RANK``) if available, else the CPU.
        dtype : torch.dtype, optional
            Default: float16 on CUDA, float32 on the CPU.
        variant : str, optional
            Weight variant, e.g. ``"fp16"`` for hub checkpoints that ship ``*.fp16.safetensors``.
        local_files_only : bool, optional
            Forwarded to diffusers (``None`` keeps its default, which honours ``HF_HUB_OFFLINE``).
        cpu_offload : bool, default False
            ``enable_model_cpu_offload`` (needs accelerate) for cards too small for the whole pipeline.
        **kwargs
            Passed to the constructor (``strength``, ``num_inference_steps``, ``guidance_scale``, ...).

        Raises
        ------
        ValueError
            The folder or id is not a diffusers pipeline.
        OSError
            A hub id that is not in the local cache while the hub is off-limits or unreachable (at once, not after
            download retries).
        """

        ensure_model_available(model, filenames=["model_index.json"], local_files_only=local_files_only,
                               expected="a diffusers pipeline folder (with model_index.json)")
        from diffusers import AutoPipelineForImage2Image, DiffusionPipeline

        dev = resolve_device(device)
        if dtype is None:
            dtype = torch.float16 if dev.type == "cuda" else torch.float32
        hub_kwargs: dict[str, Any] = {}
        if local_files_only is not None:
            hub_kwargs["local_files_only"] = local_files_only
        try:
            index = DiffusionPipeline.load_config(model, **hub_kwargs)
        except Exception as exc:
            raise ValueError(
                f"model must be a diffusers pipeline folder (with model_index.json) or a hub id available "
                f"offline, got {str(model)!r} ({type(exc).__name__}: {exc})"
            ) from None
        class_name = str(index.get("_class_name", ""))
        load_kwargs: dict[str, Any] = {**hub_kwargs, **_dtype_kwarg(dtype), "use_safetensors": True}
        if variant is not None:
            load_kwargs["variant"] = variant
        if "XL" in class_name:
            load_kwargs["add_watermarker"] = False
        elif "safety_checker" in index:
            load_kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe = AutoPipelineForImage2Image.from_pretrained(model, **load_kwargs)
        if cpu_offload:
            pipe.enable_model_cpu_offload(device=dev)
        else:
            pipe.to(dev)
        return cls(pipe, **kwargs)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the denoiser (UNet or transformer)."""
        denoiser = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
        return getattr(denoiser, "dtype", torch.float32)

    @property
    def device(self) -> torch.device:
        """Where the pipeline runs (its execution device)."""
        return torch.device(getattr(self.pipe, "_execution_device", None) or self.pipe.device)

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description (the cache key part): pipeline class, component configs, dtype, knobs."""
        components = {
            name: _module_config(module)
            for name, module in sorted(self.pipe.components.items())
            if not name.startswith("tokenizer") and name not in ("safety_checker", "feature_extractor")
        }
        if self._fingerprint is None:
            weights = {name: weights_fingerprint(m, samples=256) for name, m in sorted(self.pipe.components.items())}
            self._fingerprint = _hash_json({k: v for k, v in weights.items() if v is not None})
        unet = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
        cfg: dict[str, Any] = {
            "backend": "img2img",
            "pipeline": type(self.pipe).__name__,
            "components": _hash_json(components),
            "weights": self._fingerprint,
            "dtype": str(getattr(unet, "dtype", "")),
            "strength": self.strength,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "prompt": self.prompt,
            "size_multiple": self.size_multiple,
        }
        if self._kind == "sdxl":
            cfg["aesthetic_score"] = self.aesthetic_score
            cfg["negative_aesthetic_score"] = self.negative_aesthetic_score
        return cfg

    def _do_cfg(self) -> bool:
        unet = getattr(self.pipe, "unet", None)
        return self.guidance_scale > 1.0 and getattr(getattr(unet, "config", None), "time_cond_proj_dim", None) is None

    def _prompt_kwargs(self, batch: int) -> dict[str, Any]:
        if not self.precompute_prompt or self._kind == "other":
            return {"prompt": [self.prompt] * batch}
        if self._embeddings is None:
            device, cfg = self.device, self._do_cfg()
            with torch.inference_mode():
                if self._kind == "sdxl":
                    pe, npe, ppe, nppe = self.pipe.encode_prompt(
                        prompt=self.prompt, device=device, num_images_per_prompt=1, do_classifier_free_guidance=cfg
                    )
                    self._embeddings = {
                        "prompt_embeds": pe,
                        "negative_prompt_embeds": npe,
                        "pooled_prompt_embeds": ppe,
                        "negative_pooled_prompt_embeds": nppe,
                    }
                else:
                    pe, npe = self.pipe.encode_prompt(self.prompt, device, 1, cfg)
                    self._embeddings = {"prompt_embeds": pe, "negative_prompt_embeds": npe}
        return {
            k: (v.repeat(batch, *([1] * (v.ndim - 1))) if v is not None else None) for k, v in self._embeddings.items()
        }

    @torch.inference_mode()
    def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """Run the pipeline on ``images`` (one size), image ``i`` with the generator seeded by ``seeds[i]``."""
        batch = check_regenerator_input(images, seeds, self.size_multiple)
        b, _, h, w = batch.shape
        kwargs: dict[str, Any] = {
            **self._prompt_kwargs(b),
            "image": batch.to(self.device, torch.float32),
            "strength": self.strength,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "generator": _generators(seeds),
            "output_type": "pt",
        }
        if self._kind == "sdxl":
            kwargs["aesthetic_score"] = self.aesthetic_score
            kwargs["negative_aesthetic_score"] = self.negative_aesthetic_score
        with _quiet_vae_casts():
            out = self.pipe(**kwargs).images
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(out)
        out = out.float().cpu()
        if out.shape != (b, 3, h, w):
            raise RuntimeError(f"the pipeline returned shape {tuple(out.shape)} for an input of {(b, 3, h, w)}")
        return out.clamp_(0.0, 1.0)
