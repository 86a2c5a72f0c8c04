"""``hrr detect`` / ``hrr explain`` / ``hrr eval`` as scripts use them: argument order, summary, exit codes, and one
probability per file and detector across the three commands and the library calls."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _detect_data import make_images
from PIL import Image
from skimage import data as skdata

from hrr._images import load_image, save_png
from hrr.afr import CorrentropySAM
from hrr.cli import main
from hrr.data import scan_dataset
from hrr.detect import Detector, HRRDetector, evaluate

pytestmark = pytest.mark.usefixtures("one_thread")

MAX_SIDE = 48  # smaller than the test image, so the detector's center crop matters


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with AFR, built directly (no training): random resnet18 + CorrentropySAM on its features."""
    torch.manual_seed(0)
    det = HRRDetector(Detector("resnet18"), device="cpu", max_side=MAX_SIDE)
    images = make_images(20, 48, 0, fake=False) + make_images(20, 48, 1, fake=True)
    labels = np.array([0] * 20 + [1] * 20)
    # lam=0.7: AFR probabilities away from 0 and 1 on new images, so a wrong path shows in the 4th decimal
    det.refiner = CorrentropySAM(lam=0.7, max_iter=20).fit(det.features(images), labels)
    out = tmp_path_factory.mktemp("run")
    det.save(out)
    assert json.loads((out / "detector.json").read_text())["afr"] is True
    return out


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 56x64 JPEG crop of scikit-image's astronaut (larger than MAX_SIDE, not square)."""
    path = tmp_path_factory.mktemp("img") / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()[100:156, 180:244]).save(path, quality=90)
    return path


def _lines(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.strip().splitlines()]


def test_detect_explain_eval_and_library_agree(run_dir: Path, astronaut: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    det = HRRDetector.load(run_dir, device="cpu")
    assert det.refiner is not None and det.max_side == MAX_SIDE
    image = load_image(astronaut)
    assert image.shape[:2] == (56, 64)
    prob = float(det.predict_proba(image)[0])
    assert 0.01 < prob < 0.99  # not saturated: the comparisons below to 4 decimals mean something
    # The library: arrays, tensors, files and the evaluation loop all give exactly the same number.
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
    assert float(det.predict_proba(tensor)[0]) == prob
    assert det.predict_paths([astronaut], progress=False)[0].probability == prob
    data = tmp_path / "data"
    (data / "fake").mkdir(parents=True)
    astronaut_copy = data / "fake" / astronaut.name
    astronaut_copy.write_bytes(astronaut.read_bytes())
    save_png(data / "real" / "r.png", make_images(1, 40, 3, fake=False)[0])  # another size: a batch of its own
    result = evaluate(det.predict_proba, scan_dataset(data), progress=False)
    assert result.probs[result.paths.index(str(astronaut_copy))] == prob
    # The preprocessing matters here: without the crop the probability is another one.
    uncropped = HRRDetector(det.model, det.refiner, device="cpu")
    assert abs(float(uncropped.predict_proba(image)[0]) - prob) > 1e-3

    assert main(["detect", str(run_dir), str(astronaut), "--device", "cpu", "--quiet"]) == 0
    detect_row = _lines(capsys.readouterr().out)[0]
    assert detect_row[:2] == [str(astronaut), f"{prob:.4f}"]
    assert main(["detect", str(run_dir), str(astronaut), "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["probability"] == prob

    cam = tmp_path / "cam.png"
    assert main(["explain", str(run_dir), str(astronaut), "--out", str(cam), "--size", "32", "--device", "cpu"]) == 0
    explain_lines = _lines(capsys.readouterr().out)
    assert explain_lines[0] == detect_row
    assert explain_lines[-1][0].startswith("CAM grid written to") and cam.stat().st_size > 1000

    assert main(["eval", str(run_dir), str(data), "--out", str(tmp_path / "eval"), "--device", "cpu", "--quiet"]) == 0
    capsys.readouterr()
    with open(tmp_path / "eval" / "predictions.csv", newline="") as fh:
        rows = {Path(r["path"]).name: float(r["prob"]) for r in csv.DictReader(fh)}
    assert f"{rows['astronaut.jpg']:.4f}" == detect_row[1]


def test_predict_paths_keeps_the_argument_order(run_dir: Path, tmp_path: Path) -> None:
    det = HRRDetector.load(run_dir, device="cpu")
    folder = tmp_path / "folder"
    for name in ("b.png", "a.png", "sub/c.png"):
        save_png(folder / name, make_images(1, 40, 4, fake=False)[0])
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "empty").mkdir()
    single = tmp_path / "single.png"
    save_png(single, make_images(1, 40, 5, fake=True)[0])
    missing = tmp_path / "missing.png"
    results = det.predict_paths([missing, folder, single, tmp_path / "empty"], progress=False)
    assert [r.path for r in results] == [str(missing), *(str(folder / n) for n in ("a.png", "b.png", "broken.jpg",
                                                                                    "sub/c.png")),
                                         str(single), str(tmp_path / "empty")]
    assert [r.error is None for r in results] == [False, True, True, False, True, True, False]
    assert results[0].error == "file not found" and results[-1].error == "folder holds no image files"


def test_detect_prints_in_order_with_a_summary_and_exit_codes(run_dir: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "folder"
    save_png(folder / "b.png", make_images(1, 40, 6, fake=True)[0])
    save_png(folder / "a.png", make_images(1, 40, 7, fake=False)[0])
    (folder / "c.jpg").write_bytes(b"broken")
    single = tmp_path / "single.png"
    save_png(single, make_images(1, 40, 8, fake=False)[0])
    missing = tmp_path / "missing.png"
    run = ["detect", str(run_dir), "--device", "cpu", "--quiet"]

    assert main([*run, str(single), str(missing), str(folder)]) == 1
    lines = _lines(capsys.readouterr().out)
    assert [row[0] for row in lines[:-1]] == [str(single), str(missing), str(folder / "a.png"),
                                              str(folder / "b.png"), str(folder / "c.jpg")]
    assert lines[1] == [str(missing), "ERROR", "file not found"] and lines[4][1] == "ERROR"
    scored = [row for row in lines[:-1] if row[1] != "ERROR"]
    generated = sum(row[2] == "generated" for row in scored)
    assert lines[-1] == [f"summary: 3 scored, {generated} generated, 2 failed"]

    assert main([*run, str(folder / "b.png"), str(single), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]).name for r in printed["results"]] == ["b.png", "single.png"]
    generated = sum(r["generated"] for r in printed["results"])
    assert printed["summary"] == {"scored": 2, "generated": generated, "failed": 0}

    # Usage errors: exit 2, one line on stderr, nothing on stdout.
    assert main(["detect", str(tmp_path), str(single), "--device", "cpu"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"hrr detect: error: {tmp_path} is not an hrr run folder: detector.json is missing "
                                 "(give the --out folder of a finished `hrr train`)\n")
    assert main([*run, str(single), "--threshold", "1.5"]) == 2
    assert capsys.readouterr().err == "hrr detect: error: threshold must be in (0, 1); got 1.5\n"


def test_explain_reports_unreadable_images(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.png"
    save_png(good, make_images(1, 40, 9, fake=False)[0])
    (tmp_path / "bad.png").write_bytes(b"nope")
    out = tmp_path / "cam.png"
    args = ["explain", str(run_dir), "--out", str(out), "--device", "cpu"]
    assert main([*args, str(tmp_path / "bad.png"), str(good)]) == 1
    lines = _lines(capsys.readouterr().out)
    assert lines[0][:2] == [str(tmp_path / "bad.png"), "ERROR"] and lines[1][0] == str(good)
    assert "(1 unreadable skipped)" in lines[-1][0] and out.is_file()
    out.unlink()
    assert main([*args, str(tmp_path / "bad.png")]) == 1
    assert "no image could be read; nothing written" in capsys.readouterr().err and not out.exists()
