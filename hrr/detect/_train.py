"""Training loop of the HRR detector: ``L = L_ce + gamma * L_kl`` with Adam (Sec. III-C and IV-A of the paper).

One epoch = one deterministic permutation of the training samples (seeded by ``(seed, epoch)``); augmentation draws
come from ``(seed, epoch, index)``. Checkpoints are written at the end of every epoch, so resuming after an
interruption replays exactly the epochs that an uninterrupted run would have done.

The loop itself (accumulation, AMP, DDP, early stopping, progress) is the package's one skeleton,
:class:`hrr._training.TrainingLoop`; this module supplies the step, the data, the run folder and the hooks.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from hrr._distributed import Distributed
from hrr._grad import enables_grad, replace_inference_tensors
from hrr._io import atomic_path
from hrr._precision import amp_dtype, autocast
from hrr._training import (
    EarlyStopping,
    EpochStats,
    Precision,
    StepOutput,
    TrainingLoop,
    Updates,
    load_training_state,
    training_state,
)
from hrr.data import ImageDataset, Sample, TestTransform, TrainAugment, collate_skip_bad
from hrr.detect import _run_folder as layout
from hrr.detect._config import TrainConfig
from hrr.detect._kl import HRRLoss, KLSeparationLoss
from hrr.detect._metrics import is_generated
from hrr.detect._model import Detector

log = logging.getLogger(__name__)



@dataclasses.dataclass
class TrainResult:
    """What :func:`train_detector` leaves behind: the best epoch, the per-epoch history and skipped files."""

    best_epoch: int
    best_val_ap: float | None
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, float]]
    failures: list[tuple[str, str]]


class EpochPermutation(Sampler[int]):
    """A permutation of ``range(n)`` fixed by ``(seed, epoch)``, split contiguously across ``world_size`` ranks."""

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        per_rank = math.ceil(self.n / self.world_size)
        perm += perm[: per_rank * self.world_size - self.n]  # pad so every rank runs the same number of steps
        return perm[self.rank * per_rank:(self.rank + 1) * per_rank]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return math.ceil(self.n / self.world_size)


def _save_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True))


def _save_history_csv(path: Path, history: Sequence[dict[str, float]]) -> None:
    if not history:
        return
    keys = list(history[0])
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


def save_model_weights(model: nn.Module, path: Path) -> None:
    """Write a model's state dict as safetensors, atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def _write_checkpoint(run_dir: Path, epoch: int, model: nn.Module, training: dict[str, Any], state: dict[str, Any],
                      keep: int) -> None:
    """Write ``checkpoints/epoch-XXXX`` as a whole directory, then point ``last.json`` at it (both atomic).

    ``training`` is :func:`hrr._training.training_state` (optimizer, scaler, RNG), ``state`` goes to ``state.json``.
    """
    ckpt_root = layout.checkpoints_dir(run_dir)
    final = ckpt_root / layout.checkpoint_name(epoch)
    tmp = ckpt_root / f".tmp-epoch-{epoch:04d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model_weights(model, tmp / layout.WEIGHTS)
    torch.save(training, tmp / layout.CHECKPOINT_OPTIMIZER)
    _save_json(tmp / layout.CHECKPOINT_STATE, state)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _save_json(ckpt_root / layout.LAST_CHECKPOINT, {"epoch": epoch, "path": final.name})
    for old in sorted(ckpt_root.glob("epoch-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    pointer = layout.checkpoints_dir(run_dir) / layout.LAST_CHECKPOINT
    if not pointer.is_file():
        return None
    ckpt = layout.checkpoints_dir(run_dir) / json.loads(pointer.read_text())["path"]
    return ckpt, json.loads((ckpt / layout.CHECKPOINT_STATE).read_text())


def _resume_key(config: dict[str, Any]) -> dict[str, Any]:
    """Settings that may change between an interrupted run and its resumption (more epochs, other workers)."""
    return {k: v for k, v in config.items() if k not in ("epochs", "num_workers", "patience")}


def _class_counts(samples: Sequence[Sample]) -> tuple[int, int]:
    n_fake = sum(int(s.label) for s in samples)
    return len(samples) - n_fake, n_fake


@torch.no_grad()
def predict_loader_probs(model: nn.Module, loader: DataLoader, device: torch.device, amp: str,
                         progress: bool = False, desc: str = "predict") -> tuple[np.ndarray, np.ndarray, list]:
    """Sigmoid probabilities and labels of every readable item of a loader (bad files reported, not raised)."""
    was_training = model.training
    model.eval()
    ctx = autocast(device, amp_dtype(amp, device))
    probs, labels, failures = [], [], []
    try:
        for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
            failures.extend(batch.failures)
            if batch.images.shape[0] == 0:
                continue
            with ctx:
                logits = model(batch.images.to(device))
            probs.append(torch.sigmoid(logits.float()).cpu().numpy())
            labels.append(batch.labels.numpy())
    finally:
        model.train(was_training)
    if not probs:
        return np.zeros(0), np.zeros(0, dtype=int), failures
    return np.concatenate(probs), np.concatenate(labels).astype(int), failures


def _average_precision(labels: np.ndarray, probs: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if labels.size == 0 or labels.min() == labels.max():
        return float("nan")
    return float(average_precision_score(labels, probs))


class _Run:
    """What one :func:`train_detector` call carries across epochs and into checkpoints, and its loop hooks."""

    def __init__(self, model: nn.Module, config: TrainConfig, run_dir: Path, ddp: Distributed,
                 optimizer: torch.optim.Optimizer, precision: Precision, criterion: Callable[..., Any]) -> None:
        self.model, self.config, self.run_dir, self.ddp = model, config, run_dir, ddp
        self.optimizer, self.precision, self.criterion = optimizer, precision, criterion
        self.forward: Callable[[torch.Tensor], Any] = lambda images: model.forward_with_features(images)
        self.val_loader: DataLoader | None = None
        self.stopping = EarlyStopping(config.patience, config.min_delta, monitor="val_ap")
        self.history: list[dict[str, Any]] = []
        self.failures: dict[str, str] = {}

    def resume(self) -> int:
        """Load the last checkpoint of ``run_dir`` (refusing other settings); the epoch to continue from."""
        found = _load_checkpoint(self.run_dir)
        if found is None:
            return 0
        ckpt, state = found
        saved, wanted = _resume_key(state.get("config", {})), _resume_key(self.config.to_dict())
        if saved != wanted:
            changed = ", ".join(f"{k}: {saved.get(k)!r} -> {wanted.get(k)!r}"
                                for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k))
            raise ValueError(f"run_dir {self.run_dir} holds a run with other settings ({changed}); use another "
                             "folder, or start over with resume=False (on the command line: --no-resume)")
        from safetensors.torch import load_file

        self.model.load_state_dict(load_file(str(ckpt / layout.WEIGHTS), device=str(self.ddp.device)))
        extra = torch.load(ckpt / layout.CHECKPOINT_OPTIMIZER, map_location="cpu", weights_only=True)
        load_training_state(extra, self.optimizer, self.precision.scaler)
        stop = self.stopping
        stop.best, stop.best_epoch, stop.bad_epochs = state["best_ap"], state["best_epoch"], state["bad_epochs"]
        stop.stopped, self.history, self.failures = state["stopped"], state["history"], dict(state["failures"])
        log.info("resuming %s after epoch %d", self.run_dir, state["epoch"])
        return state["epoch"] + 1

    def admit(self, batch: Any) -> bool:
        """Report the batch's unreadable files (once each); whether it holds an image to train on."""
        for path, reason in batch.failures:
            if path not in self.failures:
                log.warning("skipping %s: %s", path, reason)
            self.failures[path] = reason
        return batch.images.shape[0] > 0

    def step(self, batch: Any) -> StepOutput:
        images, labels = batch.images.to(self.ddp.device), batch.labels.to(self.ddp.device)
        with self.precision.autocast():
            logits, feats = self.forward(images)
        loss, parts = self.criterion(logits, feats, labels)
        return StepOutput({"loss": float(loss.detach()), "ce": parts["ce"], "kl": parts["kl"]}, loss=loss)

    def end_epoch(self, stats: EpochStats) -> dict[str, Any]:
        """The epoch's row, with validation AP/accuracy; every rank's failures merged (rank 0 writes them)."""
        row: dict[str, Any] = {"epoch": stats.epoch + 1, "steps": stats.steps,
                               **{k: stats.mean(k) for k in ("loss", "ce", "kl")}}
        if self.val_loader is not None:
            probs, labels, val_failures = predict_loader_probs(self.model, self.val_loader, self.ddp.device,
                                                               self.config.amp)
            self.failures.update(val_failures)
            row["val_ap"] = _average_precision(labels, probs)
            row["val_acc"] = float((is_generated(probs) == labels).mean()) if labels.size else float("nan")
        self.failures = self.ddp.merge(self.failures)
        return row

    def save_best(self, epoch: int) -> None:
        if self.ddp.is_main:
            save_model_weights(self.model, self.run_dir / layout.WEIGHTS)

    def checkpoint(self, epoch: int, history: list[dict[str, Any]]) -> None:
        if not self.ddp.is_main:
            return
        stop = self.stopping
        state = {"epoch": epoch, "best_ap": stop.best, "best_epoch": stop.best_epoch, "bad_epochs": stop.bad_epochs,
                 "stopped": stop.stopped, "history": history, "failures": sorted(self.failures.items()),
                 "config": self.config.to_dict()}
        _write_checkpoint(self.run_dir, epoch, self.model, training_state(self.optimizer, self.precision.scaler),
                          state, self.config.keep_checkpoints)
        _save_history_csv(self.run_dir / layout.METRICS, history)
        _save_json(self.run_dir / layout.FAILURES, sorted(self.failures.items()))


def _train_batches(samples: list[Sample], config: TrainConfig, ddp: Distributed) -> Callable[[int], DataLoader]:
    """The epoch's loader: a permutation fixed by ``(seed, epoch)``, this rank's share, augmentation per epoch."""
    augment = TrainAugment(crop_size=config.crop_size, blur_prob=config.blur_prob, jpeg_prob=config.jpeg_prob,
                           flip=config.flip)
    train_set = ImageDataset(samples, augment, seed=config.seed)
    sampler = EpochPermutation(len(train_set), config.seed, ddp.rank, ddp.world)
    loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, collate_fn=collate_skip_bad,
                        num_workers=config.num_workers, drop_last=False)

    def batches(epoch: int) -> DataLoader:
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        return loader

    return batches


@enables_grad  # training: also when called under torch.no_grad() / torch.inference_mode()
def train_detector(model: Detector | nn.Module, train_samples: Sequence[Sample], run_dir: str | os.PathLike, *,
                   val_samples: Sequence[Sample] | None = None, config: TrainConfig | None = None,
                   device: str | torch.device = "auto", resume: bool = True, progress: bool = True,
                   criterion: Callable[..., tuple[torch.Tensor, dict[str, float]]] | None = None) -> TrainResult:
    """Train a detector with ``L_ce + gamma * L_kl`` (HRR Sec. III-C), early stopping on validation AP.

    Parameters
    ----------
    model : Detector or nn.Module
        Anything with ``forward_with_features(images) -> (logits (B,), features (B, D))`` taking float images
        (B, 3, H, W) in [0, 1].
    train_samples, val_samples : sequences of :class:`hrr.data.Sample`
        Labelled image files (0 = real, 1 = generated; MSR pseudo-fakes are generated).
    run_dir : path
        Where checkpoints (``checkpoints/epoch-XXXX``), the best weights (``model.safetensors``), ``metrics.csv``,
        ``train_config.json`` and ``failures.json`` go.
    config : TrainConfig, optional
        Hyper-parameters; the defaults follow the paper.
    device : "auto", "cpu", "cuda" or torch.device
        Ignored under a multi-process launch, where each rank uses its local GPU (or the CPU).
    resume : bool, default=True
        Continue from the last complete epoch found in ``run_dir`` (exactly: same weights as without interruption).
    progress : bool, default=True
        Show tqdm bars (rank 0 only).
    criterion : callable, optional
        ``criterion(logits, features, labels) -> (loss, {"ce": float, "kl": float})``; default
        :class:`HRRLoss` built from ``config`` (gamma, KL temperature/form/symmetry).

    Returns
    -------
    TrainResult
    """
    config = config or TrainConfig()
    if not hasattr(model, "forward_with_features"):
        raise TypeError("model must provide forward_with_features(images) -> (logits, features), like "
                        f"hrr.detect.Detector; got {type(model).__name__}")
    replace_inference_tensors(model)  # e.g. fit_hrr under inference_mode builds the head there: make it trainable
    train_samples = list(train_samples)
    n_real, n_fake = _class_counts(train_samples)
    if n_real == 0 or n_fake == 0:
        raise ValueError(f"train_samples must hold real (label 0) and generated (label 1) images; got {n_real} real "
                         f"and {n_fake} generated")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ddp = Distributed.launch(device)  # multi-process: each rank its own GPU (LOCAL_RANK)

    torch.manual_seed(config.seed)
    model.to(ddp.device).train()
    if criterion is None:
        criterion = HRRLoss(config.gamma, KLSeparationLoss(config.kl_temperature, symmetric=config.kl_symmetric,
                                                           form=config.kl_form))  # type: ignore[arg-type]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    run = _Run(model, config, run_dir, ddp, optimizer, Precision(ddp.device, config.amp), criterion)
    start_epoch = run.resume() if resume else 0
    if ddp.is_main:
        _save_json(run_dir / layout.TRAIN_CONFIG, config.to_dict())
    train_model = ddp.wrap(model)
    if ddp.world > 1:  # route the forward through DDP's __call__, features included, so the KL grads sync too
        _install_with_features(model)
        run.forward = lambda images: train_model(images, with_features=True)
    batches = _train_batches(train_samples, config, ddp)
    if val_samples:
        val_set = ImageDataset(list(val_samples), TestTransform(center_crop=config.crop_size), seed=config.seed)
        run.val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False,
                                    collate_fn=collate_skip_bad, num_workers=config.num_workers)
    TrainingLoop(step=run.step, batches=batches, epochs=config.epochs, end_epoch=run.end_epoch,
                 metrics=dict.fromkeys(("loss", "ce", "kl"), "mean"),
                 updates=Updates(optimizer, train_model, run.precision, config.accumulate),
                 max_steps=config.max_steps_per_epoch, admit=run.admit, early_stopping=run.stopping,
                 on_best=run.save_best, checkpoint=run.checkpoint, distributed=ddp, progress=progress,
                 postfix="loss", timed=True).run(start_epoch, run.history)
    stop = run.stopping
    return TrainResult(best_epoch=stop.best_epoch + 1, best_val_ap=None if stop.best == -math.inf else stop.best,
                       epochs_run=len(run.history), stopped_early=stop.stopped, history=run.history,
                       failures=sorted(run.failures.items()))


def _install_with_features(model: nn.Module) -> None:
    """Let DDP's wrapped ``forward`` return features too, so the KL term's gradients are synchronised."""
    if getattr(model, "_hrr_with_features", False):
        return
    plain = model.forward

    def forward(images: torch.Tensor, with_features: bool = False) -> Any:
        return model.forward_with_features(images) if with_features else plain(images)  # type: ignore[operator]

    model.forward = forward  # type: ignore[method-assign]
    model._hrr_with_features = True  # type: ignore[assignment]
