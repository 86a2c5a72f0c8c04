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


DEVICE_HELP = "'auto' (this process's GPU if there is one, else the CPU), 'cpu', 'cuda' or 'cuda:N' (default: auto)"


def add_device_arg(p: argparse.ArgumentParser) -> None:
    """``--device``, with the library's one meaning of ``"auto"`` (hrr._device)."""
    p.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_config_args(p: argparse.ArgumentParser, config_class: type) -> None:
    """One option per field of a settings dataclass, from the field itself: flag, type, choices, help, default.

    Each default therefore lives in one place, the dataclass. Booleans get ``--flag`` / ``--no-flag``.
    """
    import dataclasses

    for field in dataclasses.fields(config_class):
        meta = field.metadata
        help_text = f"{meta['help']} (default: {field.default})"
        if meta["type"] is bool:
            p.add_argument(meta["flag"], dest=field.name, action=argparse.BooleanOptionalAction,
                           default=field.default, help=help_text)
        else:
            p.add_argument(meta["flag"], dest=field.name, type=meta["type"], choices=meta["choices"],
                           default=field.default, help=help_text)


def config_from_args(args: argparse.Namespace, config_class: type) -> Any:
    """The settings dataclass built from the options :func:`add_config_args` made."""
    import dataclasses

    return config_class(**{field.name: getattr(args, field.name) for field in dataclasses.fields(config_class)})


def add_train_args(p: argparse.ArgumentParser) -> None:
    from hrr.detect import TrainConfig  # hrr.detect loads lazily: only the dataclass module is imported here

    p.add_argument("--backbone", default=None,
                   help="torchvision classifier name (default: the library's, hrr.detect.Detector's)")
    p.add_argument("--weights", type=Path, default=None, help="local pretrained weights for the backbone")
    add_config_args(p, TrainConfig)
    p.add_argument("--afr-lam", type=float, default=None,
                   help="AFR sparsity lambda (default: chosen by cross-validation, CorrentropySAMCV)")
    add_device_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars (shown only on a terminal anyway)")


def train_config(args: argparse.Namespace) -> Any:
    from hrr.detect import TrainConfig

    return config_from_args(args, TrainConfig)


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The backbone and AFR options that were given; the library's own defaults fill in the others."""
    kwargs: dict[str, Any] = {"weights": args.weights}
    if args.backbone is not None:
        kwargs["backbone"] = args.backbone
    if args.afr_lam is not None:
        kwargs["afr_params"] = {"lam": args.afr_lam}
    return kwargs


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
