"""The device and dtype policy of the whole library: one meaning of ``device="auto"``, checked at the boundary.

``"auto"`` (the default everywhere) is this process's CUDA device when CUDA is available, else the CPU. Under a
multi-process launch (``torchrun``, ``accelerate launch``) "this process's" device is ``cuda:LOCAL_RANK``, so every
rank picks its own GPU without being told.
"""

from __future__ import annotations

import os

import torch

_DTYPES = {"float64": torch.float64, "float32": torch.float32}
_EXPECTED = "'auto', 'cpu', 'cuda' or 'cuda:N'"


def resolve_device(device: str | torch.device | None = "auto", argument: str = "device") -> torch.device:
    """The torch device that ``device`` names, ``"auto"`` (or None) resolved as this module describes.

    Raises
    ------
    ValueError
        ``device`` names no device type this library runs on, or one that is not available on this machine;
        the message names ``argument``.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            local_rank = os.environ.get("LOCAL_RANK")
            return torch.device("cuda", int(local_rank) if local_rank else torch.cuda.current_device())
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{argument} must be {_EXPECTED}; got {device!r}") from exc
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"{argument} must be {_EXPECTED}; got {device!r}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{argument}={device!r} was requested but CUDA is not available on this machine")
    return resolved


def resolve_dtype(dtype: str, argument: str = "dtype") -> torch.dtype:
    """``"float64"`` / ``"float32"`` as a torch dtype; ValueError naming ``argument`` otherwise."""
    if dtype not in _DTYPES:
        raise ValueError(f"{argument} must be one of {sorted(_DTYPES)}; got {dtype!r}")
    return _DTYPES[dtype]
