"""Argument checks of the library kernel: fail at the library boundary, naming the argument and what was given."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor


def check_real(name: str, value: Any, expected: str = "a real number") -> float:
    """Return ``float(value)`` if it is a real number (NumPy scalars and 0-d real tensors included, bools not), else
    raise TypeError saying ``name must be <expected>``. A tensor is read once as a number: hyperparameters are
    constants, so no gradient flows to a ``requires_grad`` tensor passed as one."""
    # numbers.Real also admits NumPy scalars (np.float32 is not a float subclass); bools are refused on purpose
    if isinstance(value, Tensor) and value.ndim == 0 and not (value.dtype == torch.bool or value.is_complex()):
        return float(value.detach())  # a 0-d tensor, e.g. a value read off a schedule or a loss
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    return float(value)


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` if it is a finite number > 0 (>= 0 with ``allow_zero``), else raise ValueError."""
    value = check_real(name, value)
    bound_ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not bound_ok:
        relation = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {relation}, got {value!r}")
    return value


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError listing them."""
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")  # in the given order
    return str(value)


def check_float_tensor(name: str, x: Any, *, min_dim: int = 1, exact_dim: int | None = None) -> Tensor:
    """Check that ``x`` is a floating-point tensor with a batch dimension (and ``exact_dim`` dims if given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if exact_dim is not None and x.dim() != exact_dim:
        raise ValueError(f"{name} must have {exact_dim} dimensions, got shape {tuple(x.shape)}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s) (batch first), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {tuple(x.shape)}")
    return x


def check_matrix_shape(name: str, x: Any) -> None:
    """ValueError unless ``x`` has the shape of a 2-D (n_samples, n_features) matrix (array, list of rows,
    DataFrame). Only the shape is checked, before scikit-learn's validation, whose message for a 1-D input prints
    the whole array."""
    shape = getattr(x, "shape", None)  # arrays, DataFrames, sparse matrices
    if shape is None:
        try:
            shape = np.shape(x)
        except (ValueError, TypeError):  # ragged rows: scikit-learn's validation explains them
            return
    try:
        n_dim = len(shape)
    except TypeError:  # an object with an odd ``shape``: scikit-learn's validation speaks for it
        return
    if n_dim != 2:
        # "Reshape your data" is scikit-learn's wording, which its estimator checks look for
        hint = (f". Reshape your data: np.reshape({name}, (-1, 1)) for one feature, np.reshape({name}, (1, -1)) for "
                "one sample" if n_dim == 1 else "")
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features); got shape {tuple(shape)}{hint}")


def check_clamp(name: str, clamp: Any) -> tuple[float, float] | None:
    """``None`` or a pair ``(low, high)`` with low < high."""
    if clamp is None:
        return None
    if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
        raise TypeError(f"{name} must be None or a pair (low, high), got {clamp!r}")
    low, high = float(clamp[0]), float(clamp[1])
    if not low < high:
        raise ValueError(f"{name} must satisfy low < high, got {clamp!r}")
    return low, high


def check_generator(name: str, generator: Any) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def check_callable(name: str, fn: Any, signature: str = "tensor -> scalar tensor") -> Any:
    if not callable(fn):
        raise TypeError(f"{name} must be callable ({signature}), got {type(fn).__name__}")
    return fn


def randn_like_with(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``x``, drawn from ``generator`` (on the generator's device) if given."""
    if generator is None:
        return torch.randn(x.shape, device=x.device, dtype=x.dtype)
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=torch.float32)
    return noise.to(device=x.device, dtype=x.dtype)


def rand_with(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Uniform [0, 1) noise of ``shape`` on ``like``'s device/dtype, drawn from ``generator`` if given."""
    if generator is None:
        return torch.rand(shape, device=like.device, dtype=like.dtype)
    out = torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float32)
    return out.to(device=like.device, dtype=like.dtype)


def randperm_with(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    if generator is None:
        return torch.randperm(n, device=device)
    return torch.randperm(n, generator=generator, device=generator.device).to(device)
