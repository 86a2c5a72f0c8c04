"""``hrr train``: train an HRR detector (CE + gamma * KL, then AFR) into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrr._cli._common import add_data_args, add_train_args, load_training_data, model_kwargs, train_config


def _run(args: argparse.Namespace) -> int:
    from hrr.data import count_samples
    from hrr.detect import fit_hrr

    train, val, msr = load_training_data(args)
    print(f"training on {len(train)} images" + (f" + {len(msr)} MSR images" if msr else "")
          + (f", validating on {len(val)}" if val else ", no validation set (the last epoch is kept)"))
    for row in count_samples(train + msr):
        print("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
    detector, result = fit_hrr(train, args.out, val_samples=val, msr_samples=msr, config=train_config(args),
                               afr=not args.no_afr, calibrate=not args.no_calibrate, device=args.device,
                               resume=not args.no_resume, progress=args.progress, **model_kwargs(args))
    best = f"{result.best_val_ap:.4f}" if result.best_val_ap is not None else "n/a"
    print(f"done: {result.epochs_run} epochs, best epoch {result.best_epoch} (validation AP of the network's linear "
          f"head on center crops: {best})"
          + (", stopped early" if result.stopped_early else ""))
    if detector.calibration is not None:
        # the same images chose the best epoch: with few of them the map is somewhat optimistic (docs/detector.md)
        print(f"probabilities calibrated on the {len(val)} validation images ({detector.calibration!r})")
    elif detector.refiner is not None:
        print("probabilities: AFR's map fitted on cross-fitted training decisions (no validation set)")
    if result.failures:
        print(f"{len(result.failures)} unreadable files skipped (listed in {Path(args.out) / 'failures.json'})")
    print(f"run folder: {Path(args.out).resolve()}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a detector with HRR (KL separation + AFR) on a dataset folder")
    add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="run folder (resumed if it exists)")
    add_train_args(p)
    p.add_argument("--no-afr", action="store_true", help="keep the linear head, skip AFR")
    p.add_argument("--no-calibrate", action="store_true",
                   help="keep the uncalibrated probabilities (default: a Platt map of each head fitted on the "
                        "validation split, saved in calibration.json)")
    p.add_argument("--no-resume", action="store_true", help="start over even if the run folder has checkpoints")
    p.set_defaults(func=_run)
