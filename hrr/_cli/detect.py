"""``hrr detect``: probability that each image (or every image in a folder) is generated."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from hrr.detect import HRRDetector

    kwargs = {"threshold": args.threshold} if args.threshold is not None else {}
    detector = HRRDetector.load(args.run, device=args.device, use_afr=not args.no_afr, **kwargs)
    results = detector.predict_paths(args.paths, progress=not args.quiet and not args.json)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            if r.error is not None:
                print(f"{r.path}\tERROR\t{r.error}")
            else:
                print(f"{r.path}\t{r.probability:.4f}\t{'generated' if r.generated else 'real'}")
    return 1 if results and all(r.error is not None for r in results) else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="probability that images are generated (files or folders)")
    p.add_argument("run", type=Path, help="run folder written by `hrr train`")
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    p.add_argument("--json", action="store_true", help="print JSON (one object per file)")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the run's, 0.5)")
    p.add_argument("--no-afr", action="store_true", help="use the network's linear head instead of AFR")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_run)
