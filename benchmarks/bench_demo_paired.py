"""Paired differences between the `hrr demo` benchmark's variants, per generator family, from its output folder.

`hrr demo` reports each variant's mean over seeds with its own interval. The variants of one seed share the data,
the generators and (for w/o AFR and HRR, or baseline and w/o MSR) the network, so the question "is HRR better than
the baseline" is answered more sharply by the per-seed difference: this script reads
``<out>/benchmark/seed*/eval/<variant>/metrics.json`` (written by ``hrr demo``, test scale 1) and prints, per group
of generators, each variant minus the baseline in AP points: the mean over seeds with its 95 % Student-t interval
("no difference" when it holds 0) and the per-seed values.

Usage::

    hrr demo --out OUT
    python benchmarks/bench_demo_paired.py OUT
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import t

GROUPS = {
    "held-out, not diffusion (upconv, singan, vae)": ("upconv", "singan", "vae"),
    "held-out, diffusion (ddpm, ddpm-i2i)": ("ddpm", "ddpm-i2i"),
    "held-out, all five": ("upconv", "singan", "vae", "ddpm", "ddpm-i2i"),
    "training generator (tconv)": ("tconv",),
}
VARIANTS = {"w/o AFR": "wo_AFR", "w/o MSR": "wo_MSR", "HRR": "HRR"}


def mean_ap(folder: Path, generators: tuple[str, ...]) -> float:
    rows = {r["group"]: r for r in json.loads((folder / "metrics.json").read_text())}
    return float(np.mean([rows[g]["ap"] for g in generators]))


def interval(values: list[float]) -> tuple[float, float, float]:
    x = np.asarray(values)
    half = t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else 0.0
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the --out folder of a finished `hrr demo`")
    args = parser.parse_args()
    seeds = sorted(args.out.glob("benchmark/seed*/eval"), key=lambda p: int(p.parent.name[4:]))
    if not seeds:
        raise SystemExit(f"{args.out} holds no benchmark/seed*/eval folders; run `hrr demo --out {args.out}` first")
    print(f"AP difference to the baseline (points), test scale 1, {len(seeds)} seeds "
          f"({', '.join(p.parent.name for p in seeds)}): mean [95 % t interval]; per seed\n")
    print("| generators | variant | variant - baseline | verdict | per seed |")
    print("|---|---|---|---|---|")
    for title, generators in GROUPS.items():
        for name, folder in VARIANTS.items():
            diffs = [100 * (mean_ap(s / folder, generators) - mean_ap(s / "baseline", generators)) for s in seeds]
            mean, lo, hi = interval(diffs)
            verdict = "no difference" if lo <= 0 <= hi else ("better" if lo > 0 else "worse")
            per_seed = ", ".join(f"{d:+.1f}" for d in diffs)
            print(f"| {title} | {name} | {mean:+.1f} [{lo:+.1f}, {hi:+.1f}] | {verdict} | {per_seed} |")


if __name__ == "__main__":
    main()
