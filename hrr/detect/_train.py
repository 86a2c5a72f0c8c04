"""Training loop of the HRR detector: ``L = L_ce + gamma * L_kl`` with Adam (Sec. III-C and IV-A of the paper).

One epoch = one deterministic permutation of the training samples (seeded by ``(seed, epoch)``); augmentation draws
come from ``(seed, epoch, index)``. Checkpoints are written at the end of every epoch, so resuming after an
interruption replays exactly the epochs that an uninterrupted run would have done.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from hrr._device import resolve_device
from hrr._grad import enables_grad, replace_inference_tensors
from hrr._io import atomic_path
from hrr._precision import amp_dtype, autocast, grad_scaler
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


def _autocast(device: torch.device, amp: str) -> tuple[Any, torch.amp.GradScaler | None]:
    dtype = amp_dtype(amp, device)
    return autocast(device, dtype), grad_scaler(device, dtype)


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group through accelerate when launched multi-process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        from accelerate import PartialState

        PartialState()
    return dist.get_rank(), dist.get_world_size()


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


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _write_checkpoint(run_dir: Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler | None, state: dict[str, Any], keep: int) -> None:
    """Write ``checkpoints/epoch-XXXX`` as a whole directory, then point ``last.json`` at it (both atomic)."""
    ckpt_root = layout.checkpoints_dir(run_dir)
    final = ckpt_root / layout.checkpoint_name(epoch)
    tmp = ckpt_root / f".tmp-epoch-{epoch:04d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model_weights(model, tmp / layout.WEIGHTS)
    torch.save({"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                "rng": _rng_state()}, tmp / layout.CHECKPOINT_OPTIMIZER)
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
    ctx, _ = _autocast(device, amp)
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
    rank, world = _distributed()
    dev = resolve_device("auto" if world > 1 else device)  # multi-process: each rank its own GPU (LOCAL_RANK)
    is_main = rank == 0

    torch.manual_seed(config.seed)
    model.to(dev).train()
    if criterion is None:
        criterion = HRRLoss(config.gamma, KLSeparationLoss(config.kl_temperature, symmetric=config.kl_symmetric,
                                                           form=config.kl_form))  # type: ignore[arg-type]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    autocast, scaler = _autocast(dev, config.amp)

    history: list[dict[str, float]] = []
    start_epoch, best_ap, best_epoch, bad_epochs, stopped = 0, -math.inf, -1, 0, False
    failures: dict[str, str] = {}
    found = _load_checkpoint(run_dir) if resume else None
    if found is not None:
        ckpt, state = found
        saved, wanted = _resume_key(state.get("config", {})), _resume_key(config.to_dict())
        if saved != wanted:
            changed = ", ".join(f"{k}: {saved.get(k)!r} -> {wanted.get(k)!r}"
                                for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k))
            raise ValueError(f"run_dir {run_dir} holds a run with other settings ({changed}); use another folder, "
                             "or start over with resume=False (on the command line: --no-resume)")
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ckpt / layout.WEIGHTS), device=str(dev)))
        extra = torch.load(ckpt / layout.CHECKPOINT_OPTIMIZER, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(extra["optimizer"])
        if scaler is not None and extra["scaler"] is not None:
            scaler.load_state_dict(extra["scaler"])
        torch.set_rng_state(extra["rng"]["torch"])
        if extra["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(extra["rng"]["cuda"])
        start_epoch = state["epoch"] + 1
        best_ap, best_epoch, bad_epochs = state["best_ap"], state["best_epoch"], state["bad_epochs"]
        stopped, history, failures = state["stopped"], state["history"], dict(state["failures"])
        log.info("resuming %s after epoch %d", run_dir, state["epoch"])
    if is_main:
        _save_json(run_dir / layout.TRAIN_CONFIG, config.to_dict())

    train_model: nn.Module = model
    if world > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None)

    augment = TrainAugment(crop_size=config.crop_size, blur_prob=config.blur_prob, jpeg_prob=config.jpeg_prob,
                           flip=config.flip)
    train_set = ImageDataset(train_samples, augment, seed=config.seed)
    sampler = EpochPermutation(len(train_set), config.seed, rank, world)
    loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, collate_fn=collate_skip_bad,
                        num_workers=config.num_workers, drop_last=False)
    val_loader = None
    if val_samples:
        val_set = ImageDataset(list(val_samples), TestTransform(center_crop=config.crop_size), seed=config.seed)
        val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False, collate_fn=collate_skip_bad,
                                num_workers=config.num_workers)

    # The forward returns (logits, features); route it through the (possibly DDP-wrapped) module's __call__.
    def forward(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if world > 1:
            return train_model(images, with_features=True)  # type: ignore[call-arg]
        return model.forward_with_features(images)

    if world > 1:
        _install_with_features(model)

    epoch = start_epoch
    for epoch in range(start_epoch, config.epochs):
        if stopped:
            break
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        sums = {"loss": 0.0, "ce": 0.0, "kl": 0.0}
        steps = micro = 0
        n_batches = len(loader) if config.max_steps_per_epoch is None else min(
            len(loader), config.max_steps_per_epoch * config.accumulate)
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not (progress and is_main),
                   leave=False)
        optimizer.zero_grad(set_to_none=True)
        pending = 0  # micro-batches whose gradients wait for the optimizer step
        for i, batch in enumerate(loader):
            if i >= n_batches:
                break
            for path, reason in batch.failures:
                if path not in failures:
                    log.warning("skipping %s: %s", path, reason)
                failures[path] = reason
            last_micro = (i + 1) % config.accumulate == 0 or i + 1 == n_batches
            if not _all_ranks_have_data(batch.images.shape[0] > 0, world, dev):
                # Every rank skips together: a rank that skipped alone would leave the others waiting forever in
                # DDP's gradient all-reduce (one unreadable file at batch size 1 is enough).
                if last_micro and pending:
                    if world > 1:  # the skipped micro-batch was to run DDP's all-reduce of the accumulated grads
                        _average_gradients(model, world)
                    _optimizer_step(optimizer, scaler)
                    steps, pending = steps + 1, 0
                bar.update(1)
                continue
            images, labels = batch.images.to(dev), batch.labels.to(dev)
            sync = nullcontext() if (world == 1 or last_micro) else train_model.no_sync()  # type: ignore[operator]
            with sync:
                with autocast:
                    logits, feats = forward(images)
                loss, parts = criterion(logits, feats, labels)
                scaled = loss / config.accumulate
                (scaler.scale(scaled) if scaler else scaled).backward()
            micro += 1
            pending += 1
            sums["loss"] += float(loss.detach())
            sums["ce"] += parts["ce"]
            sums["kl"] += parts["kl"]
            if last_micro:
                _optimizer_step(optimizer, scaler)
                steps, pending = steps + 1, 0
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / max(micro, 1):.4f}")
        bar.close()

        row: dict[str, float] = {"epoch": epoch + 1, "steps": steps,
                                 **{k: v / max(micro, 1) for k, v in sums.items()}}
        improved = False
        if val_loader is not None:
            probs, labels_np, val_failures = predict_loader_probs(model, val_loader, dev, config.amp)
            for path, reason in val_failures:
                failures[path] = reason
            ap = _average_precision(labels_np, probs)
            row["val_ap"] = ap
            row["val_acc"] = float((is_generated(probs) == labels_np).mean()) if labels_np.size else float("nan")
            improved = not math.isnan(ap) and ap > best_ap + config.min_delta
        else:
            improved = True  # without validation data the last epoch is the best one
        if improved:
            best_ap, best_epoch, bad_epochs = row.get("val_ap", -math.inf), epoch, 0
            if is_main:
                save_model_weights(model, run_dir / layout.WEIGHTS)
        else:
            bad_epochs += 1
            if bad_epochs > config.patience:
                stopped = True
        if world > 1:
            failures = _gather_failures(failures, world)  # rank 0 writes the report: it must list every rank's
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if is_main:
            state = {"epoch": epoch, "best_ap": best_ap, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                     "stopped": stopped, "history": history, "failures": sorted(failures.items()),
                     "config": config.to_dict()}
            _write_checkpoint(run_dir, epoch, model, optimizer, scaler, state, config.keep_checkpoints)
            _save_history_csv(run_dir / layout.METRICS, history)
            _save_json(run_dir / layout.FAILURES, sorted(failures.items()))
        if world > 1:
            import torch.distributed as dist

            dist.barrier()

    return TrainResult(best_epoch=best_epoch + 1, best_val_ap=None if best_ap == -math.inf else best_ap,
                       epochs_run=len(history), stopped_early=stopped, history=history,
                       failures=sorted(failures.items()))


def _optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _average_gradients(model: nn.Module, world: int) -> None:
    """What DDP's backward does for the micro-batch that closes an accumulation window: average grads."""
    import torch.distributed as dist

    for param in model.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad.div_(world)


def _all_ranks_have_data(has_data: bool, world: int, device: torch.device) -> bool:
    """Whether every rank's batch holds at least one readable image (all ranks get the same answer)."""
    if world == 1:
        return has_data
    import torch.distributed as dist

    flag = torch.tensor([1 if has_data else 0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def _gather_failures(failures: dict[str, str], world: int) -> dict[str, str]:
    """Union of every rank's ``path -> reason`` (first reason by rank order wins), the same on all ranks."""
    import torch.distributed as dist

    gathered: list[dict[str, str] | None] = [None] * world
    dist.all_gather_object(gathered, failures)
    merged: dict[str, str] = {}
    for part in gathered:
        for path, reason in (part or {}).items():
            merged.setdefault(path, reason)
    return merged


def _install_with_features(model: nn.Module) -> None:
    """Let DDP's wrapped ``forward`` return features too, so the KL term's gradients are synchronised."""
    if getattr(model, "_hrr_with_features", False):
        return
    plain = model.forward

    def forward(images: torch.Tensor, with_features: bool = False) -> Any:
        return model.forward_with_features(images) if with_features else plain(images)  # type: ignore[operator]

    model.forward = forward  # type: ignore[method-assign]
    model._hrr_with_features = True  # type: ignore[assignment]
