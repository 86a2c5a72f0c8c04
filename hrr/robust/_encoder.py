"""F_θ of the inversion papers: the activation of one named layer of a classifier.

A1 inverts AlexNet's conv5 (6×6×256), A2.3 the third residual block of a ResNet-18 (4×4×512). ``LayerEncoder``
turns any ``nn.Module`` into that map: it runs the model's own ``forward`` and stops as soon as the chosen layer
has produced its output, so the layers after it cost nothing and need not even accept the shape.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from hrr._state import preserved_state


class _Reached(Exception):
    """Raised by the forward hook to stop the forward pass once the layer's output exists."""

    def __init__(self, output: Any) -> None:
        super().__init__()
        self.output = output


class LayerEncoder(nn.Module):
    """The output of layer ``layer`` of ``model`` as an encoder ``F(x)`` (seed 003, Eq. 8's F_θ).

    Parameters
    ----------
    model : nn.Module
        Any classifier (e.g. one trained with :class:`hrr.robust.AdversarialTraining`). It is used as is: its
        parameters are shared, not copied.
    layer : str or None
        Name of a submodule as in ``model.named_modules()`` (e.g. ``"features.10"``, ``"layer3"``). ``None`` uses
        the model's output.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 2))
    >>> enc = LayerEncoder(net, "1")
    >>> enc(torch.rand(4, 3, 8, 8)).shape
    torch.Size([4, 8, 4, 4])
    """

    def __init__(self, model: nn.Module, layer: str | None = None) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.layer = layer
        self._target: nn.Module | None = None
        if layer is not None:
            modules = dict(model.named_modules())
            if not isinstance(layer, str) or layer not in modules or layer == "":
                names = [name for name in modules if name]
                shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
                raise ValueError(f"layer must name a submodule of model (model.named_modules()); got {layer!r}. "
                                 f"Available: {shown}")
            self._target = modules[layer]

    def forward(self, x: Tensor) -> Tensor:
        """Features of images ``x`` (float (B, C, H, W), the model's input range, [0, 1] in ``hrr``)."""
        if self._target is None:
            return self.model(x)

        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            raise _Reached(output)

        handle = self._target.register_forward_hook(hook)
        try:
            self.model(x)
        except _Reached as reached:
            out = reached.output
        else:  # pragma: no cover - the hook always fires when the layer is used
            raise RuntimeError(f"layer {self.layer!r} was not used by model.forward")
        finally:
            handle.remove()
        if not isinstance(out, Tensor):
            raise TypeError(f"layer {self.layer!r} returns {type(out).__name__}; it must return one tensor")
        return out

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}"


def feature_shape(encoder: nn.Module, image_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """Shape of ``encoder``'s output for one image of ``image_shape`` (C, H, W), without changing its state."""
    if len(image_shape) != 3 or not all(isinstance(s, int) and s > 0 for s in image_shape):
        raise ValueError(f"image_shape must be (C, H, W) positive ints, got {image_shape!r}")
    param = next(iter(encoder.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    with preserved_state(encoder), torch.no_grad():
        encoder.eval()
        out = encoder(torch.zeros((2, *image_shape), device=device, dtype=dtype))
    return tuple(out.shape[1:])
