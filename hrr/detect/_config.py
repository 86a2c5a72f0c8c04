"""``TrainConfig``: the settings of the detector's training, as data (the CLI's options are generated from it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hrr._precision import AMP_MODES

KL_FORMS: tuple[str, ...] = ("exp", "inverse", "hinge")
"""Bounded forms of the KL separation term (see :class:`hrr.detect.KLSeparationLoss`)."""


def _setting(default: Any, flag: str, help: str, *, choices: tuple[str, ...] | None = None,
             kind: type | None = None) -> Any:
    """A TrainConfig field whose command-line option (flag, help, choices, type) is generated from it."""
    meta = {"flag": flag, "help": help, "choices": choices, "type": kind or type(default)}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class TrainConfig:
    """Settings of :func:`train_detector` (stored in the run folder as JSON).

    The defaults follow the paper where it states them (Adam, learning rate 1e-4, gamma = 0.8, early stopping);
    its batch size of 256 is a GPU setting, so the default here is 32 with ``accumulate`` to reach larger batches.
    """

    epochs: int = _setting(10, "--epochs", "epochs at most (early stopping may end sooner)")
    batch_size: int = _setting(32, "--batch-size", "images per step (per process)")
    accumulate: int = _setting(1, "--accumulate", "gradient accumulation steps (effective batch = batch-size x this)")
    lr: float = _setting(1e-4, "--lr", "Adam learning rate (the paper's 1e-4)")
    weight_decay: float = _setting(0.0, "--weight-decay", "Adam weight decay")
    gamma: float = _setting(0.8, "--gamma", "weight of the KL separation term (the paper's 0.8)")
    kl_temperature: float = _setting(1.0, "--kl-temperature", "temperature of the KL term's feature softmax")
    kl_symmetric: bool = _setting(False, "--kl-symmetric", "separate with the symmetric KL")
    kl_form: str = _setting("exp", "--kl-form", "bounded form of the separation term", choices=KL_FORMS)
    crop_size: int = _setting(224, "--crop", "training crop size in pixels")
    blur_prob: float = _setting(0.1, "--blur-prob", "probability of a Gaussian blur (CNNDetection augmentation)")
    jpeg_prob: float = _setting(0.1, "--jpeg-prob", "probability of JPEG re-encoding (CNNDetection augmentation)")
    flip: bool = _setting(True, "--flip", "random horizontal flips")
    patience: int = _setting(3, "--patience", "early stopping patience in epochs")
    min_delta: float = _setting(1e-4, "--min-delta", "smallest validation AP gain that counts as progress")
    amp: str = _setting("auto", "--amp", "mixed precision ('auto': fp16 on CUDA, none on the CPU)", choices=AMP_MODES)
    num_workers: int = _setting(0, "--workers", "data loader worker processes")
    max_steps_per_epoch: int | None = _setting(None, "--max-steps-per-epoch", "cap on the steps of an epoch",
                                               kind=int)
    keep_checkpoints: int = _setting(2, "--keep-checkpoints", "epoch checkpoints kept in the run folder")
    seed: int = _setting(0, "--seed", "seed of the permutations, augmentation and initialisation")

    def __post_init__(self) -> None:
        positive_ints = ("epochs", "batch_size", "accumulate", "crop_size", "keep_checkpoints")
        for name in positive_ints:
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"TrainConfig.{name} must be a positive integer; got {value!r}")
        for name in ("lr",):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainConfig.{name} must be positive; got {getattr(self, name)!r}")
        for name in ("weight_decay", "gamma", "min_delta"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TrainConfig.{name} must be non-negative; got {getattr(self, name)!r}")
        for name in ("blur_prob", "jpeg_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"TrainConfig.{name} must be a probability in [0, 1]; got {getattr(self, name)!r}")
        if not (isinstance(self.patience, int) and self.patience >= 0):
            raise ValueError(f"TrainConfig.patience must be a non-negative integer; got {self.patience!r}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"TrainConfig.amp must be one of {AMP_MODES}; got {self.amp!r}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ValueError(f"TrainConfig.max_steps_per_epoch must be None or >= 1; got {self.max_steps_per_epoch!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
