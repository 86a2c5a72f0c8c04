"""float16 overflow in MSR: ``force_upcast`` VAEs run in float32 as in diffusers, and a NaN output fails one item.

The fault: ``VAERegenerator(vae, dtype=torch.float16)`` with a VAE whose config sets ``force_upcast=True`` kept
the VAE in float16 and returned all-NaN images, and ``run()`` then aborted the whole job with a generic message.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _tiny_diffusers import tiny_vae

from hrr._images import save_png
from hrr.msr import IdentityRegenerator, MultiScaleRetrospector, VAERegenerator

pytestmark = pytest.mark.usefixtures("one_thread")


def _overflowing_vae(force_upcast: bool) -> Any:
    """A tiny VAE whose decoder activations exceed float16's range (65504) but not float32's."""
    vae = tiny_vae(force_upcast=force_upcast)
    with torch.no_grad():
        vae.decoder.conv_in.weight.mul_(1e6)
    return vae


def test_force_upcast_vae_runs_in_float32_and_stays_finite() -> None:
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    upcast = VAERegenerator(_overflowing_vae(True), device="cpu", dtype=torch.float16)
    assert upcast.dtype == torch.float32 and next(upcast.vae.parameters()).dtype == torch.float32
    out = upcast.regenerate(x, [0, 1])
    assert bool(torch.isfinite(out).all()) and out.min() >= 0 and out.max() <= 1
    assert upcast.config()["dtype"] == "torch.float32"  # the cache key records the dtype actually used
    # the same weights without the flag are honoured in float16 -- and overflow, which is what the flag is for
    fp16 = VAERegenerator(_overflowing_vae(False), device="cpu", dtype=torch.float16)
    assert fp16.dtype == torch.float16
    assert not bool(torch.isfinite(fp16.regenerate(x, [0, 1])).all())


class _NaNForSome:
    """Identity, except that images whose seed is odd come back as NaN (what an fp16 overflow gives)."""

    size_multiple = 1
    dtype = torch.float16

    def config(self) -> dict[str, Any]:
        return {"backend": "nan-for-odd-seeds"}

    def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        out = images.clone()
        for i, s in enumerate(seeds):
            if s % 2:
                out[i] = float("nan")
        return out


def test_run_reports_non_finite_items_and_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(6):
        save_png(src / f"{i}.png", np.random.default_rng(i).random((20, 20, 3), dtype=np.float32))
    msr = MultiScaleRetrospector(_NaNForSome(), scales=[16], batch_size=3, progress=False, line_enhancer=None)
    report = msr.run(src, tmp_path / "out")
    plan = {it.image_id: it.seed for it in msr._plan(msr._sources(src), tmp_path / "elsewhere")[0]}
    bad = {i for i, s in plan.items() if s % 2}
    assert 0 < len(bad) < 6  # the fixture really mixes good and bad items in one batch
    assert {f["image_id"] for f in report.failed} == bad
    assert all("float16 overflow" in f["reason"] and "torch.float16" in f["reason"] for f in report.failed)
    written = {p.stem for p in (tmp_path / "out" / "s0016" / "regen").glob("*.png")}
    assert written == set(plan) - bad
    saved = json.loads(Path(report.report_path).read_text())
    assert {f["image_id"] for f in saved["failed"]} == bad


def test_in_memory_retrospect_names_the_cause() -> None:
    msr = MultiScaleRetrospector(_NaNForSome(), scales=[16], progress=False, line_enhancer=None)
    images = [np.full((16, 16, 3), 0.5, np.float32) for _ in range(4)]
    with pytest.raises(RuntimeError, match="float16 overflow"):
        msr.retrospect(images)
    assert len(MultiScaleRetrospector(IdentityRegenerator(), scales=[16], progress=False).retrospect(images)) == 4
