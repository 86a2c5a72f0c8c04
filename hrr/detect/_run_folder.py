"""The run folder's layout, in one place: every writer and reader of a run folder names its files through here.

::

    RUN/
      detector.json            what HRRDetector.load needs (backbone, feature width, threshold, AFR or not)
      model.safetensors        the best network weights
      afr.safetensors          the AFR refiner (CorrentropySAM), when fitted
      calibration.json         Platt maps of the linear head and of AFR, fitted on the validation split
      train_config.json        the TrainConfig of the run
      metrics.csv              one row per epoch
      failures.json            files that could not be used, with the reason
      cache/                   cached backbone features of the AFR stage
      checkpoints/
        last.json              {"epoch", "path"}: the newest complete checkpoint
        epoch-0007/            model.safetensors, optimizer.pt (optimizer, scaler, RNG), state.json
"""

from __future__ import annotations

from pathlib import Path

DETECTOR_META = "detector.json"
WEIGHTS = "model.safetensors"
AFR = "afr.safetensors"
CALIBRATION = "calibration.json"
TRAIN_CONFIG = "train_config.json"
METRICS = "metrics.csv"
FAILURES = "failures.json"
FEATURE_CACHE = "cache"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.json"
CHECKPOINT_OPTIMIZER = "optimizer.pt"
CHECKPOINT_STATE = "state.json"


def checkpoint_name(epoch: int) -> str:
    """``epoch-0007``: the folder of the checkpoint written after ``epoch`` (0-based)."""
    return f"epoch-{epoch:04d}"


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINTS
