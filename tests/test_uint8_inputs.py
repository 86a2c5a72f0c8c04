"""uint8 images are accepted wherever images are, and mean exactly what ``x / 255`` means.

Each public entry point that takes images is called twice, with a uint8 image and with its float32 ``x / 255``
twin, and must give the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from _detect_data import TinyBackbone

from hrr.data import TestTransform, TrainAugment, gaussian_blur, jpeg_compress, resize_image
from hrr.detect import Detector, HRRDetector, class_activation_maps, find_cam_layer
from hrr.msr import IdentityRegenerator, LineEnhancer, MultiScaleRetrospector
from hrr.robust import InversionAnomalyScore

U8 = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
F32 = U8.astype(np.float32) / np.float32(255)


def _batch(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]


def _detector() -> HRRDetector:
    torch.manual_seed(0)
    return HRRDetector(Detector(TinyBackbone()), device="cpu")


def _tiny_inverter() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.nn.Flatten())
    decoder = torch.nn.Sequential(torch.nn.Linear(4 * 12 * 10, 3 * 24 * 20), torch.nn.Sigmoid(),
                                  torch.nn.Unflatten(1, (3, 24, 20)))
    return encoder, decoder


CASES: dict[str, Callable[[np.ndarray, Callable[[np.ndarray], Any]], Any]] = {
    "resize_image": lambda a, _: resize_image(a, (12, 10)),
    "gaussian_blur": lambda a, _: gaussian_blur(a, 1.2),
    "jpeg_compress": lambda a, _: jpeg_compress(a, 80),
    "TrainAugment": lambda a, _: TrainAugment(crop_size=16, blur_prob=1.0, jpeg_prob=1.0)(a, np.random.default_rng(1)),
    "TestTransform": lambda a, _: TestTransform(scale=0.5, blur_sigma=1.0)(a),
    "LineEnhancer(numpy)": lambda a, _: LineEnhancer(usm_kernel=7)(a),
    "LineEnhancer(tensor)": lambda a, t: LineEnhancer(usm_kernel=7)(t(a)),
    "MultiScaleRetrospector.retrospect": lambda a, _: MultiScaleRetrospector(
        IdentityRegenerator(), scales=[16], progress=False).retrospect([a])[0][16].regenerated,
    "IdentityRegenerator.regenerate": lambda a, t: IdentityRegenerator().regenerate(t(a), [0]),
    "Detector.forward": lambda a, t: _detector().model(t(a)),
    "HRRDetector.predict_proba(tensor)": lambda a, t: _detector().predict_proba(t(a)),
    "HRRDetector.predict_proba(numpy)": lambda a, _: _detector().predict_proba(a),
    "class_activation_maps": lambda a, t: class_activation_maps(_detector().model, t(a)),
    "find_cam_layer": lambda a, t: find_cam_layer(_detector().model, t(a))[0],
    "InversionAnomalyScore": lambda a, t: InversionAnomalyScore(*_tiny_inverter(), iterations=2, progress=False)(
        t(a)),
}


def _as_numpy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().float().numpy()
    return x


@pytest.mark.parametrize("name", sorted(CASES))
def test_uint8_means_x_over_255(name: str) -> None:
    call = CASES[name]
    torch.manual_seed(0)
    from_u8 = _as_numpy(call(U8, _batch))
    torch.manual_seed(0)
    from_float = _as_numpy(call(F32, _batch))
    assert from_float is not None
    if isinstance(from_float, np.ndarray):
        assert from_u8.dtype != np.uint8  # converted, not passed through
        np.testing.assert_array_equal(from_u8, from_float)
    else:
        assert from_u8 == from_float
