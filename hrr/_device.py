"""Resolving user-facing ``device`` / ``dtype`` arguments into torch objects, with boundary errors."""

from __future__ import annotations

import torch

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device: str | torch.device, argument: str = "device") -> torch.device:
    """'auto' -> CUDA when available, else CPU; anything else must name an available torch device."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{argument} must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{argument}={device!r} was requested but CUDA is not available on this machine")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"{argument} must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    return resolved


def resolve_dtype(dtype: str, argument: str = "dtype") -> torch.dtype:
    if dtype not in _DTYPES:
        raise ValueError(f"{argument} must be one of {sorted(_DTYPES)}; got {dtype!r}")
    return _DTYPES[dtype]
