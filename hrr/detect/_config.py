"""``TrainConfig``: the settings of the detector's training, as data (the CLI's options are generated from it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hrr._precision import AMP_MODES


@dataclasses.dataclass
class TrainConfig:
    """Settings of :func:`train_detector` (stored in the run folder as JSON).

    The defaults follow the paper where it states them (Adam, learning rate 1e-4, gamma = 0.8, early stopping);
    its batch size of 256 is a GPU setting, so the default here is 32 with ``accumulate`` to reach larger batches.
    """

    epochs: int = 10
    batch_size: int = 32
    accumulate: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.0
    gamma: float = 0.8
    kl_temperature: float = 1.0
    kl_symmetric: bool = False
    kl_form: str = "exp"
    crop_size: int = 224
    blur_prob: float = 0.1
    jpeg_prob: float = 0.1
    flip: bool = True
    patience: int = 3
    min_delta: float = 1e-4
    amp: str = "auto"
    num_workers: int = 0
    max_steps_per_epoch: int | None = None
    keep_checkpoints: int = 2
    seed: int = 0

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
