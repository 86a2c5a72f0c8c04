"""Calibrated probabilities of the detector: Platt scaling on held-out scores, ECE / Brier, the reliability
diagram, the run folder's calibration.json, and a detector at chance answering ~1/2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _detect_data import TinyBackbone, write_realfake
from hypothesis import given, settings
from hypothesis import strategies as st

from hrr import HRRDetector, TrainConfig, fit_hrr
from hrr.data import Sample, scan_dataset
from hrr.detect import Detector, PlattScaling, calibration_metrics, evaluate, plot_reliability

FAST = {"batch_size": 8, "crop_size": 32, "blur_prob": 0.0, "jpeg_prob": 0.0, "lr": 1e-2}


def _logistic_data(a: float, b: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=n)
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-(a * scores + b)))).astype(int)
    return scores, labels


@settings(max_examples=15, deadline=None)
@given(a=st.floats(0.5, 4.0), b=st.floats(-1.0, 1.0), seed=st.integers(0, 1000))
def test_platt_recovers_a_known_logistic_map(a: float, b: float, seed: int) -> None:
    scores, labels = _logistic_data(a, b, 20000, seed)
    cal = PlattScaling().fit(scores, labels)
    # the maximum-likelihood estimate at n = 20000: a few standard errors is well under 0.15
    assert abs(cal.slope_ - a) < 0.15 * max(1.0, a) and abs(cal.intercept_ - b) < 0.15
    grid = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(cal.transform(grid), 1 / (1 + np.exp(-(a * grid + b))), atol=0.04)


def test_platt_at_chance_answers_the_base_rate_and_keeps_the_ranking() -> None:
    rng = np.random.default_rng(0)
    scores = 40.0 * rng.normal(size=2000)  # a network's huge, meaningless logits
    labels = rng.integers(0, 2, 2000)
    prob = PlattScaling().fit(scores, labels).transform(scores)
    assert np.all(np.abs(prob - labels.mean()) < 0.03)  # no certainties
    assert np.array_equal(np.argsort(prob, kind="stable"), np.argsort(scores, kind="stable"))


def test_platt_on_separable_scores_stays_short_of_certainty() -> None:
    scores = np.r_[-np.full(50, 30.0), np.full(50, 30.0)]
    labels = np.r_[np.zeros(50), np.ones(50)].astype(int)
    prob = PlattScaling().fit(scores, labels).transform(scores)
    # Platt's smoothed targets: 1 / (50 + 2) and 51 / 52
    np.testing.assert_allclose(prob, np.r_[np.full(50, 1 / 52), np.full(50, 51 / 52)], atol=1e-6)


def test_platt_round_trips_and_refuses_bad_input() -> None:
    scores, labels = _logistic_data(1.5, 0.2, 500, 1)
    cal = PlattScaling().fit(scores, labels)
    again = PlattScaling.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(again.transform(scores), cal.transform(scores))
    with pytest.raises(ValueError, match="equal length"):
        PlattScaling().fit(scores, labels[:-1])
    with pytest.raises(ValueError, match="real and generated"):
        PlattScaling().fit(scores, np.ones_like(labels))
    with pytest.raises(ValueError, match="0 \\(real\\) or 1"):
        PlattScaling().fit(scores, labels * 2)
    with pytest.raises(ValueError, match="finite"):
        PlattScaling().fit(np.r_[scores[:-1], np.nan], labels)
    with pytest.raises(RuntimeError, match="not fitted"):
        PlattScaling().transform(scores)
    with pytest.raises(ValueError, match="method 'platt'"):
        PlattScaling.from_dict({"method": "isotonic"})
    with pytest.raises(ValueError, match="slope must be finite and > 0"):
        PlattScaling.from_dict({"method": "platt", "slope": -1, "intercept": 0, "n_samples": 3})


def test_calibration_metrics_known_values_and_plot(tmp_path: Path) -> None:
    m = calibration_metrics([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert m == {"ece": 0.0, "brier": 0.25, "mean_prob": 0.5}
    m = calibration_metrics([0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0])
    assert m["ece"] == 0.0 and m["brier"] == 0.0
    m = calibration_metrics([0, 0, 1, 1], [1.0, 1.0, 0.0, 0.0])  # certain and always wrong
    assert m["ece"] == 1.0 and m["brier"] == 1.0
    rng = np.random.default_rng(0)
    p = rng.random(50000)
    assert calibration_metrics((rng.random(50000) < p).astype(int), p)["ece"] < 0.01
    assert abs(calibration_metrics(np.zeros(4, int), np.full(4, 0.3))["ece"] - 0.3) < 1e-12
    with pytest.raises(ValueError, match="n_bins"):
        calibration_metrics([0, 1], [0.2, 0.8], n_bins=0)
    path = plot_reliability((rng.random(500) < p[:500]).astype(int), p[:500], tmp_path / "rel.png")
    assert path.stat().st_size > 1000


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Sample]]:
    root = tmp_path_factory.mktemp("task")
    write_realfake(root / "train", n=24, seed=0)
    write_realfake(root / "val", n=24, seed=50)
    return {"train": scan_dataset(root / "train"), "val": scan_dataset(root / "val")}


def _shuffled_labels(samples: list[Sample], seed: int) -> list[Sample]:
    """The same images with labels drawn at random: nothing to learn, so any detector is at chance."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation([s.label for s in samples])
    return [Sample(s.path, int(y), s.group) for s, y in zip(samples, labels, strict=True)]


def test_fit_hrr_calibrates_both_heads_on_the_validation_split(task: dict, tmp_path: Path) -> None:
    torch.manual_seed(0)
    det, _ = fit_hrr(task["train"], tmp_path / "run", val_samples=task["val"], backbone=TinyBackbone(),
                     config=TrainConfig(epochs=4, **FAST), afr_params={"lam": 0.01, "max_iter": 20}, device="cpu",
                     progress=False)
    maps = json.loads((tmp_path / "run" / "calibration.json").read_text())
    assert set(maps) == {"linear", "afr"} and det.calibration is not None
    assert det.calibration.to_dict() == maps["afr"]
    reloaded = HRRDetector.load(tmp_path / "run", backbone=TinyBackbone(), device="cpu")
    head_only = HRRDetector.load(tmp_path / "run", backbone=TinyBackbone(), device="cpu", use_afr=False)
    assert head_only.calibration is not None and head_only.calibration.to_dict() == maps["linear"]
    images = torch.rand(5, 3, 32, 32)
    np.testing.assert_allclose(reloaded.predict_proba(images), det.predict_proba(images), atol=1e-6)
    # the probability is exactly the Platt map of the active head's score
    logits, feats = det.model.forward_with_features(images)
    expected = det.calibration.transform(det.refiner.decision_function(feats.detach().numpy()))
    np.testing.assert_allclose(det.predict_proba(images), expected, atol=1e-6)
    np.testing.assert_allclose(head_only.predict_proba(images),
                               head_only.calibration.transform(logits.detach().numpy()), atol=1e-6)
    result = evaluate(reloaded.predict_proba, task["val"], progress=False)
    written = result.save(tmp_path / "eval")
    assert written["reliability"].is_file()
    assert "ECE" in (tmp_path / "eval" / "metrics.md").read_text()


def test_a_detector_at_chance_answers_about_one_half(task: dict, tmp_path: Path) -> None:
    """Random labels: nothing to learn; calibrated on held-out images the detector must answer near 1/2, on new
    images and on its own training images alike."""
    torch.manual_seed(0)
    train, val = _shuffled_labels(task["train"], 1), _shuffled_labels(task["val"], 2)
    det, _ = fit_hrr(train, tmp_path / "run", val_samples=val, backbone=TinyBackbone(),
                     config=TrainConfig(epochs=8, **{**FAST, "lr": 3e-2}), afr=False, device="cpu", progress=False)
    for samples in (val, train):
        result = evaluate(det.predict_proba, samples, progress=False)
        # 48 held-out images leave a chance correlation to fit, so not exactly 1/2 -- but never a certainty
        assert np.all(np.abs(result.probs - 0.5) < 0.3) and abs(result.probs.mean() - 0.5) < 0.1, result.probs
    assert np.all(np.abs(det.predict_proba(torch.rand(16, 3, 32, 32)) - 0.5) < 0.3)


def test_without_validation_images_the_linear_head_warns(task: dict, tmp_path: Path) -> None:
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="not calibrated"):
        det, _ = fit_hrr(task["train"], tmp_path / "run", backbone=TinyBackbone(),
                         config=TrainConfig(epochs=1, **FAST), afr=False, device="cpu", progress=False)
    assert det.calibration is None and not (tmp_path / "run" / "calibration.json").exists()


def test_detector_refuses_a_calibration_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match=r"calibration must be a fitted hrr\.detect\.PlattScaling"):
        HRRDetector(Detector(TinyBackbone()), calibration={"slope": 1.0}, device="cpu")  # type: ignore[arg-type]


def test_one_class_and_malformed_inputs(tmp_path: Path) -> None:
    # a real-only (or fake-only) folder still gets its reliability curve and an ECE that agrees with it
    assert calibration_metrics([1, 1], [0.2, 0.8])["ece"] == pytest.approx(0.5)
    assert plot_reliability([1, 1], [0.2, 0.8], tmp_path / "one.png").stat().st_size > 1000
    cal = PlattScaling().fit([0.0, 1.0, 2.0, 3.0], [0, 0, 1, 1])
    assert cal.transform(0.5).shape == (1,)
    with pytest.raises(ValueError, match=r"1-D arrays \(n,\); got shapes \(2, 2\) and \(2,\)"):
        PlattScaling().fit([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    with pytest.raises(ValueError, match="scores must be finite; got 2 NaN or infinite"):
        cal.transform([0.0, np.nan, np.inf])
    with pytest.raises(ValueError, match=r"1-D array \(n,\); got shape \(1, 2\)"):
        cal.transform([[0.0, 1.0]])
