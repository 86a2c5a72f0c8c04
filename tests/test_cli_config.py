"""The command line's training options are generated from TrainConfig: one default per setting, in one place."""

from __future__ import annotations

import argparse
import dataclasses

from hrr._cli._common import train_config
from hrr.cli import build_parser
from hrr.detect import TrainConfig


def _parse(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", "DATA", "--out", "RUN", *extra])


def test_no_options_give_the_default_config_and_no_backbone_or_lambda_override() -> None:
    args = _parse()
    assert train_config(args) == TrainConfig()
    assert args.backbone is None and args.afr_lam is None  # the library's own defaults apply


def test_every_setting_has_an_option_that_reaches_the_config() -> None:
    changed = {
        "epochs": ("--epochs", "3", 3), "batch_size": ("--batch-size", "7", 7), "accumulate": ("--accumulate", "2", 2),
        "lr": ("--lr", "0.01", 0.01), "weight_decay": ("--weight-decay", "0.5", 0.5), "gamma": ("--gamma", "0", 0.0),
        "kl_temperature": ("--kl-temperature", "2", 2.0), "kl_form": ("--kl-form", "hinge", "hinge"),
        "crop_size": ("--crop", "64", 64), "blur_prob": ("--blur-prob", "0.5", 0.5),
        "jpeg_prob": ("--jpeg-prob", "0.25", 0.25), "patience": ("--patience", "0", 0),
        "min_delta": ("--min-delta", "0.1", 0.1), "amp": ("--amp", "bf16", "bf16"),
        "num_workers": ("--workers", "2", 2), "max_steps_per_epoch": ("--max-steps-per-epoch", "5", 5),
        "keep_checkpoints": ("--keep-checkpoints", "1", 1), "seed": ("--seed", "9", 9),
    }
    argv = [token for flag, value, _ in changed.values() for token in (flag, value)]
    config = train_config(_parse(*argv, "--kl-symmetric", "--no-flip"))
    expected = {name: value for name, (_, _, value) in changed.items()} | {"kl_symmetric": True, "flip": False}
    assert dataclasses.asdict(config) == expected
    assert set(expected) == {f.name for f in dataclasses.fields(TrainConfig)}  # no setting without an option
