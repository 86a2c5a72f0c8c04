"""Command line entry point ``hrr``; each subcommand lives in its own module under :mod:`hrr._cli`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hrr._cli import SUBCOMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrr", description="HRR generated-image detection toolkit")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"hrr._cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
