"""The mixed-precision policy of the library: which autocast dtype a setting means, and the matching GradScaler."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

AMP_MODES: tuple[str, ...] = ("auto", "no", "fp16", "bf16")
"""Names a training configuration may use; a ``torch.dtype`` (or None for none) is accepted too."""


def amp_dtype(amp: str | torch.dtype | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype that ``amp`` means on ``device``: ``"auto"`` is float16 on CUDA and none elsewhere.

    Examples
    --------
    >>> import torch
    >>> amp_dtype("auto", torch.device("cpu")) is None, amp_dtype("bf16", torch.device("cpu"))
    (True, torch.bfloat16)
    """
    import torch  # here, not at the top: configs import AMP_MODES without paying for torch

    if amp is None or isinstance(amp, torch.dtype):
        return amp
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {AMP_MODES} or a torch.dtype; got {amp!r}")
    if amp == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}[amp]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` on ``device`` with ``dtype``, or a no-op context for ``None``."""
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler | None:
    """A GradScaler where float16 gradients can underflow (float16 on CUDA); None elsewhere."""
    import torch

    return torch.amp.GradScaler(device.type) if (dtype == torch.float16 and device.type == "cuda") else None
