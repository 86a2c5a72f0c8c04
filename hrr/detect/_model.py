"""The detector network: an image backbone that yields features, plus a linear real-vs-generated head.

Backbones come from torchvision by name (any classifier; ResNet-50 by default, as in the paper's experiments) or are
any ``nn.Module`` mapping images to feature vectors. Pretrained weights are read only from a local file, never
downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from hrr._pixels import check_image_batch

DEFAULT_BACKBONE = "resnet50"
"""The backbone of the paper's experiments, the default of every function that builds a detector."""

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file, never executing code (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights file {path} does not hold a state dict (got {type(state).__name__})")
    return state


def _strip_classifier(model: nn.Module) -> int:
    """Replace the last ``nn.Linear`` of a torchvision classifier by ``Identity``; return its input width."""
    last_name, last = None, None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_name, last = name, module
    if last is None or last_name is None:
        raise ValueError(f"cannot find a final nn.Linear classifier in {type(model).__name__}; pass an nn.Module "
                         "that returns features instead")
    parent = model
    *path, leaf = last_name.split(".")
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, leaf, nn.Identity())
    return int(last.in_features)


def torchvision_backbone(name: str, weights: str | os.PathLike | None = None) -> tuple[nn.Module, int]:
    """A torchvision classifier by name with its classification layer removed, and its feature width.

    Parameters
    ----------
    name : str
        Any name in ``torchvision.models.list_models(torchvision.models)``, e.g. ``"resnet50"``.
    weights : path, optional
        Local ``.safetensors`` / ``.pth`` state dict of the *full* torchvision classifier (as torchvision ships it).
        Nothing is ever downloaded.
    """
    import torchvision

    available = torchvision.models.list_models(module=torchvision.models)
    if name not in available:
        raise ValueError(f"backbone must be a torchvision classification model name (e.g. 'resnet50'); got {name!r}. "
                         f"Known: {', '.join(sorted(available)[:12])}, ...")
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    if weights is not None:
        state = load_state_dict_file(weights)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:  # missing/unexpected keys or shape mismatches, reported by torch in detail
            raise ValueError(f"weights {weights} do not match torchvision {name!r}: {exc}") from None
    dim = _strip_classifier(model)
    return model, dim


class SmallCNN(nn.Module):
    """A small fully convolutional backbone for CPU experiments (the one ``hrr demo`` trains).

    Its first layer keeps full resolution, where up-sampling traces live; global average pooling makes it
    size-agnostic (train on crops, test on any size). A run folder trained with it reloads without passing the
    backbone (``HRRDetector.load`` rebuilds it from ``detector.json``), so ``hrr detect`` works on it.

    Parameters
    ----------
    width : int, default=16
        Channels of the first convolution; the features have ``4 * width`` dimensions.

    Examples
    --------
    >>> SmallCNN(width=8)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 32])
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer; got {width!r}")
        self.width = width
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )

    def config(self) -> dict[str, int]:
        """Constructor arguments (stored in ``detector.json`` so the backbone can be rebuilt)."""
        return {"width": self.width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, 4 * width)`` of images ``(B, 3, H, W)`` (already normalised by :class:`Detector`)."""
        return self.net(x)


def _infer_feature_dim(backbone: nn.Module) -> int:
    was_training = backbone.training
    backbone.eval()
    try:
        p = next(backbone.parameters(), None)
        probe = torch.zeros(1, 3, 64, 64, device=p.device if p is not None else "cpu",
                            dtype=p.dtype if p is not None else torch.float32)
        with torch.no_grad():
            out = backbone(probe)
    finally:
        backbone.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ValueError("a custom backbone must map images (B, 3, H, W) to features (B, D); "
                         f"got output {getattr(out, 'shape', type(out).__name__)} for a 1x3x64x64 probe")
    return int(out.shape[1])


class Detector(nn.Module):
    """Backbone features + a linear head giving one "generated" logit per image (the classifier of HRR, Fig. 2).

    Parameters
    ----------
    backbone : str or nn.Module, default="resnet50"
        A torchvision classifier name, or a module mapping images (B, 3, H, W) to features (B, D).
    weights : path, optional
        Local pretrained weights for a torchvision backbone (never downloaded).
    feature_dim : int, optional
        Feature width of a custom backbone; inferred with a small probe when omitted.
    normalize : bool, default=True
        Standardise inputs with the ImageNet mean and std inside the model, so callers always pass images in [0, 1].

    Examples
    --------
    >>> import torch
    >>> det = Detector("resnet18")
    >>> logits, feats = det.forward_with_features(torch.rand(2, 3, 64, 64))
    >>> logits.shape, feats.shape
    (torch.Size([2]), torch.Size([2, 512]))
    """

    def __init__(self, backbone: str | nn.Module = DEFAULT_BACKBONE, *, weights: str | os.PathLike | None = None,
                 feature_dim: int | None = None, normalize: bool = True) -> None:
        super().__init__()
        if isinstance(backbone, str):
            self.backbone_name: str | None = backbone
            self.backbone, dim = torchvision_backbone(backbone, weights)
        elif isinstance(backbone, nn.Module):
            if weights is not None:
                backbone.load_state_dict(load_state_dict_file(weights))
            self.backbone_name = None
            self.backbone = backbone
            dim = int(feature_dim) if feature_dim is not None else _infer_feature_dim(backbone)
        else:
            raise TypeError(f"backbone must be a torchvision model name or an nn.Module; got {type(backbone).__name__}")
        self.feature_dim = dim
        self.normalize = bool(normalize)
        self.head = nn.Linear(dim, 1)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone features (B, D) of images given as a float tensor (B, 3, H, W) in [0, 1]."""
        images = check_image_batch(images, "images")
        x = images
        if self.normalize:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        feats = self.backbone(x)
        if isinstance(feats, (tuple, list)):  # e.g. inception-style auxiliary outputs
            feats = feats[0]
        return feats.flatten(1)

    def forward_with_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B,) and features (B, D) of images (B, 3, H, W) in [0, 1], in one pass."""
        feats = self.forward_features(images)
        return self.head(feats).squeeze(1), feats

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """"Generated" logits (B,) of images given as a float tensor (B, 3, H, W) in [0, 1]."""
        return self.forward_with_features(images)[0]
