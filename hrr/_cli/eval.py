"""``hrr eval``: per-generator Acc / AP tables, PR curves, multi-scale (Table V) and robustness sweeps."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrr._cli._common import add_device_arg, csv_list, float_list


def _run(args: argparse.Namespace) -> int:
    from hrr.data import TestTransform, scan_dataset
    from hrr.detect import HRRDetector, evaluate, multiscale_table, robustness_sweep, to_markdown

    detector = HRRDetector.load(args.run, device=args.device, use_afr=not args.no_afr)
    split = args.split or None
    try:
        samples = scan_dataset(args.data, layout=args.layout, split=split, groups=args.groups)
    except ValueError:
        if split is None:
            raise
        samples = scan_dataset(args.data, layout=args.layout, groups=args.groups)  # layout without a test split
    out = Path(args.out)
    common = {"batch_size": args.batch_size, "progress": args.progress}
    transform = TestTransform(center_crop=args.crop) if args.crop else None
    result = evaluate(detector.predict_proba, samples, transform=transform, threshold=detector.threshold, **common)
    result.save(out)
    print(to_markdown(result.table(), ["group", "acc", "ap", "real_acc", "fake_acc", "n_real", "n_fake"]))
    cal = result.calibration()
    print(f"\ncalibration over all {len(result)} images: ECE {cal['ece']:.4f}, Brier {cal['brier']:.4f}, mean "
          f"probability {cal['mean_prob']:.4f} (reliability diagram: {out / 'reliability.png'})")
    if result.failures:
        print(f"\n{len(result.failures)} unreadable files skipped (see {out / 'failures.csv'})")
    if args.scales or args.sizes:
        sweep = multiscale_table(detector.predict_proba, samples, scales=args.scales or (1.0,),
                                 sizes=[int(s) for s in args.sizes] if args.sizes else None, center_crop=args.crop,
                                 threshold=detector.threshold, **common)
        sweep.save(out, name="multiscale")
        print("\nMulti-scale accuracy (%)\n\n" + sweep.to_markdown("acc"))
        print("\nMulti-scale AP (%)\n\n" + sweep.to_markdown("ap"))
    for kind, values in (("jpeg", args.jpeg), ("blur", args.blur)):
        if values:
            vals = [None, *(int(v) if kind == "jpeg" else v for v in values)]
            sweep = robustness_sweep(detector.predict_proba, samples, kind, vals, center_crop=args.crop,
                                     threshold=detector.threshold, **common)
            sweep.save(out)
            print(f"\n{kind} sweep accuracy (%)\n\n" + sweep.to_markdown("acc"))
    print(f"\nresults written to {out.resolve()}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained detector per generator (Acc, AP, PR curves, sweeps)")
    p.add_argument("run", type=Path, help="run folder written by `hrr train`")
    p.add_argument("data", type=Path, help="test root (ForenSynths test/, GenImage, {real,fake} folders, ...)")
    p.add_argument("--layout", default="auto")
    p.add_argument("--split", default="test", help="split to evaluate where the layout has splits (default: test)")
    p.add_argument("--groups", type=csv_list, default=None, help="only these generators")
    p.add_argument("--out", type=Path, default=Path("hrr-eval"), help="output folder (default: %(default)s)")
    p.add_argument("--crop", type=int, default=None, help="center crop (default: none, as in the paper's Table V)")
    p.add_argument("--scales", type=float_list, default=None, help="multi-scale table, e.g. 1,0.5,0.25")
    p.add_argument("--sizes", type=float_list, default=None, help="multi-scale table at sizes, e.g. 512,256,128,64")
    p.add_argument("--jpeg", type=float_list, default=None, help="JPEG quality sweep, e.g. 95,75,50")
    p.add_argument("--blur", type=float_list, default=None, help="blur sigma sweep, e.g. 1,2,3")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--no-afr", action="store_true", help="use the network's linear head instead of AFR")
    add_device_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars (shown only on a terminal anyway)")
    p.set_defaults(func=_run)
