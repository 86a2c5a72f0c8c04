"""Subcommands of the ``hrr`` console script, one module each.

Every module in :data:`SUBCOMMANDS` defines ``add_parser(subparsers)`` (which registers its parser and sets
``func``) and is imported lazily, so ``hrr --help`` stays fast and a subcommand's heavy imports are paid only when it
runs.
"""

from __future__ import annotations

SUBCOMMANDS: tuple[str, ...] = ("demo", "train", "detect", "eval", "explain", "ablate", "regenerate")
