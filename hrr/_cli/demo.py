"""``hrr demo``: the built-in end-to-end showcase on packaged data."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from hrr.demo import format_afr_table, run_afr_demo

    out = Path(args.out)
    start = time.perf_counter()
    rows = run_afr_demo(out, quick=args.quick, progress=args.progress, seed=args.seed)
    print("\nAFR: CorrentropySAM vs LogisticRegression on the same spline basis (clean test labels)\n")
    print(format_afr_table(rows))
    print(f"\nReport and component plots written to {out.resolve()} ({time.perf_counter() - start:.1f} s)")

    from hrr.demo import format_msr_table, run_msr_demo

    if not args.quiet:
        print("\n[demo] MSR: training the demo's diffusion model on first use (cached afterwards; about a minute on 2 "
              "idle cores, much longer when other jobs share them), then regenerating three photos ...")
    msr_rows, picture, msr_seconds = run_msr_demo(out, quick=args.quick, progress=args.progress, seed=args.seed)
    print("\nMSR: multi-scale style retrospection of scikit-image photos (diffusers img2img on a tiny latent "
          "diffusion model trained on the spot and loaded with from_pretrained)\n")
    print(format_msr_table(msr_rows))
    print(f"\nSide-by-side picture written to {picture.resolve()} ({msr_seconds:.1f} s)")

    from hrr.demo import format_tables, run_benchmark, write_report

    bench_start = time.perf_counter()
    result = run_benchmark(out, quick=args.quick, progress=args.progress, seed=args.seed,
                           log=(lambda _msg: None) if args.quiet else print)
    report = write_report(result, time.perf_counter() - bench_start)
    print("\nDetection benchmark: trained on one built-in generator, tested on six, at three scales\n")
    print(format_tables(result))
    print(f"\nBenchmark report written to {report.resolve()} ({time.perf_counter() - bench_start:.1f} s)")
    print(f"\nhrr demo finished in {time.perf_counter() - start:.1f} s")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="run the built-in end-to-end demo on packaged data (no downloads)")
    demo.add_argument("--out", default="hrr-demo-output", help="output folder (default: %(default)s)")
    demo.add_argument("--quick", action="store_true", help="smaller sizes for a fast check")
    demo.add_argument("--quiet", action="store_true",
                      help="no progress bars or stage messages (bars are drawn only when stderr is a terminal)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.set_defaults(func=_run)
