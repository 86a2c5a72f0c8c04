"""Class-activation maps of a generated-vs-real classifier (HRR Fig. 4), and an overlay picture grid.

Grad-CAM (Selvaraju et al., 2017): the activations ``A`` of a convolutional layer are weighted per channel by the
spatial mean of the gradient of the score, summed over channels and rectified. HiResCAM (Draelos & Carin, 2020)
multiplies gradient and activation element-wise instead, which follows the gradient's spatial support exactly.
Works on any ``nn.Module`` that maps images to one logit per image, or to class logits with a class index.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hrr._grad import check_autograd_module
from hrr._io import figure_format, save_figure
from hrr._pixels import check_image_batch
from hrr._validate import check_int

__all__ = ["class_activation_maps", "find_cam_layer", "save_cam_grid"]


def _module_name(model: nn.Module, module: nn.Module) -> str | None:
    return next((name for name, m in model.named_modules() if m is module), None)


def find_cam_layer(model: nn.Module, images: torch.Tensor) -> tuple[str, nn.Module]:
    """The layer Grad-CAM uses by default: the last module, in forward order, that outputs a 4-D map larger than 1x1.

    "Last to finish" picks the outermost block of the last stage (``layer4`` of a torchvision ResNet rather than
    its final convolution), the usual Grad-CAM choice, and skips global pooling (1x1 output).

    Parameters
    ----------
    model : nn.Module
    images : torch.Tensor
        Float ``(B, 3, H, W)`` in [0, 1]; only the first image is run (without gradients).

    Returns
    -------
    (str, nn.Module)
        Qualified name (as in ``model.named_modules()``) and the module.

    Raises
    ------
    ValueError
        No submodule produces a spatial 4-D tensor.

    Examples
    --------
    >>> name, layer = find_cam_layer(torchvision.models.resnet18(), torch.rand(1, 3, 64, 64))  # doctest: +SKIP
    >>> name  # doctest: +SKIP
    'layer4'
    """
    images = check_image_batch(images, "images")
    finished: list[str] = []
    handles = []

    def make_hook(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-2] * output.shape[-1] > 1:
                finished.append(name)

        return hook

    flags = [(m, m.training) for m in model.modules()]
    try:
        for name, module in model.named_modules():
            if name:  # the model itself is not a candidate
                handles.append(module.register_forward_hook(make_hook(name)))
        model.eval()
        with torch.no_grad():
            model(images[:1])
    finally:
        for h in handles:
            h.remove()
        for m, training in flags:
            m.training = training
    if not finished:
        raise ValueError(
            f"{type(model).__name__} has no submodule with a 4-D (B, C, h, w) output larger than 1x1; "
            "pass target_layer= explicitly"
        )
    name = finished[-1]
    return name, model.get_submodule(name)


def _resolve_layer(model: nn.Module, target_layer: nn.Module | str | None, images: torch.Tensor) -> nn.Module:
    if target_layer is None:
        return find_cam_layer(model, images)[1]
    if isinstance(target_layer, str):
        try:
            return model.get_submodule(target_layer)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n]
            shown = ", ".join(names[-12:])
            raise ValueError(
                f"target_layer {target_layer!r} is not a submodule of {type(model).__name__}; "
                f"its last submodules are: {shown}"
            ) from None
    if isinstance(target_layer, nn.Module):
        if _module_name(model, target_layer) is None:
            raise ValueError(f"target_layer {type(target_layer).__name__} is not a submodule of the model")
        return target_layer
    raise TypeError(f"target_layer must be an nn.Module, a submodule name, or None; got {type(target_layer).__name__}")


def _scores(logits: Any, class_index: int | Sequence[int] | torch.Tensor | None, batch: int) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(
            f"the model must return a logit tensor of shape (B,), (B, 1) or (B, C); got {type(logits).__name__} "
            "(pass logit_fn= to pick the logits out of the model's output)"
        )
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.ndim == 1 and logits.shape[0] == batch:
        # One logit of "generated": class 1 (default) explains it, class 0 ("real") explains its negation.
        if class_index is None:
            return logits
        idx = torch.as_tensor(class_index, device=logits.device).expand(batch)
        if not bool(((idx == 0) | (idx == 1)).all()):
            raise ValueError(f"class_index must be 0 (real) or 1 (generated) for one logit; got {class_index!r}")
        return torch.where(idx == 1, logits, -logits)
    if logits.ndim == 2 and logits.shape[0] == batch:
        n_classes = logits.shape[1]
        if class_index is None:
            if n_classes != 2:
                raise ValueError(f"the model outputs {n_classes} classes; pass class_index= to choose one")
            class_index = 1  # CNNDetection order: 0_real, 1_fake
        idx = torch.as_tensor(class_index, device=logits.device, dtype=torch.long).expand(batch)
        if bool(((idx < 0) | (idx >= n_classes)).any()):
            raise ValueError(f"class_index must be in [0, {n_classes}); got {class_index!r}")
        return logits.gather(1, idx[:, None])[:, 0]
    raise ValueError(
        f"the model must return logits of shape ({batch},), ({batch}, 1) or ({batch}, C); got {tuple(logits.shape)}"
    )


def class_activation_maps(
    model: nn.Module,
    images: torch.Tensor,
    *,
    target_layer: nn.Module | str | None = None,
    class_index: int | Sequence[int] | torch.Tensor | None = None,
    method: Literal["gradcam", "hirescam"] = "gradcam",
    logit_fn: Callable[[Any], torch.Tensor] | None = None,
    batch_size: int = 16,
) -> torch.Tensor:
    """Class-activation maps of ``model`` for ``images``, upsampled to the image size and scaled to [0, 1].

    The model is run in eval mode with gradients enabled (also when called under ``torch.no_grad`` or
    ``torch.inference_mode``, with the same maps); its train/eval flags are restored and every hook removed
    afterwards, even on error. Parameters are never modified and their ``requires_grad`` is not touched: gradients
    are taken with ``torch.autograd.grad`` with respect to the layer's activation only. A model whose parameters
    were created under ``torch.inference_mode()`` cannot be differentiated and raises a RuntimeError saying so.

    Parameters
    ----------
    model : nn.Module
        Classifier taking float ``(B, 3, H, W)`` images in [0, 1] (normalise inside the model) and returning one
        logit of "generated" per image, ``(B,)`` or ``(B, 1)``, or class logits ``(B, C)``.
    images : torch.Tensor
        Float ``(B, 3, H, W)`` in [0, 1], on the model's device.
    target_layer : nn.Module or str or None
        The layer to explain: a submodule, its qualified name (``"layer4"``), or None for :func:`find_cam_layer`.
    class_index : int or sequence of int, optional
        One-logit models: 1 (default) explains "generated", 0 explains "real" (the negated logit). ``(B, C)``
        models: the class, per image or for all; default 1 when ``C == 2``.
    method : {"gradcam", "hirescam"}
        Grad-CAM (channel weights = mean gradient) or HiResCAM (gradient x activation, element-wise).
    logit_fn : callable, optional
        Maps the model's output to the logit tensor (e.g. ``lambda out: out["logit"]``).
    batch_size : int, default 16
        Images per forward/backward pass.

    Returns
    -------
    torch.Tensor
        ``(B, H, W)`` float32 in [0, 1] on the images' device; each map is divided by its maximum (an all-zero
        map stays zero: nothing in the layer increases the score).

    Examples
    --------
    >>> cams = class_activation_maps(model, images)  # doctest: +SKIP
    >>> save_cam_grid(images, {"HRR": cams}, "cam.png")  # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    images = check_image_batch(images, "images")
    if method not in ("gradcam", "hirescam"):
        raise ValueError(f"method must be 'gradcam' or 'hirescam'; got {method!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    per_image_class = class_index is not None and not isinstance(class_index, int)
    if per_image_class and len(class_index) != images.shape[0]:  # type: ignore[arg-type]
        raise ValueError(
            f"class_index must be an int or hold one entry per image ({images.shape[0]}); got {len(class_index)}"  # type: ignore[arg-type]
        )
    check_autograd_module("model", model)
    layer = _resolve_layer(model, target_layer, images)
    height, width = images.shape[-2:]
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise ValueError(
                f"target_layer {type(_module).__name__} must output a (B, C, h, w) tensor; "
                f"got {type(output).__name__}{'' if not isinstance(output, torch.Tensor) else tuple(output.shape)}"
            )
        if not output.requires_grad:
            # Frozen layers below: make the activation itself the leaf we differentiate with respect to, so
            # neither the input nor any parameter has to require gradients.
            output = output.detach().requires_grad_(True)
        captured.append(output)
        return output

    flags = [(m, m.training) for m in model.modules()]
    handle = layer.register_forward_hook(hook)
    maps: list[torch.Tensor] = []
    try:
        model.eval()
        with torch.inference_mode(False), torch.enable_grad():
            for start in range(0, images.shape[0], batch_size):
                # clone(): a tensor made under inference_mode cannot enter autograd; its copy made here can.
                chunk = images[start : start + batch_size].detach().clone()
                cls = class_index
                if per_image_class:
                    cls = torch.as_tensor(class_index)[start : start + batch_size]
                captured.clear()
                output = model(chunk)
                logits = logit_fn(output) if logit_fn is not None else output
                score = _scores(logits, cls, chunk.shape[0])
                if not captured:
                    raise ValueError("target_layer was not called during the forward pass; choose a layer on the path")
                act = captured[-1]  # a layer called several times is explained at its last call
                grad = None
                if score.requires_grad:
                    (grad,) = torch.autograd.grad(score.sum(), act, allow_unused=True)
                if grad is None:
                    raise ValueError(
                        "the model's score does not depend on target_layer's output (detached or off the path); "
                        "choose a layer the logit is computed from"
                    )
                if method == "gradcam":
                    cam = (grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1)
                else:
                    cam = (grad * act).sum(dim=1)
                cam = F.relu(cam.detach().float())[:, None]
                cam = F.interpolate(cam, size=(height, width), mode="bilinear", align_corners=False)[:, 0]
                peak = cam.flatten(1).amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny)
                maps.append((cam / peak[:, None, None]).clamp_(0.0, 1.0))
    finally:
        handle.remove()
        for m, training in flags:
            m.training = training
        captured.clear()
    return torch.cat(maps).to(images.device)


def _to_numpy_images(images: Any) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = check_image_batch(images, "images")
        return images.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim != 4 or arr.shape[-1] != 3 or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise ValueError(
            "images must be a float tensor (B, 3, H, W) or a numpy array (B, H, W, 3) with values in [0, 1]; "
            f"got shape {arr.shape}"
        )
    return arr


def save_cam_grid(
    images: torch.Tensor | np.ndarray,
    cams: torch.Tensor | np.ndarray | Mapping[str, torch.Tensor | np.ndarray],
    path: str | os.PathLike[str],
    titles: Sequence[str] | None = None,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    tile_inches: float = 2.0,
    colorbar: bool = True,
    max_columns: int = 8,
) -> Path:
    """Save a Fig.-4-style grid: the images in the first row, one row of CAM overlays per CAM set (atomic write).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        Float ``(B, 3, H, W)`` tensor or ``(B, H, W, 3)`` array in [0, 1].
    cams : torch.Tensor or numpy.ndarray or mapping of str to those
        ``(B, H, W)`` maps in [0, 1]; a mapping ``{"baseline": cams_a, "HRR": cams_b}`` gives one labelled row each.
    path : str or path-like
        Output file; format from the suffix (.png, .pdf, .svg, .jpg).
    titles : sequence of str, optional
        One title per image (column), e.g. the generator and the predicted probability.
    alpha : float, default 0.5
        Opacity of the heat map over the image.
    cmap : str, default "jet"
        Matplotlib colormap of the heat map.
    tile_inches : float, default 2.0
        Size of one tile.
    colorbar : bool, default True
        A colour bar for the heat maps (each map divided by its own maximum, as
        :func:`class_activation_maps` returns them).
    max_columns : int, default 8
        Images per block row; more images wrap into further blocks (an image row and its CAM rows each), so
        many images make a grid rather than a strip.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> save_cam_grid(images, {"baseline": cam_a, "HRR": cam_b}, "fig4.png", titles=["a", "b"])  # doctest: +SKIP
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure


    imgs = _to_numpy_images(images)
    cam_sets = dict(cams) if isinstance(cams, Mapping) else {"CAM": cams}
    if not cam_sets:
        raise ValueError("cams is empty; give at least one (B, H, W) set of maps")
    arrays: dict[str, np.ndarray] = {}
    for name, value in cam_sets.items():
        arr = value.detach().float().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, np.float32)
        if arr.shape != imgs.shape[:3]:
            raise ValueError(f"cams[{name!r}] must have shape (B, H, W) = {imgs.shape[:3]}; got {arr.shape}")
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"cams[{name!r}] must hold values in [0, 1]")
        arrays[str(name)] = arr
    if titles is not None and len(titles) != imgs.shape[0]:
        raise ValueError(f"titles must hold one entry per image ({imgs.shape[0]}); got {len(titles)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}")
    target = Path(path)
    figure_format(target)  # a bad extension fails before any plotting
    max_columns = check_int("max_columns", max_columns, minimum=1)
    colour = colormaps[cmap]
    n_images = imgs.shape[0]
    block, n_cols = 1 + len(arrays), min(n_images, max_columns)
    n_rows = block * -(-n_images // n_cols)
    # Constrained layout makes room for the colour bar, which tight_layout does not
    fig = Figure(figsize=(tile_inches * n_cols + (1.0 if colorbar else 0.0), tile_inches * n_rows),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for j in range(n_images):
        top, col = block * (j // n_cols), j % n_cols
        axes[top, col].imshow(imgs[j])
        if titles is not None:
            axes[top, col].set_title(str(titles[j]), fontsize="small")
        for i, (name, arr) in enumerate(arrays.items(), start=1):
            heat = colour(arr[j])[..., :3]
            axes[top + i, col].imshow((1.0 - alpha) * imgs[j] + alpha * heat)
            if col == 0:
                axes[top + i, col].set_ylabel(name)
        if col == 0:
            axes[top, col].set_ylabel("image")
    for j in range(n_images, n_rows // block * n_cols):  # the last block's empty places
        for i in range(block):
            axes[block * (j // n_cols) + i, j % n_cols].axis("off")
    if colorbar:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        # Beside the last column only: attached to the whole grid, constrained layout cut off the row labels
        fig.colorbar(ScalarMappable(norm=Normalize(0.0, 1.0), cmap=colour), ax=axes[:, -1].tolist(),
                     label="activation / the map's maximum", shrink=0.9)
    return save_figure(fig, target, dpi=100)
