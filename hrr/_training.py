"""The one training-loop skeleton of the package: epochs of batches, each batch handed to a step function.

Every trainer (``train_detector``, ``train_robust``, ``train_inverter``, ``SinGAN.train``) is a configuration of
:class:`TrainingLoop`: it supplies the step function, the batches of an epoch, its learning-rate schedule and the
hooks it needs (a row per epoch, best weights, checkpoints). The loop owns the mechanics they used to repeat:

* the epoch loop, resumable at any epoch with the history so far, and early stopping (:class:`EarlyStopping`);
* progress bars (tqdm, one per epoch or one shared by several loops; silenced with ``progress=False`` and on every
  rank but the first);
* per-epoch metric reductions (weighted means, maxima, last values: :class:`EpochStats`);
* optionally the parameter updates themselves (:class:`Updates`): gradient accumulation, float16 loss scaling
  (:class:`Precision`, the policy of :mod:`hrr._precision`) and DDP, where every rank skips an empty batch together
  and a skipped batch that closes an accumulation window still averages and applies the pending gradients;
* the RNG, optimizer and scaler state a checkpoint needs to resume bit for bit (:func:`training_state`).

The launch itself (rank, device, collectives) is :class:`hrr._distributed.Distributed`. A step function that
updates its own models (adversarial training, alternating GAN updates) returns its metrics only; one that leaves
the update to the loop returns its loss as well. The loop draws no random numbers of its own, so the order of a
trainer's RNG draws and optimizer calls is the trainer's alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from hrr._distributed import Distributed
from hrr._precision import amp_dtype, autocast, grad_scaler
from hrr._state import unwrap

Reduction = Literal["mean", "max", "last"]


def progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    """A transient tqdm bar (``leave=False``) of ``total`` steps; a silent one when not ``enabled``."""
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


class Precision:
    """Mixed precision on one device: the autocast context and, where float16 gradients can underflow, a GradScaler.

    Parameters
    ----------
    device : torch.device
    amp : str, torch.dtype or None
        ``"auto"``, ``"no"``, ``"fp16"``, ``"bf16"``, a dtype or None, read by :func:`hrr._precision.amp_dtype`.
    """

    def __init__(self, device: torch.device, amp: str | torch.dtype | None) -> None:
        self.device = device
        self.dtype = amp_dtype(amp, device)
        self.scaler = grad_scaler(device, self.dtype)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` with this dtype, or a no-op context without mixed precision."""
        return autocast(self.device, self.dtype)

    def backward(self, loss: Tensor) -> None:
        """Backpropagate ``loss``, scaled by the GradScaler when there is one."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """One optimizer step (unscaled and skipped on inf/NaN by the scaler when there is one), then zero grads."""
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)


@dataclasses.dataclass
class Updates:
    """Parameter updates owned by the loop: the step function returns a loss, the loop backpropagates and steps.

    The loss of each batch is divided by ``accumulate`` and backpropagated (scaled by ``precision``'s GradScaler);
    the optimizer steps once per window of ``accumulate`` batches and at the end of the epoch. Under DDP the
    gradients are all-reduced only by the batch that closes a window (``module.no_sync()`` for the others).

    Attributes
    ----------
    optimizer : torch.optim.Optimizer
    module : nn.Module
        The trained module as the step function calls it (``DistributedDataParallel``-wrapped when launched).
    precision : Precision
    accumulate : int
        Batches per optimizer step.
    """

    optimizer: torch.optim.Optimizer
    module: nn.Module
    precision: Precision
    accumulate: int = 1


@dataclasses.dataclass
class StepOutput:
    """What a step function returns for one batch.

    Attributes
    ----------
    metrics : mapping
        Values reduced over the epoch as :class:`TrainingLoop` ``metrics`` says (numbers for means and maxima).
    size : int
        Weight of these metrics in the epoch's means (e.g. the batch size; 1: every batch counts the same).
    loss : Tensor or None
        The loss to backpropagate, for a loop with :class:`Updates`; None when the step updated on its own.
    """

    metrics: Mapping[str, Any]
    size: int = 1
    loss: Tensor | None = None


class EpochStats:
    """The reductions of one epoch's step metrics, handed to ``end_epoch``.

    Attributes
    ----------
    epoch : int
        0-based epoch index.
    values : dict
        Per metric: the weighted sum ("mean"; read it with :meth:`mean`), the maximum, starting from 0.0, for
        non-negative quantities such as norms ("max"), or the last value ("last", None before any step).
    count : int
        Total weight (sum of ``size``) of the batches stepped.
    steps : int
        Optimizer steps the loop took (with :class:`Updates`).
    started : float
        ``time.perf_counter()`` when the epoch began.
    """

    def __init__(self, epoch: int, metrics: Mapping[str, Reduction]) -> None:
        self.epoch, self.reductions = epoch, dict(metrics)
        self.values: dict[str, Any] = {k: None if how == "last" else 0.0 for k, how in self.reductions.items()}
        self.count = self.steps = 0
        self.started = time.perf_counter()

    def add(self, out: StepOutput) -> None:
        self.count += out.size
        for key, how in self.reductions.items():
            value = out.metrics[key]
            if how == "mean":
                self.values[key] += value * out.size
            elif how == "max":
                self.values[key] = max(self.values[key], value)
            else:
                self.values[key] = value

    def mean(self, key: str) -> float:
        """The weighted mean of a "mean" metric (0.0 when no batch was stepped)."""
        return self.values[key] / max(self.count, 1)


@dataclasses.dataclass
class EarlyStopping:
    """Stop after more than ``patience`` epochs without an improvement of ``monitor`` by more than ``min_delta``.

    An epoch whose row has no ``monitor`` value (no validation data) always counts as the best; a NaN never does.
    """

    patience: int
    min_delta: float = 0.0
    monitor: str = "val_ap"
    best: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped: bool = False

    def update(self, epoch: int, row: Mapping[str, Any]) -> bool:
        """Record an epoch's row; True if it is the best so far."""
        score = row.get(self.monitor)
        improved = score is None or (not math.isnan(score) and score > self.best + self.min_delta)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = -math.inf if score is None else score, epoch, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.stopped = True
        return improved


@dataclasses.dataclass(kw_only=True)
class TrainingLoop:
    """Epochs of batches through a step function, with the hooks a trainer needs.

    Per epoch: ``batches(epoch)`` is iterated (at most ``max_steps`` optimizer steps' worth); every batch that
    ``admit`` accepts on every rank goes to ``step``; then ``end_epoch(stats)`` returns the epoch's row, the
    ``schedulers`` step (per epoch; per batch with ``schedule="batch"``), ``early_stopping`` judges the row
    (``on_best(epoch)`` on a new best), the row joins the history, ``checkpoint(epoch, history)`` runs, and the
    ranks meet at a barrier.

    Attributes
    ----------
    step : callable
        ``step(batch) -> StepOutput``.
    batches : callable
        ``batches(epoch) -> iterable`` of the epoch's batches (set a sampler's epoch here).
    epochs : int
        Epochs in all, counting those a resumed run already did.
    end_epoch : callable
        ``end_epoch(stats: EpochStats) -> dict``: the epoch's history row (validation goes here).
    metrics : mapping
        ``{name: "mean" | "max" | "last"}``: how each step metric is reduced over the epoch.
    updates : Updates or None
        Let the loop update the parameters (the step function returns its loss); None: the step updates.
    max_steps : int or None
        Cap on optimizer steps per epoch (``max_steps * accumulate`` batches).
    admit : callable or None
        ``admit(batch) -> bool`` before each step (e.g. to log unreadable files); False on any rank: every rank
        skips the batch (a rank skipping alone would leave the others waiting in DDP's all-reduce).
    schedulers, schedule
        Learning-rate schedulers and whether they step once per epoch or after every batch.
    early_stopping, on_best
        Stop when ``early_stopping.stopped``; ``on_best(epoch)`` after an epoch that is the best so far.
    checkpoint : callable or None
        ``checkpoint(epoch, history)`` at the end of every epoch (write only on the main rank).
    distributed : Distributed
        The launch (one process by default).
    desc, progress, bar
        A bar per epoch (``"{desc} {epoch}/{epochs}"``), shown if ``progress`` on the main rank; or ``bar``, an
        open bar shared with other loops, advanced per batch and left open.
    postfix : str or None
        A "mean" metric shown on the bar after each step.
    require_data : bool
        Raise ``ValueError("data yielded no batches")`` after an epoch without a stepped batch.
    timed : bool
        Add the epoch's wall time to its row as ``seconds``.
    """

    step: Callable[[Any], StepOutput]
    batches: Callable[[int], Iterable[Any]]
    epochs: int
    end_epoch: Callable[[EpochStats], dict[str, Any]]
    metrics: Mapping[str, Reduction] = dataclasses.field(default_factory=dict)
    updates: Updates | None = None
    max_steps: int | None = None
    admit: Callable[[Any], bool] | None = None
    schedulers: Sequence[Any] = ()
    schedule: Literal["epoch", "batch"] = "epoch"
    early_stopping: EarlyStopping | None = None
    on_best: Callable[[int], None] | None = None
    checkpoint: Callable[[int, list[dict[str, Any]]], None] | None = None
    distributed: Distributed = dataclasses.field(default_factory=Distributed)
    desc: str = "epoch"
    progress: bool = True
    bar: Any = None
    postfix: str | None = None
    require_data: bool = False
    timed: bool = False

    def run(self, start_epoch: int = 0, history: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Train from ``start_epoch`` (after a resume: with the ``history`` so far, extended in place)."""
        history = [] if history is None else history
        for epoch in range(start_epoch, self.epochs):
            if self.early_stopping is not None and self.early_stopping.stopped:
                break
            stats = self._epoch(epoch)
            if self.require_data and stats.count == 0:
                raise ValueError("data yielded no batches")
            row = self.end_epoch(stats)
            if self.schedule == "epoch":
                for scheduler in self.schedulers:
                    scheduler.step()
            if self.early_stopping is not None and self.early_stopping.update(epoch, row) and self.on_best:
                self.on_best(epoch)
            if self.timed:
                row["seconds"] = time.perf_counter() - stats.started
            history.append(row)
            if self.checkpoint is not None:
                self.checkpoint(epoch, history)
            self.distributed.barrier()
        return history

    def _epoch(self, epoch: int) -> EpochStats:
        stats = EpochStats(epoch, self.metrics)
        batches = self.batches(epoch)
        accumulate = self.updates.accumulate if self.updates is not None else 1
        total = _length(batches)
        stop_at = None  # without a cap the whole iterable is walked, whatever its len() says
        if self.max_steps is not None:
            cap = self.max_steps * accumulate
            stop_at = total = cap if total is None else min(total, cap)
        bar = self.bar if self.bar is not None else progress_bar(
            total, f"{self.desc} {epoch + 1}/{self.epochs}", self.progress and self.distributed.is_main)
        if self.updates is not None:
            self.updates.optimizer.zero_grad(set_to_none=True)
        pending = 0  # batches whose gradients wait for the optimizer step
        try:
            for i, batch in enumerate(batches):
                if stop_at is not None and i >= stop_at:
                    break
                admitted = self.admit(batch) if self.admit is not None else True
                closes = (i + 1) % accumulate == 0 or i + 1 == total
                if not self.distributed.all_have(admitted):  # every rank skips it, or none does
                    if closes and pending:  # the skipped batch was to apply the window's gradients
                        self._apply(stats, average=True)
                        pending = 0
                    bar.update(1)
                    continue
                out = self._step(batch, closes)
                if self.updates is not None:
                    pending += 1
                    if closes:
                        self._apply(stats, average=False)
                        pending = 0
                stats.add(out)
                if self.schedule == "batch":
                    for scheduler in self.schedulers:
                        scheduler.step()
                bar.update(1)
                if self.postfix is not None:
                    bar.set_postfix({self.postfix: f"{stats.mean(self.postfix):.4f}"})
        finally:
            if bar is not self.bar:
                bar.close()
        return stats

    def _step(self, batch: Any, closes: bool) -> StepOutput:
        updates = self.updates
        if updates is None:
            return self.step(batch)
        # DDP all-reduces in the backward of the window's last batch only; the forward belongs inside no_sync too
        no_sync = self.distributed.world > 1 and not closes
        with updates.module.no_sync() if no_sync else contextlib.nullcontext():  # type: ignore[operator]
            out = self.step(batch)
            if out.loss is None:
                raise ValueError("with Updates, the step function must return its loss (StepOutput.loss)")
            updates.precision.backward(out.loss / updates.accumulate)
        return out

    def _apply(self, stats: EpochStats, average: bool) -> None:
        """The window's optimizer step; ``average``: all-reduce the gradients first, as the DDP backward of the
        window's last batch would have done had that batch not been skipped."""
        updates = self.updates
        assert updates is not None
        if average and self.distributed.world > 1:
            self.distributed.average_gradients(unwrap(updates.module))
        updates.precision.step(updates.optimizer)
        stats.steps += 1


def repeat_batches(batches: Iterable[Any]) -> Callable[[int], Iterable[Any]]:
    """``batches(epoch)`` for a loop that walks the same iterable every epoch (tensor batches, a DataLoader).

    Each epoch first opens one iterator over ``batches`` and drops it. That is what ``tqdm.auto`` did when the
    trainers wrapped their data in it, and a DataLoader draws a seed from its generator (or the global RNG) for
    every iterator it opens: keeping the draw keeps seeded runs bit for bit what they were.
    """

    def epoch_batches(_epoch: int) -> Iterable[Any]:
        iter(batches)
        return batches

    return epoch_batches


def _length(batches: Iterable[Any]) -> int | None:
    """``len(batches)`` where the iterable has one (as tqdm reads it), else None."""
    try:
        return len(batches)  # type: ignore[arg-type]
    except (TypeError, AttributeError):
        return None


def rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU, and every CUDA device when there is one) for a checkpoint."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def training_state(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> dict[str, Any]:
    """What resuming needs besides the weights: optimizer and GradScaler state and the RNG states."""
    return {"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict() if scaler else None,
            "rng": rng_state()}


def load_training_state(state: Mapping[str, Any], optimizer: torch.optim.Optimizer,
                        scaler: torch.amp.GradScaler | None) -> None:
    """Restore what :func:`training_state` saved (the scaler's state only where both runs have a scaler)."""
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
