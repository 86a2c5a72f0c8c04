"""evaluate / multiscale_table / robustness_sweep with a transparent predict_fn (mean brightness)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import accuracy_score, average_precision_score

from hrr.data import Sample, TestTransform, scan_dataset
from hrr.detect import EvalResult, evaluate, multiscale_table, robustness_sweep

SIZES = [(16, 16), (20, 24), (24, 20)]


def _write(path: Path, size: tuple[int, int], level: float, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = np.clip(level + 0.1 * rng.standard_normal((*size, 3)), 0, 1)
    Image.fromarray(np.rint(arr * 255).astype(np.uint8)).save(path)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Two generators, real images darker than fakes on average but overlapping; three image sizes."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    k = 0
    for gen, shift in (("ganA", 0.25), ("ganB", 0.05)):
        for label, folder in ((0, "real"), (1, "fake")):
            for i in range(9):
                level = 0.35 + shift * label + 0.2 * rng.random()
                _write(root / gen / folder / f"{i}.png", SIZES[i % 3], level, k)
                k += 1
    (root / "ganB" / "fake" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "ganA" / "real" / "empty.png").write_bytes(b"")
    return root


def brightness(images: torch.Tensor) -> np.ndarray:
    assert images.dtype == torch.float32 and images.ndim == 4 and images.shape[1] == 3
    return images.mean(dim=(1, 2, 3)).numpy()


def test_evaluate_matches_sklearn_and_reports_bad_files(dataset: Path) -> None:
    samples = scan_dataset(dataset)
    seen_shapes: list[tuple[int, ...]] = []

    def predict(images: torch.Tensor) -> np.ndarray:
        seen_shapes.append(tuple(images.shape[2:]))
        return brightness(images)

    result = evaluate(predict, samples, batch_size=4, progress=False)
    assert {Path(p).name for p, _ in result.failures} == {"broken.png", "empty.png"}
    assert len(result) == len(samples) - 2 == 36
    assert set(seen_shapes) == set(SIZES)  # no crop, no resize
    # independent computation: decode each file with PIL and average it
    ref_p, ref_y, ref_g = [], [], []
    for s in samples:
        if s.path.name in ("broken.png", "empty.png"):
            continue
        ref_p.append(np.asarray(Image.open(s.path), dtype=np.float64).mean() / 255.0)
        ref_y.append(s.label)
        ref_g.append(s.group)
    ref_p, ref_y, ref_g = np.asarray(ref_p), np.asarray(ref_y), np.asarray(ref_g)
    np.testing.assert_allclose(result.probs, ref_p, atol=1e-5)
    assert result.labels.tolist() == ref_y.tolist() and result.groups == ref_g.tolist()
    rows = result.table()
    assert [r["group"] for r in rows] == ["ganA", "ganB", "mean"]
    for r in rows[:2]:
        m = ref_g == r["group"]
        assert r["acc"] == pytest.approx(accuracy_score(ref_y[m], ref_p[m] > 0.5))
        assert r["ap"] == pytest.approx(average_precision_score(ref_y[m], ref_p[m]))
    assert rows[2]["ap"] == pytest.approx((rows[0]["ap"] + rows[1]["ap"]) / 2)
    assert rows[0]["ap"] > 0.5 and rows[1]["ap"] < rows[0]["ap"]  # the larger shift separates better
    workers = evaluate(brightness, samples, batch_size=5, num_workers=2, progress=False)
    np.testing.assert_allclose(workers.probs, result.probs, atol=1e-6)
    assert workers.failures == result.failures


def test_evaluate_with_transform_and_save(dataset: Path, tmp_path: Path) -> None:
    samples = scan_dataset(dataset)
    shapes: set[tuple[int, ...]] = set()

    def predict(images: torch.Tensor) -> torch.Tensor:
        shapes.add(tuple(images.shape[2:]))
        return torch.from_numpy(brightness(images))[:, None]  # (B, 1) tensors are accepted

    result = evaluate(predict, samples, transform=TestTransform(scale=0.5), progress=False)
    assert shapes == {(8, 8), (10, 12), (12, 10)}
    assert result.setting == "scale=0.5" and result.setting_in_words == "downscaled to 0.5x"  # the PR plot's title
    written = result.save(tmp_path / "out", prefix="half_")
    assert {p.name for p in written.values()} == {
        "half_metrics.md",
        "half_metrics.csv",
        "half_metrics.json",
        "half_predictions.csv",
        "half_failures.csv",
        "half_pr_curves.png",
        "half_reliability.png",
    }
    data = json.loads(written["json"].read_text())
    assert [d["group"] for d in data] == ["ganA", "ganB", "mean"]
    assert data[0]["acc"] == pytest.approx(result.table()[0]["acc"])
    assert "| ganA |" in written["markdown"].read_text()
    assert "broken.png" in written["failures"].read_text()
    crop = evaluate(brightness, samples, transform=TestTransform(center_crop=12), batch_size=64, progress=False)
    assert len(crop) == 36


def test_multiscale_table(dataset: Path) -> None:
    samples = [s for s in scan_dataset(dataset) if s.path.name not in ("broken.png", "empty.png")]
    sweep = multiscale_table(brightness, samples, sizes=(32, 8), progress=False)
    assert sweep.kind == "size" and sweep.values == [32, 8]
    rows = sweep.table()
    assert [r["size"] for r in rows] == ["32x32", "8x8"]
    assert list(rows[0]) == ["size", "ganA/acc", "ganA/ap", "ganB/acc", "ganB/ap", "mean/acc", "mean/ap"]
    direct = evaluate(brightness, samples, transform=TestTransform(size=8), progress=False).table()
    assert rows[1]["ganB/acc"] == pytest.approx(direct[1]["acc"])
    assert rows[1]["mean/ap"] == pytest.approx(direct[2]["ap"])
    md = sweep.to_markdown("acc").splitlines()
    assert md[0] == "| size | ganA/acc | ganB/acc | mean/acc | mean/ap |"
    by_scale = multiscale_table(brightness, samples, scales=(1.0, 0.5), progress=False)
    assert [r["scale"] for r in by_scale.table()] == ["1", "0.5"]
    with pytest.raises(ValueError, match="scales is empty"):
        multiscale_table(brightness, samples, scales=())


def test_robustness_sweep(dataset: Path, tmp_path: Path) -> None:
    samples = [s for s in scan_dataset(dataset) if s.group == "ganA"]
    sweep = robustness_sweep(brightness, samples, "jpeg", [None, 90, 30], progress=False)
    assert [r["jpeg"] for r in sweep.table()] == ["none", "90", "30"]
    assert [r.setting for r in sweep.results] == ["identity", "jpeg=90", "jpeg=30"]
    # mean brightness barely moves under JPEG: the accuracy column stays close to the clean one
    assert abs(sweep.table()[1]["ganA/acc"] - sweep.table()[0]["ganA/acc"]) <= 0.2
    written = sweep.save(tmp_path / "sweeps")
    assert "jpeg sweep: accuracy" in written["markdown"].read_text()
    assert "empty.png" in written["failures"].read_text()
    blur = robustness_sweep(brightness, samples, "blur", [0.0, 2.0], progress=False)
    assert len(blur.results) == 2
    with pytest.raises(ValueError, match="kind must be one of"):
        robustness_sweep(brightness, samples, "noise", [0.1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"jpeg_quality must be an integer in 1..100"):
        robustness_sweep(brightness, samples, "jpeg", [101])


def test_evaluate_argument_and_output_errors(dataset: Path) -> None:
    samples = scan_dataset(dataset)
    with pytest.raises(ValueError, match=r"one probability of 'generated' per image, shape \(\d+,\)"):
        evaluate(lambda x: np.zeros((x.shape[0], 2)), samples, progress=False)
    with pytest.raises(ValueError, match=r"apply torch\.sigmoid"):
        evaluate(lambda x: np.full(x.shape[0], 3.0), samples, progress=False)
    with pytest.raises(TypeError, match="predict_fn must be callable"):
        evaluate("model", samples)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="samples is empty"):
        evaluate(brightness, [])
    with pytest.raises(TypeError, match="TestTransform"):
        evaluate(brightness, samples, transform=lambda im, rng: im)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        evaluate(brightness, samples, batch_size=0)
    bad_only = [Sample(dataset / "ganA" / "real" / "empty.png", 0, "ganA")]
    result = evaluate(brightness, bad_only, progress=False)
    assert isinstance(result, EvalResult) and len(result) == 0 and len(result.failures) == 1
    with pytest.raises(ValueError, match="no image could be evaluated"):
        result.table()


def test_scale_one_of_a_sweep_is_the_plain_evaluation(dataset: Path) -> None:
    # The demo benchmark reuses the sweep's scale-1 result as its plain evaluation: the images must reach the
    # predictor unchanged, so every probability is the same, not only the metrics.
    samples = scan_dataset(dataset)
    plain = evaluate(brightness, samples, batch_size=4, progress=False)
    sweep = multiscale_table(brightness, samples, scales=(1.0, 0.5), batch_size=4, progress=False)
    at_one = sweep.results[0]
    assert at_one.paths == plain.paths and at_one.groups == plain.groups
    np.testing.assert_array_equal(at_one.probs, plain.probs)
    assert at_one.table() == plain.table()
    assert (at_one.setting, plain.setting) == ("scale=1", "identity")
