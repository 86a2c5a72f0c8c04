"""Class-activation maps: localisation on hand-built models, state restored, argument errors, the picture grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hrr.detect._cam import class_activation_maps, find_cam_layer, save_cam_grid

H = W = 32
REGION = (slice(4, 12), slice(18, 28))  # rows, cols the logit looks at


def _region_mask(h: int = H, w: int = W) -> torch.Tensor:
    mask = torch.zeros(1, 1, h, w)
    mask[..., REGION[0], REGION[1]] = 1.0
    return mask


class Gate(nn.Module):
    """Zeroes every position outside REGION: what comes after depends only on that region."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", _region_mask())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask


class RegionModel(nn.Module):
    """conv -> relu -> gate -> global mean -> linear: one logit that depends only on REGION of the image."""

    def __init__(self, n_out: int = 1, squeeze: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(8), nn.Dropout(0.5))
        self.gate = Gate()
        self.head = nn.Linear(8, n_out)
        with torch.no_grad():
            self.head.weight.abs_()  # positive evidence, so the ReLU-ed map is not empty
        self.squeeze = squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.gate(self.features(x)).mean(dim=(2, 3))
        out = self.head(z)
        return out[:, 0] if self.squeeze and out.shape[1] == 1 else out


def _images(b: int = 3) -> torch.Tensor:
    return torch.rand(b, 3, H, W, generator=torch.Generator().manual_seed(1))


def _inside_outside(cams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mask = _region_mask()[0, 0].bool()
    return cams[:, mask], cams[:, ~mask]


def test_gradcam_peaks_in_the_region_the_logit_uses() -> None:
    model = RegionModel()
    cams = class_activation_maps(model, _images())  # auto layer: the gate (last spatial output)
    assert cams.shape == (3, H, W) and cams.dtype == torch.float32
    assert float(cams.min()) >= 0.0 and torch.allclose(cams.flatten(1).amax(1), torch.ones(3))
    inside, outside = _inside_outside(cams)
    for b in range(3):
        peak = divmod(int(cams[b].argmax()), W)
        assert REGION[0].start <= peak[0] < REGION[0].stop and REGION[1].start <= peak[1] < REGION[1].stop
    # only bilinear spill from the upsampling can leak out, and it is a 1-pixel ring at most
    assert float(outside.mean()) < 0.05 * float(inside.mean())


def test_hirescam_localises_from_an_ungated_layer() -> None:
    model = RegionModel()
    # features[0] sees the whole image, but only region positions get gradient: HiResCAM follows that support,
    # while Grad-CAM's channel-mean weights would spread over the image.
    cams = class_activation_maps(model, _images(), target_layer="features.0", method="hirescam")
    inside, outside = _inside_outside(cams)
    assert float(outside.max()) == 0.0 and float(inside.mean()) > 0.05
    spread = class_activation_maps(model, _images(), target_layer=model.features[0], method="gradcam")
    assert float(_inside_outside(spread)[1].mean()) > 0.0


def test_model_state_and_hooks_restored_even_on_error() -> None:
    model = RegionModel()
    model.train()
    model.features[2].eval()  # mixed flags must come back exactly
    model.head.weight.requires_grad_(False)
    flags = [m.training for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    with torch.no_grad():  # CAMs need gradients internally even when called under no_grad
        class_activation_maps(model, _images(2))
    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == grads
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())

    def broken(_: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        class_activation_maps(model, _images(2), logit_fn=broken)
    assert [m.training for m in model.modules()] == flags
    assert all(not m._forward_hooks for m in model.modules())


def test_frozen_model_and_inference_mode_inputs() -> None:
    model = RegionModel()
    expected = class_activation_maps(model, _images(2))
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.inference_mode():
        images = _images(2)  # an inference tensor
        cams = class_activation_maps(model, images)
    assert torch.allclose(cams, expected, atol=1e-6)
    assert not any(p.requires_grad for p in model.parameters())


def test_output_shapes_and_class_index() -> None:
    images = _images(2)
    one = class_activation_maps(RegionModel(squeeze=False), images)  # (B, 1) logits
    assert torch.allclose(one, class_activation_maps(RegionModel(), images))
    # class 0 of a one-logit model explains "real" = the negated logit: evidence flips sign, the map empties
    real = class_activation_maps(RegionModel(), images, class_index=0)
    assert float(real.max()) == 0.0
    two = RegionModel(n_out=2)
    default = class_activation_maps(two, images)
    assert torch.allclose(default, class_activation_maps(two, images, class_index=1))
    assert torch.allclose(class_activation_maps(two, images, class_index=[1, 1]), default)
    with pytest.raises(ValueError, match="pass class_index"):
        class_activation_maps(RegionModel(n_out=3), images)
    with pytest.raises(ValueError, match=r"class_index must be in \[0, 3\)"):
        class_activation_maps(RegionModel(n_out=3), images, class_index=3)
    chunks = class_activation_maps(RegionModel(), _images(5), batch_size=2)
    assert torch.allclose(chunks, class_activation_maps(RegionModel(), _images(5)), atol=1e-6)


def test_layer_resolution_and_errors() -> None:
    model = RegionModel()
    assert find_cam_layer(model, _images(1))[0] == "gate"
    with pytest.raises(ValueError, match=r"not a submodule.*last submodules are"):
        class_activation_maps(model, _images(1), target_layer="layer4")
    with pytest.raises(ValueError, match="not a submodule of the model"):
        class_activation_maps(model, _images(1), target_layer=nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match=r"must output a \(B, C, h, w\) tensor"):
        class_activation_maps(model, _images(1), target_layer="head")
    with pytest.raises(ValueError, match=r"shape \(B, 3, H, W\) with values in \[0, 1\]"):
        class_activation_maps(model, torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        class_activation_maps(model, torch.full((1, 3, 8, 8), 2.0))
    with pytest.raises(TypeError, match="logit tensor"):
        class_activation_maps(model, _images(1), logit_fn=lambda out: {"logit": out})
    model.unused = nn.Conv2d(3, 3, 1)
    with pytest.raises(ValueError, match="was not called during the forward pass"):
        class_activation_maps(model, _images(1), target_layer="unused")
    with pytest.raises(ValueError, match="does not depend on target_layer"):
        class_activation_maps(model, _images(1), logit_fn=lambda out: out.detach())
    with pytest.raises(ValueError, match="method must be"):
        class_activation_maps(model, _images(1), method="scorecam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no submodule with a 4-D"):
        find_cam_layer(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1)), torch.rand(1, 3, 8, 8))


def test_find_cam_layer_on_resnet() -> None:
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None, num_classes=1)
    assert find_cam_layer(model, torch.rand(1, 3, 64, 64))[0] == "layer4"


def test_save_cam_grid(tmp_path: Path) -> None:
    images = _images(3)
    cams = class_activation_maps(RegionModel(), images)
    out = save_cam_grid(images, {"baseline": cams.flip(-1), "HRR": cams}, tmp_path / "fig" / "cam.png", ["a", "b", "c"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert save_cam_grid(images.permute(0, 2, 3, 1).numpy(), cams.numpy(), tmp_path / "c.pdf").stat().st_size > 0
    from PIL import Image

    with_bar = Image.open(save_cam_grid(images, cams, tmp_path / "bars" / "bar.png")).size
    without = Image.open(save_cam_grid(images, cams, tmp_path / "bars" / "nobar.png", colorbar=False)).size
    assert with_bar[0] == without[0] + 100 and with_bar[1] == without[1]  # one more inch at 100 dpi for the bar
    many = _images(5)
    grid = Image.open(save_cam_grid(many, class_activation_maps(RegionModel(), many), tmp_path / "bars" / "grid.png",
                                    max_columns=2, colorbar=False)).size
    assert grid == (2 * 200, 3 * 2 * 200)  # 5 images in blocks of 2: 3 blocks of an image row and a CAM row
    with pytest.raises(ValueError, match="max_columns"):
        save_cam_grid(many, class_activation_maps(RegionModel(), many), tmp_path / "x.png", max_columns=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars", "c.pdf", "fig"]
    with pytest.raises(ValueError, match=r"must have shape \(B, H, W\)"):
        save_cam_grid(images, cams[:2], tmp_path / "x.png")
    with pytest.raises(ValueError, match="titles must hold one entry per image"):
        save_cam_grid(images, cams, tmp_path / "x.png", titles=["a"])
    with pytest.raises(ValueError, match="path must end in one of"):
        save_cam_grid(images, cams, tmp_path / "x.gif")
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        save_cam_grid(images, np.full((3, H, W), 2.0), tmp_path / "x.png")
