"""Command line entry point ``hrr``; each subcommand lives in its own module under :mod:`hrr._cli`.

Exit codes, for every subcommand: 0 success; 1 the command ran but some input could not be processed (e.g. an
unreadable image in ``hrr detect``); 2 usage error (bad arguments, a bad run or dataset folder, a model that is not
available), reported as one line ``hrr <command>: error: <message>`` on stderr; 130 interrupted (Ctrl-C). ``hrr
--debug <command>`` or ``HRR_DEBUG=1`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from hrr._cli import SUBCOMMANDS

# Errors that mean "the input or the setup is wrong", not "hrr has a bug": one line, exit code 2. hrr's own
# ImageLoadError and hrr.msr's ManifestMismatchError are ValueErrors; FileNotFoundError, NotADirectoryError and
# PermissionError are OSErrors.
_USAGE_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError)

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _version() -> str:
    """The installed distribution's version; the source tree's ``hrr._version`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hrr")
    except PackageNotFoundError:  # running from a source checkout that is not installed
        from hrr._version import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrr",
        description="HRR generated-image detection toolkit",
        epilog="exit codes: 0 success, 1 some input could not be processed, 2 usage error, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also: environment variable HRR_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"hrr._cli.{name}").add_parser(sub)
    for subparser in sub.choices.values():  # `hrr train --debug ...` works as well as `hrr --debug train ...`
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                               help="show the full traceback of an error (also: HRR_DEBUG=1)")
    return parser


def _debug_requested(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("HRR_DEBUG", "").strip().lower() not in (
        "", "0", "false", "no", "off")


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line; an OSError as ``path: reason`` rather than ``[Errno 2] ...``."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror}"
        if exc.filename2 is not None:
            text += f" ({exc.filename2})"
    else:
        text = str(exc)
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hrr`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = build_parser().parse_args(argv)
    # Progress bars only on a terminal: in logs and pipes they are kilobytes of carriage returns.
    args.progress = not getattr(args, "quiet", False) and sys.stderr.isatty()
    debug = _debug_requested(args)
    prefix = f"hrr {args.command}"
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\n{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        if debug:
            raise
        # The reader went away (`hrr detect ... | head`): not an error of ours; silence the flush at exit.
        with contextlib.suppress(OSError, ValueError):  # ValueError: stdout is not a real file (captured)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # what a shell reports for SIGPIPE
    except _USAGE_ERRORS as exc:
        if debug:
            raise
        print(f"{prefix}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
