"""Run extra forward passes through a discriminator without leaving any trace on it.

Attack forwards (FGM/PGD) run the discriminator in its *current* mode, so a BatchNorm layer in training mode
normalises with the perturbed batch's statistics, exactly as in the step that follows. What they must not do
is move the running statistics, bump ``num_batches_tracked``, advance a spectral-norm parametrization's
power-iteration vectors, flip a module's train/eval mode or a parameter's ``requires_grad``. The context manager
below guarantees that by *swapping* every buffer for a clone during the block and putting the original tensor
objects back afterwards: the originals are never written, so their autograd version counters do not move either
(an in-place "restore" would break a graph the caller built before the attack).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def unwrap(module: nn.Module) -> nn.Module:
    """The wrapped module of ``DistributedDataParallel`` / ``DataParallel`` / ``torch.compile``; else ``module``."""
    inner = module
    for _ in range(4):
        if isinstance(inner, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            inner = inner.module
        elif hasattr(inner, "_orig_mod") and isinstance(inner._orig_mod, nn.Module):
            inner = inner._orig_mod
        else:
            break
    return inner


@contextlib.contextmanager
def preserved_state(*modules: nn.Module | None) -> Iterator[None]:
    """Context manager: buffers, train/eval modes and ``requires_grad`` flags of ``modules`` survive the block.

    Inside the block every buffer (BatchNorm running stats, ``num_batches_tracked``, spectral-norm ``_u``/``_v``)
    is replaced by a clone, so forward passes may update the clones freely; on exit the original tensors are put
    back untouched. Module ``training`` flags and parameter ``requires_grad`` flags are recorded and restored.
    Parameter ``.grad`` is not touched here; the attacks never call ``backward`` (they use ``torch.autograd.grad``
    with respect to their input only), so parameter gradients are never written.

    Parameters
    ----------
    *modules : nn.Module or None
        Modules to protect (``None`` entries are ignored; wrappers such as DDP are unwrapped).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> D = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    >>> with preserved_state(D):
    ...     _ = D(torch.randn(8, 4))
    >>> int(D[1].num_batches_tracked)
    0
    """
    seen: set[int] = set()
    owners: list[nn.Module] = []
    for module in modules:
        if module is None:
            continue
        for sub in unwrap(module).modules():
            if id(sub) not in seen:
                seen.add(id(sub))
                owners.append(sub)
    saved_buffers: list[tuple[nn.Module, str, object]] = []
    modes = [(sub, sub.training) for sub in owners]
    flags = []
    # clones are normal tensors even under torch.inference_mode(): the block may run autograd through them
    with torch.inference_mode(False):
        for sub in owners:
            for name, param in sub.named_parameters(recurse=False):
                flags.append((sub, name, param, param.requires_grad))
            for name, buf in list(sub._buffers.items()):
                if buf is not None:
                    saved_buffers.append((sub, name, buf))
                    sub._buffers[name] = buf.detach().clone()
    try:
        yield
    finally:
        for sub, name, buf in saved_buffers:
            sub._buffers[name] = buf  # type: ignore[assignment]
        for sub, training in modes:
            sub.training = training
        for _sub, _name, param, requires_grad in flags:
            if param.requires_grad != requires_grad:
                # an inference-mode parameter's flag can only be set back inside inference mode
                with torch.inference_mode(param.is_inference()):
                    param.requires_grad_(requires_grad)
