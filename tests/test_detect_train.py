"""Detector network, training loop (learning, exact resume, early stopping), AFR stage and run folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _detect_data import TinyBackbone, make_images, write_realfake
from PIL import Image
from sklearn.metrics import average_precision_score

from hrr import HRRDetector, TrainConfig, fit_hrr
from hrr.data import TestTransform, scan_dataset
from hrr.detect import Detector, extract_features, train_detector
from hrr.detect._kl import HRRLoss

FAST = {"batch_size": 8, "crop_size": 32, "blur_prob": 0.0, "jpeg_prob": 0.0, "lr": 1e-2}


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    root = tmp_path_factory.mktemp("task")
    write_realfake(root / "train", n=24, seed=0)
    write_realfake(root / "val", n=12, seed=50)
    return {"train": scan_dataset(root / "train"), "val": scan_dataset(root / "val")}


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _model(seed: int = 0) -> Detector:
    torch.manual_seed(seed)
    return Detector(TinyBackbone())


def test_detector_backbones_and_shapes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    det = Detector("resnet18")
    logits, feats = det.forward_with_features(torch.rand(2, 3, 48, 48))
    assert logits.shape == (2,) and feats.shape == (2, 512) and det.feature_dim == 512
    custom = Detector(TinyBackbone())
    assert custom.feature_dim == 16 and custom(torch.rand(3, 3, 20, 20)).shape == (3,)
    # Local torchvision weights (never downloaded): a saved resnet18 state dict reloads exactly.
    import torchvision
    from safetensors.torch import save_file

    full = torchvision.models.resnet18(weights=None)
    save_file(full.state_dict(), str(tmp_path / "r18.safetensors"))
    loaded = Detector("resnet18", weights=tmp_path / "r18.safetensors")
    assert torch.equal(loaded.backbone.conv1.weight, full.conv1.weight)
    torch.save(full.state_dict(), tmp_path / "r18.pth")
    assert torch.equal(Detector("resnet18", weights=tmp_path / "r18.pth").backbone.conv1.weight, full.conv1.weight)


def test_detector_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="torchvision classification model name"):
        Detector("resnet5000")
    with pytest.raises(TypeError, match="backbone must be"):
        Detector(42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        Detector("resnet18", weights=tmp_path / "missing.safetensors")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="do not match torchvision"):
        Detector("resnet18", weights=tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="images must be a float torch tensor of shape"):
        Detector(TinyBackbone())(torch.rand(2, 3, 8, 8) * 255)


def test_training_beats_chance_and_writes_the_run_folder(task: dict, tmp_path: Path) -> None:
    model = _model()
    result = train_detector(model, task["train"], tmp_path, val_samples=task["val"],
                            config=TrainConfig(epochs=6, **FAST), device="cpu", progress=False)
    assert result.epochs_run == 6 and result.best_val_ap is not None
    assert result.best_val_ap > 0.9, result.history
    assert {"epoch", "loss", "ce", "kl", "val_ap", "val_acc"} <= set(result.history[0])
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(lines) == 7 and lines[0].startswith("epoch")
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "train_config.json").is_file()
    assert len(list((tmp_path / "checkpoints").glob("epoch-*"))) == 2  # keep_checkpoints
    # The val AP written is what sklearn computes for the best weights.
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    feats_probs = HRRDetector(model, device="cpu").predict_proba(
        torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in _load(task["val"])]))
    labels = np.array([s.label for s in task["val"]])
    assert average_precision_score(labels, feats_probs) == pytest.approx(result.best_val_ap, abs=1e-6)


def _load(samples: list) -> list[np.ndarray]:
    return [np.asarray(Image.open(s.path).convert("RGB"), np.float32) / 255.0 for s in samples]


def test_resume_after_interruption_gives_identical_weights(task: dict, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrainConfig(epochs=3, **FAST)
    model_a = _model(1)
    train_detector(model_a, task["train"], tmp_path / "a", config=cfg, device="cpu", progress=False)

    calls = {"n": 0}
    original = HRRLoss.forward

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:  # mid-way through epoch 2 (6 batches per epoch)
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HRRLoss, "forward", flaky)
    model_b = _model(1)
    with pytest.raises(KeyboardInterrupt):
        train_detector(model_b, task["train"], tmp_path / "b", config=cfg, device="cpu", progress=False)
    monkeypatch.setattr(HRRLoss, "forward", original)
    assert json.loads((tmp_path / "b" / "checkpoints" / "last.json").read_text())["epoch"] == 0
    model_c = _model(99)  # different init: everything must come from the checkpoint
    result = train_detector(model_c, task["train"], tmp_path / "b", config=cfg, device="cpu", progress=False)
    assert result.epochs_run == 3
    for key, value in _state(model_a).items():
        assert torch.equal(value, model_c.state_dict()[key]), key


def test_resume_refuses_a_different_config(task: dict, tmp_path: Path) -> None:
    train_detector(_model(), task["train"], tmp_path, config=TrainConfig(epochs=1, **FAST), device="cpu",
                   progress=False)
    with pytest.raises(ValueError, match=r"other settings \(lr: 0\.01 -> 0\.001\).*--no-resume"):
        train_detector(_model(), task["train"], tmp_path, config=TrainConfig(epochs=2, **{**FAST, "lr": 1e-3}),
                       device="cpu", progress=False)


def test_early_stopping_stops(task: dict, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=8, patience=0, min_delta=1.0, **FAST)  # no epoch can improve AP by 1.0
    result = train_detector(_model(), task["train"], tmp_path, val_samples=task["val"], config=cfg, device="cpu",
                            progress=False)
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1


def test_bad_training_files_are_skipped_and_reported(task: dict, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_realfake(data, n=8)
    (data / "fake" / "broken.png").write_bytes(b"\x89PNG not really")
    (data / "real" / "empty.png").write_bytes(b"")
    result = train_detector(_model(), scan_dataset(data), tmp_path / "run", config=TrainConfig(epochs=1, **FAST),
                            device="cpu", progress=False)
    reported = dict(result.failures)
    assert set(Path(p).name for p in reported) == {"broken.png", "empty.png"}
    assert json.loads((tmp_path / "run" / "failures.json").read_text())


def test_training_input_errors(tmp_path: Path, task: dict) -> None:
    only_real = [s for s in task["train"] if s.label == 0]
    with pytest.raises(ValueError, match="must hold real"):
        train_detector(_model(), only_real, tmp_path, config=TrainConfig(epochs=1, **FAST), progress=False)
    with pytest.raises(ValueError, match=r"TrainConfig\.batch_size must be a positive integer"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"TrainConfig\.amp must be one of"):
        TrainConfig(amp="fp8")


def test_bf16_autocast_training_runs(task: dict, tmp_path: Path) -> None:
    result = train_detector(_model(), task["train"][::3], tmp_path, config=TrainConfig(epochs=1, amp="bf16", **FAST),
                            device="cpu", progress=False)
    assert np.isfinite(result.history[0]["loss"])


def test_features_are_cached_and_reused(task: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    tf = TestTransform(center_crop=32)
    f1, y1, p1, _ = extract_features(model, task["train"], transform=tf, cache_dir=tmp_path, progress=False)
    assert f1.shape == (48, 16) and sorted(set(y1.tolist())) == [0, 1] and len(p1) == 48

    def boom(*args, **kwargs):
        raise AssertionError("features should come from the cache")

    monkeypatch.setattr(model, "forward_features", boom)
    f2, y2, p2, _ = extract_features(model, task["train"], transform=tf, cache_dir=tmp_path, progress=False)
    assert np.array_equal(f1, f2) and np.array_equal(y1, y2) and p1 == p2


def test_fit_hrr_end_to_end_reloads_and_predicts(task: dict, tmp_path: Path) -> None:
    torch.manual_seed(0)
    backbone = TinyBackbone()
    det, result = fit_hrr(task["train"], tmp_path / "run", val_samples=task["val"], backbone=backbone,
                          config=TrainConfig(epochs=6, **FAST), afr_params={"lam": 0.01, "max_iter": 20},
                          device="cpu", progress=False)
    assert det.refiner is not None and result.epochs_run == 6
    reloaded = HRRDetector.load(tmp_path / "run", backbone=TinyBackbone(), device="cpu")
    images = torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in _load(task["val"])])
    np.testing.assert_allclose(reloaded.predict_proba(images), det.predict_proba(images), atol=1e-6)
    labels = np.array([s.label for s in task["val"]])
    assert average_precision_score(labels, reloaded.predict_proba(images)) > 0.85
    with pytest.raises(ValueError, match="custom backbone"):
        HRRDetector.load(tmp_path / "run")


def test_predict_paths_gives_a_clear_result_per_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    det = HRRDetector(Detector(TinyBackbone()), device="cpu", max_side=64)
    good = make_images(1, 40, 0, fake=False)[0]
    Image.fromarray((good * 255).astype(np.uint8)).save(tmp_path / "ok.png")
    Image.fromarray((good * 255).astype(np.uint8)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray((good[..., 0] * 65535).astype(np.uint16)).save(tmp_path / "gray16.png")
    Image.fromarray(np.zeros((900, 700, 3), np.uint8)).save(tmp_path / "huge.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "tiny.png")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "notes.txt").write_text("not an image")
    results = {Path(r.path).name: r for r in det.predict_paths([tmp_path, tmp_path / "gone.png"], progress=False)}
    for name in ("ok.png", "cmyk.jpg", "gray16.png", "huge.png"):
        assert results[name].error is None and 0.0 <= results[name].probability <= 1.0, results[name]
    for name in ("tiny.png", "corrupt.jpg", "gone.png"):
        assert results[name].probability is None and results[name].error, results[name]
    assert "notes.txt" not in results


@pytest.mark.slow
def _run_ddp(root: Path, *args: int) -> dict:
    import subprocess
    import sys

    script = Path(__file__).with_name("_ddp_train_script.py")
    # --standalone: a local rendezvous on a free port (no fixed port to collide with other jobs)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(root), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_process_ddp_training_keeps_replicas_identical(tmp_path: Path) -> None:
    write_realfake(tmp_path / "train", n=8)
    write_realfake(tmp_path / "val", n=4, seed=5)
    report = _run_ddp(tmp_path)
    assert report == {"world": 2, "same": True, "epochs": 2, "failed": [], "steps": [2, 2]}
    assert (tmp_path / "run" / "model.safetensors").is_file()


@pytest.mark.parametrize("accumulate", [1, 2])
def test_ddp_ranks_agree_on_the_step_when_one_rank_draws_a_bad_file(tmp_path: Path, accumulate: int) -> None:
    # Batch size 1 and a 0-byte PNG: the rank that draws it has an empty batch. It used to skip the step alone
    # while the other rank waited in DDP's all-reduce forever (the subprocess timeout would fire).
    write_realfake(tmp_path / "train", n=3)
    (tmp_path / "train" / "fake" / "empty.png").write_bytes(b"")
    write_realfake(tmp_path / "val", n=2, seed=5)
    report = _run_ddp(tmp_path, 1, 2, accumulate)
    assert report["world"] == 2 and report["same"] and report["epochs"] == 2
    assert report["failed"] == ["empty.png"]  # reported by rank 0, whichever rank drew it
    # 7 files -> 4 batches per rank; the one with the bad file is skipped by both ranks (its step too, unless
    # it closes an accumulation window with gradients pending)
    assert report["steps"] == ([3, 3] if accumulate == 1 else [2, 2])


def test_one_decision_rule_from_training_log_to_evaluation(task: dict[str, list], tmp_path: Path) -> None:
    """A probability of exactly 0.5 is "real" in the training log's val_acc, in evaluate and in predict_paths
    (the log used ``prob >= 0.5`` while everything else used ``prob > threshold``)."""
    from hrr.detect import evaluate, is_generated

    model = _model()
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)  # every logit is 0: every probability is exactly 0.5

    def no_learning(logits: torch.Tensor, feats: torch.Tensor, labels: torch.Tensor) -> tuple:
        return (logits * 0.0).sum(), {"ce": 0.0, "kl": 0.0}  # zero gradients: Adam leaves the weights as they are

    reals = [s for s in task["val"] if s.label == 0]
    val = reals + [s for s in task["val"] if s.label == 1][:4]  # 12 real, 4 fake
    result = train_detector(model, task["train"], tmp_path / "run", val_samples=val, criterion=no_learning,
                            config=TrainConfig(epochs=1, **FAST), device="cpu", progress=False)
    assert result.history[0]["val_acc"] == len(reals) / len(val) == 0.75
    detector = HRRDetector(model, None, device="cpu")
    evaluated = evaluate(detector.predict_proba, val, transform=TestTransform(center_crop=32), progress=False)
    assert set(evaluated.probs.tolist()) == {0.5}
    assert evaluated.metrics()["acc"] == 0.75
    assert not any(r.generated for r in detector.predict_paths([s.path for s in val], progress=False))
    assert is_generated(0.5) is False and is_generated(0.5000001) is True


def test_small_cnn_runs_reload_without_passing_the_backbone(tmp_path: Path) -> None:
    """A demo run folder (SmallCNN) loads in `hrr detect`; another custom backbone's class is named in the error."""
    from hrr.detect import SmallCNN

    torch.manual_seed(0)
    det = HRRDetector(Detector(SmallCNN(width=4)), device="cpu")
    det.save(tmp_path / "small")
    meta = json.loads((tmp_path / "small" / "detector.json").read_text())
    assert meta["backbone_class"] == "hrr.detect.SmallCNN" and meta["backbone_config"] == {"width": 4}
    loaded = HRRDetector.load(tmp_path / "small", device="cpu")
    x = torch.rand(2, 3, 24, 24)
    np.testing.assert_array_equal(loaded.predict_proba(x), det.predict_proba(x))
    assert "SmallCNN" in repr(loaded) and "linear head" in repr(loaded)
    HRRDetector(Detector(TinyBackbone()), device="cpu").save(tmp_path / "tiny")
    with pytest.raises(ValueError, match=r"custom backbone \(_detect_data\.TinyBackbone\); pass an instance"):
        HRRDetector.load(tmp_path / "tiny", device="cpu")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HRRDetector.load(tmp_path / "nope", device="cpu")
