"""``hrr detect``: probability that each image (or every image in a folder) is generated."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hrr._cli._common import add_device_arg

_DESCRIPTION = """\
Probability that each image is generated, by the run's detector (AFR when the run has
it). Images larger than the run's max_side are center-cropped, never resized, as in
`hrr eval` and `hrr explain`: all three give the same probability for the same file."""

_EPILOG = """\
output: one line per image, in the order the arguments were given (a folder's images,
sorted, take the folder's place):
  PATH<TAB>PROBABILITY<TAB>generated|real   or   PATH<TAB>ERROR<TAB>REASON
then one line "summary: N scored, N generated, N failed".
--json prints {"results": [...], "summary": {"scored": N, "generated": N, "failed": N}}.

exit codes:
  0  every input scored
  1  some input could not be scored (missing, unreadable, inference failed)
  2  usage error (bad arguments, bad run folder)"""


def _run(args: argparse.Namespace) -> int:
    from hrr.detect import HRRDetector

    kwargs = {"threshold": args.threshold} if args.threshold is not None else {}
    detector = HRRDetector.load(args.run, device=args.device, use_afr=not args.no_afr, **kwargs)
    results = detector.predict_paths(args.paths, progress=args.progress and not args.json)
    scored = [r for r in results if r.error is None]
    summary = {"scored": len(scored), "generated": sum(bool(r.generated) for r in scored),
               "failed": len(results) - len(scored)}
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results], "summary": summary}, indent=2))
    else:
        for r in results:
            if r.error is not None:
                print(f"{r.path}\tERROR\t{r.error}")
            else:
                print(f"{r.path}\t{r.probability:.4f}\t{'generated' if r.generated else 'real'}")
        print(f"summary: {summary['scored']} scored, {summary['generated']} generated, {summary['failed']} failed")
    return 1 if summary["failed"] else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="probability that images are generated (files or folders)",
                       description=_DESCRIPTION,
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by `hrr train`")
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    p.add_argument("--json", action="store_true", help="print JSON: {\"results\": [...], \"summary\": {...}}")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the run's, 0.5)")
    p.add_argument("--no-afr", action="store_true", help="use the network's linear head instead of AFR")
    add_device_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar (shown only on a terminal anyway)")
    p.set_defaults(func=_run)
