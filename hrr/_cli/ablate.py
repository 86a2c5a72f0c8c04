"""``hrr ablate``: baseline / w/o AFR / w/o MSR / HRR trained and evaluated on the same data (Table IV)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrr._cli._common import add_data_args, add_train_args, csv_list, load_training_data, model_kwargs, train_config


def _run(args: argparse.Namespace) -> int:
    from hrr._io import atomic_path
    from hrr.data import scan_dataset
    from hrr.detect import run_ablation, to_markdown

    if not args.msr:
        raise ValueError("--msr is required: pass the output folder of `hrr regenerate` (the MSR variants train on it)")
    train, val, msr = load_training_data(args)
    try:
        test = scan_dataset(args.test, split="test", groups=args.test_groups)
    except ValueError:
        test = scan_dataset(args.test, groups=args.test_groups)
    result = run_ablation(train, test, args.out, msr_samples=msr, val_samples=val, config=train_config(args),
                          device=args.device, progress=args.progress, **model_kwargs(args))
    blocks = []
    for metric in ("acc", "ap"):
        rows = []
        for variant, res in result.results.items():
            row = {"variant": variant}
            row.update({r["group"]: r[metric] for r in res.table()})
            rows.append(row)
        blocks.append(f"### {metric.upper()} (%)\n\n" + to_markdown(rows))
    text = "\n\n".join(blocks)
    with atomic_path(Path(args.out) / "ablation.md") as tmp:
        tmp.write_text(text + "\n")
    for variant, res in result.results.items():
        res.save(Path(args.out) / "eval" / variant.replace("/", "").replace(" ", "_"))
    print(text)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ablate", help="Table IV ablation: baseline / w/o AFR / w/o MSR / HRR on the same data")
    add_data_args(p)
    p.add_argument("--test", type=Path, required=True, help="test root, evaluated per generator")
    p.add_argument("--test-groups", type=csv_list, default=None, help="only these test generators")
    p.add_argument("--out", type=Path, required=True, help="output folder (runs, tables)")
    add_train_args(p)
    p.set_defaults(func=_run)
