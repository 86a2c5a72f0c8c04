"""Regenerator backends of MSR behind one small protocol: diffusers img2img, a VAE round trip, and identity.

A regenerator maps a batch of equally sized images ``(B, 3, H, W)`` (float32, ``[0, 1]``, CPU) and one seed per
image to regenerated images of the same shape (float32, ``[0, 1]``, CPU). Seeds are per image, and every random
draw of an image comes from its own CPU generator, so an image's result does not depend on what else is in its
batch (up to floating-point summation order on some devices).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from hrr._device import resolve_device
from hrr._fingerprint import weights_fingerprint
from hrr._pixels import check_image_batch

__all__ = [
    "IdentityRegenerator",
    "Regenerator",
    "VAERegenerator",
    "check_regenerator_input",
]

logger = logging.getLogger("hrr.msr")



@runtime_checkable
class Regenerator(Protocol):
    """What :class:`~hrr.msr.MultiScaleRetrospector` needs from a backend.

    Attributes
    ----------
    size_multiple : int
        Image sides must be multiples of this (the backend never resizes).
    """

    size_multiple: int

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description of everything that changes the output (part of the cache key)."""
        ...

    def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """Regenerate ``images`` ``(B, 3, H, W)`` in ``[0, 1]`` with one seed per image; same shape, float32, CPU."""
        ...


def check_regenerator_input(images: Any, seeds: Sequence[int], size_multiple: int) -> torch.Tensor:
    """Validate a regenerator call: ``(B, 3, H, W)`` in ``[0, 1]``, ``B`` seeds, sides multiples of the model's."""
    batch = check_image_batch(images, "images")
    if len(seeds) != batch.shape[0]:
        raise ValueError(f"seeds must hold one int per image ({batch.shape[0]}), got {len(seeds)}")
    h, w = batch.shape[-2:]
    if h % size_multiple or w % size_multiple:
        raise ValueError(
            f"images must have sides that are multiples of {size_multiple} for this model (diffusers would "
            f"otherwise resize them and break the pixel alignment with the real view), got {h}x{w}"
        )
    return batch


def _generators(seeds: Sequence[int]) -> list[torch.Generator]:
    # CPU generators: diffusers draws noise on the generator's device and moves it, so the same seed gives the
    # same noise on any accelerator.
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def _clean_config(value: Any) -> Any:
    """Drop bookkeeping keys (load paths, library versions) so the hash follows the model, not where it lives."""
    if isinstance(value, dict):
        return {
            str(k): _clean_config(v)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
            if not str(k).startswith("_") and str(k) not in ("name_or_path", "transformers_version")
        }
    if isinstance(value, (list, tuple)):
        return [_clean_config(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _module_config(module: Any) -> Any:
    cfg = getattr(module, "config", None)
    if cfg is None:
        return type(module).__name__ if module is not None else None
    if hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    return {"class": type(module).__name__, "config": _clean_config(dict(cfg))}


def _hash_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()


class _DropCastWarning(logging.Filter):
    """Drop diffusers' warning on every VAE dtype cast (the pipelines themselves cast a ``force_upcast`` VAE)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "should be kept in float32" not in record.getMessage()


@contextlib.contextmanager
def _quiet_vae_casts() -> Iterator[None]:
    target = logging.getLogger("diffusers.models.modeling_utils")
    flt = _DropCastWarning()
    target.addFilter(flt)
    try:
        yield
    finally:
        target.removeFilter(flt)


def _config_get(cfg: Any, key: str, default: Any) -> Any:
    """A diffusers config entry (configs are FrozenDicts with attribute access; plain dicts in tests)."""
    try:
        return cfg[key]
    except (KeyError, TypeError):
        return getattr(cfg, key, default)


def _dtype_kwarg(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """diffusers >= 0.40 takes ``dtype=`` and deprecates ``torch_dtype=``; older versions only know the latter."""
    import diffusers
    from packaging.version import Version

    key = "dtype" if Version(diffusers.__version__).release >= (0, 40) else "torch_dtype"
    return {key: dtype}


class IdentityRegenerator:
    """Returns its input unchanged: for tests, ablations and timing the engine itself.

    Parameters
    ----------
    size_multiple : int, default 1
        Side multiple to request from the engine (use 64 to mimic SD-XL sizes).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 3, 8, 8)
    >>> bool(torch.equal(IdentityRegenerator().regenerate(x, [0, 1]), x))
    True
    """

    def __init__(self, size_multiple: int = 1) -> None:
        if not isinstance(size_multiple, int) or size_multiple < 1:
            raise ValueError(f"size_multiple must be an int >= 1, got {size_multiple!r}")
        self.size_multiple = size_multiple

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description (the cache key part)."""
        return {"backend": "identity", "size_multiple": self.size_multiple}

    def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """Return a float32 CPU copy of ``images``."""
        batch = check_regenerator_input(images, seeds, self.size_multiple)
        return batch.detach().to("cpu", torch.float32).clone()


class VAERegenerator:
    """Encode-decode round trip through a diffusers autoencoder (``AutoencoderKL`` or ``AutoencoderTiny``).

    The cheap regenerator of the "aligned datasets" line of work: the fake differs from the real only by the
    autoencoder's traces. Use the same checkpoint's VAE (``subfolder="vae"``) in float32 for a faithful fingerprint.

    Parameters
    ----------
    vae : diffusers.AutoencoderKL or diffusers.AutoencoderTiny
        The autoencoder (moved to ``device`` and ``dtype``).
    sample : bool, default False
        ``AutoencoderKL`` only: decode a seeded sample of the posterior (as img2img encodes) instead of its mode.
    device : str or torch.device, default "auto"
        ``"auto"``: this rank's CUDA device (``LOCAL_RANK``) if available, else the CPU.
    dtype : torch.dtype, default torch.float32
        ``torch.float16`` is honoured only for VAEs whose config does not set ``force_upcast`` (diffusers'
        pipelines run those in float32 because they overflow to NaN in float16); :attr:`dtype` is the one used.

    Examples
    --------
    >>> import torch
    >>> from diffusers import AutoencoderKL
    >>> vae = AutoencoderKL(block_out_channels=(8,), norm_num_groups=8, latent_channels=2)
    >>> regen = VAERegenerator(vae, device="cpu")
    >>> regen.regenerate(torch.rand(1, 3, 16, 16), [0]).shape
    torch.Size([1, 3, 16, 16])
    """

    def __init__(
        self,
        vae: Any,
        *,
        sample: bool = False,
        device: str | torch.device | None = "auto",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        cfg = getattr(vae, "config", None)
        if cfg is None or not hasattr(vae, "encode") or not hasattr(vae, "decode"):
            raise TypeError(f"vae must be a diffusers AutoencoderKL or AutoencoderTiny, got {type(vae).__name__}")
        self._tiny = hasattr(cfg, "encoder_block_out_channels") or "encoder_block_out_channels" in cfg
        if sample and self._tiny:
            raise ValueError("sample=True needs an AutoencoderKL (AutoencoderTiny has a deterministic encoder)")
        levels = len(cfg["encoder_block_out_channels"] if self._tiny else cfg["block_out_channels"])
        self.size_multiple = 2 ** (levels - 1)
        self.device = resolve_device(device)
        if dtype == torch.float16 and _config_get(cfg, "force_upcast", False):
            # As diffusers' pipelines do: a VAE flagged force_upcast (the SD-XL one) overflows to NaN in float16.
            logger.info("the VAE's config sets force_upcast: running it in float32 instead of float16")
            dtype = torch.float32
        self.dtype = dtype
        self.sample = bool(sample)
        vae = vae.to(self.device)
        if vae.dtype != dtype:  # diffusers warns on any dtype cast, even a no-op one
            with _quiet_vae_casts():
                vae = vae.to(dtype=dtype)
        self.vae = vae.eval()
        self.name_or_path = str(getattr(cfg, "_name_or_path", "") or "")
        self._fingerprint: str | None = None

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        subfolder: str | None = None,
        sample: bool = False,
        device: str | torch.device | None = "auto",
        dtype: torch.dtype = torch.float32,
        local_files_only: bool | None = None,
    ) -> VAERegenerator:
        """Load an autoencoder from a folder or hub id (safetensors only; no code is executed).

        Parameters
        ----------
        path : str or os.PathLike
            An autoencoder folder, or a whole pipeline folder / hub id (then ``subfolder`` defaults to ``"vae"``).
        subfolder : str, optional
        sample, device, dtype
            As in the constructor.
        local_files_only : bool, optional
            Forwarded to diffusers (``None``: diffusers' default, which honours ``HF_HUB_OFFLINE``).

        Raises
        ------
        OSError
            A hub id that is not in the local cache while the hub is off-limits or unreachable (at once, not after
            download retries).
        """
        from hrr.msr._hub import ensure_model_available

        names = [f"{subfolder}/config.json"] if subfolder else ["config.json", "vae/config.json"]
        ensure_model_available(path, filenames=names, expected="a diffusers autoencoder or pipeline folder",
                               local_files_only=local_files_only)
        from diffusers import AutoencoderKL, AutoencoderTiny

        local = Path(path)
        if subfolder is None and (local / "model_index.json").is_file():
            subfolder = "vae"
        kwargs: dict[str, Any] = {"use_safetensors": True}
        if subfolder:
            kwargs["subfolder"] = subfolder
        if local_files_only is not None:
            kwargs["local_files_only"] = local_files_only
        config = AutoencoderKL.load_config(path, **{k: v for k, v in kwargs.items() if k != "use_safetensors"})
        klass = AutoencoderTiny if config.get("_class_name") == "AutoencoderTiny" else AutoencoderKL
        vae = klass.from_pretrained(path, **kwargs)
        return cls(vae, sample=sample, device=device, dtype=dtype)

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description (the cache key part)."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.vae, samples=256)
        return {
            "backend": "vae",
            "vae": _hash_json(_module_config(self.vae)),
            "weights": self._fingerprint,
            "class": type(self.vae).__name__,
            "sample": self.sample,
            "dtype": str(self.dtype),
            "size_multiple": self.size_multiple,
        }

    @torch.inference_mode()
    def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """Encode and decode ``images``; with ``sample=True`` the posterior draw of image ``i`` uses ``seeds[i]``."""
        batch = check_regenerator_input(images, seeds, self.size_multiple)
        x = batch.to(self.device, self.dtype) * 2.0 - 1.0
        if self._tiny:
            z = self.vae.encode(x).latents
        else:
            dist = self.vae.encode(x).latent_dist
            z = dist.sample(generator=_generators(seeds)) if self.sample else dist.mode()
        out = self.vae.decode(z).sample
        return ((out.float() + 1.0) / 2.0).clamp_(0.0, 1.0).cpu()


