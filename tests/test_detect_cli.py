"""``hrr train / eval / detect / explain / ablate`` on a tiny ForenSynths-layout dataset built on the fly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _detect_data import make_images

from hrr._images import save_png
from hrr.cli import main

TRAIN_ARGS = ["--backbone", "resnet18", "--epochs", "2", "--batch-size", "8", "--crop", "32", "--blur-prob", "0",
              "--jpeg-prob", "0", "--lr", "1e-3", "--afr-lam", "0.05", "--device", "cpu", "--quiet"]


def _write_class(folder: Path, n: int, seed: int) -> None:
    for sub, fake in (("0_real", False), ("1_fake", True)):
        for i, img in enumerate(make_images(n, 32, seed + 7 * fake, fake)):
            save_png(folder / sub / f"{i:03d}.png", img)


@pytest.fixture(scope="module")
def forensynths(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forensynths")
    _write_class(root / "train" / "cat", 8, 0)
    _write_class(root / "train" / "car", 8, 1)
    _write_class(root / "val" / "cat", 4, 2)
    _write_class(root / "test" / "progan" / "cat", 4, 3)  # per-class generator
    _write_class(root / "test" / "crn", 4, 4)  # flat generator
    return root


@pytest.fixture(scope="module")
def run_dir(forensynths: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(["train", str(forensynths), "--out", str(out), *TRAIN_ARGS]) == 0
    return out


def test_train_writes_a_loadable_run_folder(run_dir: Path) -> None:
    meta = json.loads((run_dir / "detector.json").read_text())
    assert meta["backbone"] == "resnet18" and meta["afr"] is True
    for name in ("model.safetensors", "afr.safetensors", "metrics.csv", "train_config.json", "checkpoints/last.json"):
        assert (run_dir / name).exists(), name
    assert "val_ap" in (run_dir / "metrics.csv").read_text().splitlines()[0]


def test_eval_writes_tables_and_sweeps(run_dir: Path, forensynths: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval"
    assert main(["eval", str(run_dir), str(forensynths), "--out", str(out), "--scales", "1,0.5", "--jpeg", "75",
                 "--device", "cpu", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "progan" in text and "crn" in text and "mean" in text
    rows = json.loads((out / "metrics.json").read_text())
    assert [r["group"] for r in rows] == ["crn", "progan", "mean"]
    assert rows[0]["n_real"] == 4 and rows[0]["n_fake"] == 4
    for name in ("metrics.md", "metrics.csv", "pr_curves.png", "multiscale.md", "sweep_jpeg.md"):
        assert (out / name).is_file(), name


def test_detect_json_reports_each_file(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = make_images(1, 40, 9, fake=False)[0]
    save_png(tmp_path / "a.png", img)
    (tmp_path / "b.jpg").write_bytes(b"broken")
    # One unreadable input: every file still reported, exit status 1.
    assert main(["detect", str(run_dir), str(tmp_path), "--json", "--device", "cpu"]) == 1
    printed = json.loads(capsys.readouterr().out)
    results = {Path(r["path"]).name: r for r in printed["results"]}
    assert 0.0 <= results["a.png"]["probability"] <= 1.0 and results["a.png"]["error"] is None
    assert results["b.jpg"]["probability"] is None and results["b.jpg"]["error"]
    generated = int(results["a.png"]["generated"])
    assert printed["summary"] == {"scored": 1, "generated": generated, "failed": 1}
    assert main(["detect", str(run_dir), str(tmp_path / "a.png"), "--device", "cpu"]) == 0
    assert main(["detect", str(run_dir), str(tmp_path / "b.jpg"), "--device", "cpu"]) == 1


def test_explain_writes_a_cam_grid(run_dir: Path, forensynths: Path, tmp_path: Path) -> None:
    out = tmp_path / "cam.png"
    folder = forensynths / "test" / "crn" / "1_fake"
    assert main(["explain", str(run_dir), str(folder), "--out", str(out), "--size", "64", "--device", "cpu"]) == 0
    from PIL import Image

    assert Image.open(out).size[0] > 100


@pytest.mark.slow
def test_ablate_produces_the_four_variants(forensynths: Path, tmp_path: Path) -> None:
    msr = tmp_path / "msr" / "s0032"  # the layout `hrr regenerate` writes
    rng = np.random.default_rng(0)
    for i, img in enumerate(make_images(6, 32, 11, fake=False)):
        save_png(msr / "real" / f"{i}.png", img)
        save_png(msr / "regen" / f"{i}.png", np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1).astype(np.float32))
    out = tmp_path / "ablation"
    args = ["ablate", str(forensynths), "--msr", str(tmp_path / "msr"), "--test", str(forensynths / "test"),
            "--out", str(out), *TRAIN_ARGS]
    args[args.index("--epochs") + 1] = "1"
    assert main(args) == 0
    text = (out / "ablation.md").read_text()
    for variant in ("baseline", "w/o AFR", "w/o MSR", "HRR"):
        assert variant in text
