"""Autograd inside the contexts evaluation loops use: ``torch.no_grad()`` and ``torch.inference_mode()``.

Functions that need gradients internally (attacks, latent optimisation, gradient penalties, training loops) are
often called from an evaluation loop. ``torch.enable_grad()`` alone is not enough there: under
``torch.inference_mode()`` autograd stays off, and tensors *created* in inference mode ("inference tensors") can
never be saved for backward, even after leaving it. The helpers below turn inference mode off for the block and
give normal copies of inference tensors, so a call gives the same result in any context and leaves the caller's
modes as they were.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

FnT = TypeVar("FnT", bound=Callable[..., Any])


@contextlib.contextmanager
def grad_enabled() -> Iterator[None]:
    """Context manager: autograd on for the block, also under ``torch.no_grad()`` / ``torch.inference_mode()``.

    Both modes are restored on exit (even on error). Tensors created inside the block are normal tensors.

    Examples
    --------
    >>> with torch.inference_mode(), grad_enabled():
    ...     torch.is_grad_enabled(), torch.is_inference_mode_enabled()
    (True, False)
    """
    with torch.inference_mode(False), torch.enable_grad():
        yield


def enables_grad(fn: FnT) -> FnT:
    """Decorator: run ``fn`` inside :func:`grad_enabled` (for training entry points and gradient-based scores)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with grad_enabled():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def autograd_tensor(t: Tensor) -> Tensor:
    """``t`` itself, or a normal copy (same values) if it was created under ``torch.inference_mode()``.

    The copy is made with inference mode off, so the result can enter autograd whatever the current mode.
    """
    if not t.is_inference():
        return t
    with torch.inference_mode(False):
        return t.clone()


def check_autograd_module(name: str, module: nn.Module | None) -> None:
    """Raise a RuntimeError naming ``torch.inference_mode()`` if ``module`` has parameters created under it.

    Such parameters can never be saved for backward, so no gradient can flow through the module, whatever the
    current mode. Calls that use a caller's model without owning it (attacks, scores, CAMs, a step with the
    caller's optimizer) refuse it up front with this message instead of failing deep inside autograd.
    """
    if module is None:
        return
    if any(p.is_inference() for p in module.parameters()):
        raise RuntimeError(
            f"{name} has parameters created under torch.inference_mode(); autograd cannot differentiate through "
            "them, even after leaving it. Create or load the model outside torch.inference_mode() (calling this "
            "function under torch.inference_mode() or torch.no_grad() is fine)"
        )


def replace_inference_tensors(module: nn.Module) -> int:
    """Swap parameters and buffers created under ``torch.inference_mode()`` for normal copies, in place.

    A model built inside ``torch.inference_mode()`` (e.g. by a training entry point called there) cannot be
    trained: its parameters cannot be saved for backward and its buffers cannot be updated in place. The copies
    keep the values and ``requires_grad``; tied parameters stay tied. Parameter *objects* change, so call this
    before building an optimizer.

    Returns
    -------
    int
        How many tensors were replaced (0 for a normal model: nothing changes).
    """
    replaced: dict[int, Tensor] = {}
    with torch.inference_mode(False):
        for sub in module.modules():
            for name, param in list(sub._parameters.items()):
                if param is not None and param.is_inference():
                    if id(param) not in replaced:
                        replaced[id(param)] = nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad)
                    sub._parameters[name] = replaced[id(param)]  # type: ignore[assignment]
            for name, buf in list(sub._buffers.items()):
                if buf is not None and buf.is_inference():
                    if id(buf) not in replaced:
                        replaced[id(buf)] = buf.detach().clone()
                    sub._buffers[name] = replaced[id(buf)]
    return len(replaced)
