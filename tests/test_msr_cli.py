"""``hrr regenerate`` end to end with each backend (tiny local models, no network)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
from pathlib import Path

import numpy as np
import pytest
from _tiny_diffusers import tiny_refiner, tiny_vae
from PIL import Image

from hrr.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_src")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(30, 40), (40, 30), (36, 36)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"p{i}.png")
    (root / "bad.png").write_bytes(b"nope")
    return root


def test_identity_backend(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["regenerate", str(src), str(out), "--backend", "identity", "--size-multiple", "8", "--quiet"]
    assert main([*args, "--scales", "16", "24", "--save-line-enhanced", "--noise-std", "0"]) == 0
    printed = capsys.readouterr().out
    assert "6 done, 0 skipped" in printed and "bad.png" in printed and "not a recognised image format" in printed
    assert sorted(p.name for p in (out / "s0024" / "regen").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    assert (out / "s0016" / "lineE" / "p0.png").exists()
    assert main([*args, "--scales", "16,24", "--save-line-enhanced", "--noise-std", "0"]) == 0
    assert "0 done, 6 skipped" in capsys.readouterr().out
    # other settings into the same folder: a clear error, exit code 2
    assert main([*args, "--scales", "16", "24", "--save-line-enhanced", "--noise-std", "0.1"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_vae_backend(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_vae().save_pretrained(tmp_path / "vae")
    out = tmp_path / "out"
    assert (
        main(
            [
                "regenerate",
                str(src),
                str(out),
                "--backend",
                "vae",
                "--model",
                str(tmp_path / "vae"),
                "--scales",
                "16",
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "3 done" in capsys.readouterr().out
    manifest = json.loads((out / "msr_manifest.json").read_text())
    assert manifest["config"]["regenerator"]["backend"] == "vae"


def test_img2img_backend_and_errors(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_refiner(tmp_path / "tok").save_pretrained(tmp_path / "refiner")
    out = tmp_path / "out"
    base = ["regenerate", str(src), str(out), "--model", str(tmp_path / "refiner"), "--quiet", "--device", "cpu"]
    assert main([*base, "--scales", "16", "--steps", "2", "--strength", "0.5", "--batch-size", "3"]) == 0
    assert "3 done" in capsys.readouterr().out
    regen = np.asarray(Image.open(out / "s0016" / "regen" / "p2.png"))
    real = np.asarray(Image.open(out / "s0016" / "real" / "p2.png"))
    assert regen.shape == real.shape == (16, 16, 3) and not np.array_equal(regen, real)
    assert main([*base, "--scales", "16", "--steps", "3", "--strength", "0.3"]) == 2
    assert "num_inference_steps * strength must be at least 1" in capsys.readouterr().err
    assert main(["regenerate", str(src), str(tmp_path / "o2"), "--model", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "model must be a diffusers pipeline folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["regenerate", str(src), str(out), "--scales", "0"])


@pytest.mark.slow
def test_msr_demo_step(tmp_path: Path) -> None:
    from hrr.demo._msr import format_msr_table, run_msr_demo

    rows, picture, _ = run_msr_demo(tmp_path, quick=True, progress=False, seed=0)
    assert [(r.image, r.scale) for r in rows] == [(n, s) for n in ("astronaut", "chelsea", "coffee") for s in (64, 128)]
    # the briefly trained diffusion model keeps the content (PSNR well above noise level) yet leaves visible traces
    assert all(12.0 < r.psnr_regen < 40.0 for r in rows), format_msr_table(rows)
    assert all(0.0 < r.line_pixels < 1.0 for r in rows)
    img = np.asarray(Image.open(picture))
    assert img.ndim == 3 and img.shape[1] > 4 * 128
    for name in ("astronaut", "chelsea", "coffee"):
        for kind in ("real", "lineE", "regen"):
            assert (tmp_path / "msr" / "regenerated" / "s0128" / kind / f"{name}.png").exists()


def test_msr_demo_keeps_the_vae_backend_and_refuses_unknown_ones(tmp_path: Path) -> None:
    from hrr.demo import BenchmarkSettings
    from hrr.demo._msr import run_msr_demo

    rows, _, _ = run_msr_demo(tmp_path, quick=True, progress=False, seed=0, backend="vae")
    assert len(rows) == 6 and all(12.0 < r.psnr_regen < 40.0 for r in rows)
    with pytest.raises(ValueError, match="backend must be 'diffusion' or 'vae'; got 'sdxl'"):
        run_msr_demo(tmp_path, quick=True, backend="sdxl")
    with pytest.raises(ValueError, match="msr_backend must be 'diffusion' or 'vae'; got 'gan'"):
        BenchmarkSettings(msr_backend="gan")
