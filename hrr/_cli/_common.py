"""Argument groups shared by the detector subcommands (train, ablate)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in csv_list(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path,
                   help="dataset root (ForenSynths, GenImage, {real,fake} or hrr regenerate output)")
    p.add_argument("--layout", default="auto", help="dataset layout (default: detect it)")
    p.add_argument("--split", default="train", help="training split inside DATA; '' for layouts without splits "
                   "(default: %(default)s)")
    p.add_argument("--groups", type=csv_list, default=None,
                   help="only these classes/generators, e.g. car,cat,chair,horse")
    p.add_argument("--val", type=Path, default=None, help="validation root (default: the 'val' split of DATA if any)")
    p.add_argument("--msr", type=Path, action="append", default=[],
                   help="`hrr regenerate` output whose real views and pseudo-fakes join training (repeatable)")


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default="resnet50", help="torchvision classifier name (default: %(default)s)")
    p.add_argument("--weights", type=Path, default=None, help="local pretrained weights for the backbone")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--accumulate", type=int, default=1, help="gradient accumulation steps")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--gamma", type=float, default=0.8, help="weight of the KL separation term (default: 0.8)")
    p.add_argument("--crop", type=int, default=224, help="training crop size")
    p.add_argument("--blur-prob", type=float, default=0.1)
    p.add_argument("--jpeg-prob", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=3, help="early stopping patience in epochs")
    p.add_argument("--amp", default="auto", choices=["auto", "no", "fp16", "bf16"])
    p.add_argument("--workers", type=int, default=0, help="data loader workers")
    p.add_argument("--afr-lam", type=float, default=5e-4, help="AFR sparsity lambda (paper: 5e-4)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars (shown only on a terminal anyway)")


def train_config(args: argparse.Namespace) -> Any:
    from hrr.detect import TrainConfig

    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, accumulate=args.accumulate, lr=args.lr,
                       gamma=args.gamma, crop_size=args.crop, blur_prob=args.blur_prob, jpeg_prob=args.jpeg_prob,
                       patience=args.patience, amp=args.amp, num_workers=args.workers, seed=args.seed)


def load_training_data(args: argparse.Namespace) -> tuple[list, list | None, list]:
    """(train, val or None, msr) samples from the data arguments."""
    from hrr.data import detect_layout, scan_dataset

    layout = args.layout if args.layout != "auto" else detect_layout(args.data)
    has_splits = layout in ("forensynths", "genimage")
    split = args.split if has_splits else None
    train = scan_dataset(args.data, layout=layout, split=split, groups=args.groups)
    val = None
    if args.val is not None:
        val = scan_dataset(args.val)
    elif has_splits:
        try:
            val = scan_dataset(args.data, layout=layout, split="val", groups=args.groups)
        except ValueError:
            val = None
    msr = [s for root in args.msr for s in scan_dataset(root, layout="msr")]
    return train, val, msr
