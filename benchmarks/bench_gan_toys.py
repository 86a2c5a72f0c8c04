"""The 2-D toys of AdaptiveMix (Liu et al., Fig. 3) over several seeds: converged baselines against AdaptiveMix.

Methods (``hrr.gan._toy2d.TOY_METHODS``; every setting is printed): the standard non-saturating GAN, plain and
with a gradient penalty (GP 1, lr 1e-3), WGAN-GP with a learned linear head (λ = 10; and ``wgan-gp1``, λ = 1, on
request: it converges 7-8 times sooner on the Gaussians but fills the circles' disk), WGAN-GP with the averaging
head J of Eq. 6, AdaptiveMix as Eq. 6 states it (WGAN critic loss with J, plus ``min_F E[L_ada]``) with and without the
gradient penalty, and AdaptiveMix dropped into the linear-head WGAN-GP and into the standard GAN with GP.
``--mix-weights`` adds AdaptiveMix rows at other weights (the default weight is chosen from them, see
docs/regularizers.md; ``--only-mix-weights`` drops the rows at the method's own weight). The three circles need a
weaker gradient penalty and more steps than the Gaussians (``hrr.gan._toy2d.TOY_DATASET_CHANGES``); the settings
table shows what each dataset's runs used.

Per (dataset, method, seed): modes covered, high-quality share and sliced Wasserstein distance (SWD) on 10 000
samples from fixed noise, scored every ``--eval-every`` generator steps; and how close the final critic is to an
affine function on [-2, 2]^2 (R^2 of the least-squares fit on a 61 x 61 grid, and that fit's slope).
Tables: mean [95 % t-interval, cut to the quantity's range, a cut end marked *] over seeds, and each method against
the converged baseline it extends (difference of means, Welch interval of the difference; "no difference" when it
contains 0). Figure: ``<out>/toy_<dataset>.png``, Fig. 3's layout (data, StdGAN, WGAN-GP, AdaptiveMix; samples on
top, the discriminator's confidence map below), seed ``--seeds[0]``.

Each run is cached as JSON in ``--cache-dir`` (keyed by dataset, settings and seed; written atomically), so a long
study can be run in pieces and re-printed; runs are deterministic under their seed on one machine and thread
count. ``--jobs N`` trains N runs at once, one thread each.

    python benchmarks/bench_gan_toys.py --jobs 2                       # 5 seeds, both toys, all but wgan-gp1*
    python benchmarks/bench_gan_toys.py --quick                        # smoke run: 2 seeds, 200 steps
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from _common import (
    add_study_arguments,
    emit,
    environment_header,
    fmt_interval,
    markdown_table,
    run_cached,
    settings_key,
    use_quick_folders,
    welch_difference,
)

from hrr._io import atomic_path
from hrr.gan._toy2d import (
    TOY_DATASETS,
    TOY_METHODS,
    ToyGANSpec,
    reference_points,
    sample_toy,
    sliced_wasserstein_2d,
    toy_mode_stats,
    toy_spec,
    train_toy_gan,
)

BASELINE_OF = {"wgan-gp-mean": "wgan-gp", "adaptivemix-gp": "wgan-gp-mean", "adaptivemix": "wgan-gp-mean",
               "wgan-gp-mix": "wgan-gp", "wgan-gp1-mix": "wgan-gp1", "stdgan-gp-mix": "stdgan-gp"}
# The figure's columns, each with its "(w=...)" variants when they were run
FIGURE_COLUMNS = ("stdgan", "stdgan-gp", "wgan-gp", "wgan-gp1", "adaptivemix-gp", "stdgan-gp-mix", "wgan-gp-mix",
                  "wgan-gp1-mix")
# WGAN-GP with λ = 1 is the Gaussians' fast configuration; on the circles λ = 1 fills the disk, so it is run on
# request only
DEFAULT_METHODS = [name for name in TOY_METHODS if not name.startswith("wgan-gp1")]
GRID = 61


def run_key(dataset: str, spec: ToyGANSpec, seed: int) -> str:
    settings = asdict(spec)
    if settings["mix_pairing"] == "real_fake":  # added later: runs cached before it keep their keys
        del settings["mix_pairing"]
    return settings_key({"dataset": dataset, "spec": settings, "seed": seed, "version": 3})  # 3: circles' coverage bar


def train_one(job: dict) -> dict:
    torch.set_num_threads(1)
    run = train_toy_gan(job["dataset"], ToyGANSpec(**job["spec"]), job["seed"], eval_every=job["eval_every"])
    out = run.summary()
    out["method"] = job["method"]
    out["samples"] = run.samples(2000).tolist()
    axis = torch.linspace(-2, 2, GRID)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    with torch.no_grad():
        out["critic_grid"] = run.critic(torch.stack([gx.flatten(), gy.flatten()], 1)).view(GRID, GRID).tolist()
    return out


def methods_to_run(args: argparse.Namespace, dataset: str) -> dict[str, ToyGANSpec]:
    methods: dict[str, ToyGANSpec] = {}
    for name in args.methods:
        spec = toy_spec(name, dataset)
        if args.iters:
            spec = spec.with_(iters=args.iters)
        methods[name] = spec
    mixing = [name for name in methods if methods[name].mix_weight]
    for weight in args.mix_weights:
        for name in mixing:
            methods[f"{name} (w={weight:g})"] = methods[name].with_(mix_weight=weight)
    if args.only_mix_weights:
        for name in mixing:
            del methods[name]
    for pairing in args.mix_pairings:
        for name in [m for m in methods if methods[m].mix_weight]:
            label = name.replace(")", f", {pairing})") if "(" in name else f"{name} ({pairing})"
            methods[label] = methods[name].with_(mix_pairing=pairing)
    return methods


def critic_linearity(grid: list[list[float]]) -> tuple[float, float]:
    """(R^2 of the best affine fit, its slope) of the critic's values on the [-2, 2]^2 grid: R^2 near 1 means a
    (nearly) linear critic, whose gradient is the same everywhere, so it never pulls samples back."""
    values = np.asarray(grid, dtype=np.float64).ravel()
    axis = np.linspace(-2, 2, GRID)
    gx, gy = np.meshgrid(axis, axis, indexing="xy")
    design = np.c_[gx.ravel(), gy.ravel(), np.ones(values.size)]
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    spread = values.var()
    r2 = 1.0 - (values - design @ coef).var() / spread if spread > 0 else 1.0
    return float(r2), float(np.hypot(coef[0], coef[1]))


def plot(dataset: str, runs: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.special import expit

    data = reference_points(dataset, 2000).numpy()
    cols = [m for base in FIGURE_COLUMNS for m in runs if m == base or m.startswith(f"{base} (")]
    fig, axes = plt.subplots(2, 1 + len(cols), figsize=(2.6 * (1 + len(cols)), 5.4), dpi=90, squeeze=False)
    axes[0, 0].scatter(data[:, 0], data[:, 1], s=1, c="k")
    axes[0, 0].set_title("data", fontsize=9)
    axes[1, 0].axis("off")
    titles = {"stdgan": "StdGAN", "stdgan-gp": "StdGAN + GP", "wgan-gp": "WGAN-GP",
              "adaptivemix-gp": "AdaptiveMix (+GP)", "adaptivemix": "AdaptiveMix (no GP)",
              "stdgan-gp-mix": "StdGAN + GP + AdaptiveMix", "wgan-gp-mix": "WGAN-GP + AdaptiveMix",
              "wgan-gp1": "WGAN-GP (λ = 1)", "wgan-gp1-mix": "WGAN-GP (λ = 1) + AdaptiveMix"}
    for col, method in enumerate(cols, start=1):
        run = runs[method]
        s = np.asarray(run["samples"])
        axes[0, col].scatter(s[:, 0], s[:, 1], s=1, c="tab:blue")
        base, _, variant = method.partition(" ")
        head = f"{titles[base]} {variant}".strip()
        if len(head) > 30:  # wider than its column: break before the last "+"
            before, _, after = head.rpartition(" + ")
            head = f"{before}\n+ {after}"
        axes[0, col].set_title(f"{head}\n{run['covered']}/{run['total']} modes, SWD {run['swd']:.3g}", fontsize=9)
        outside = float(np.mean(np.abs(s).max(axis=1) > 2.0))
        if outside > 0.5:
            note = f"diverged at step {run['diverged_at']}" if run["diverged_at"] else "stopped"
            axes[0, col].text(0, 0, f"{note}:\n{100 * outside:.0f} % of samples\noutside this window", ha="center",
                              va="center", fontsize=8)
        grid = np.asarray(run["critic_grid"])
        if run["spec"]["loss"] == "standard":
            conf, label = expit(grid), "D(x) = P(real)"  # logits reach 1e3 when AdaptiveMix flattens D
        else:  # a critic's scale is arbitrary: shown rescaled to [0, 1]
            conf, label = (grid - grid.min()) / max(grid.max() - grid.min(), 1e-12), "critic, rescaled to [0, 1]"
        im = axes[1, col].imshow(conf, extent=(-2, 2, -2, 2), origin="lower", cmap="viridis", vmin=0, vmax=1)
        axes[1, col].scatter(data[:300, 0], data[:300, 1], s=0.3, c="w")
        axes[1, col].set_title(label, fontsize=8)
        fig.colorbar(im, ax=axes[1, col], fraction=0.046, pad=0.02)
    for ax in axes.flat:
        ax.set_xlim(-2, 2)
        ax.set_ylim(-2, 2)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{dataset}: samples (top) and discriminator confidence (bottom)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(TOY_DATASETS), choices=TOY_DATASETS)
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(TOY_METHODS),
                        help="default: all but wgan-gp1 and wgan-gp1-mix (WGAN-GP with λ = 1, the Gaussians' fast "
                             "configuration; on the circles it fills the disk). Each *-mix method runs AdaptiveMix "
                             "at weight 1 unless --mix-weights / --only-mix-weights say otherwise")
    parser.add_argument("--mix-weights", nargs="*", type=float, default=[],
                        help="extra AdaptiveMix weights to run besides the method's own (default: none)")
    parser.add_argument("--only-mix-weights", action="store_true",
                        help="run AdaptiveMix only at --mix-weights, not also at the method's own weight")
    parser.add_argument("--mix-pairings", nargs="*", default=[], choices=["within", "separate"],
                        help="extra AdaptiveMix pairings to run besides real-fake (default: none)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--iters", type=int, default=None, help="generator steps for every method (default: each "
                        "method's own)")
    parser.add_argument("--eval-every", type=int, default=1000)
    add_study_arguments(parser, "bench_gan_toys", "seeds 0, 1; 200 steps; nine Gaussians; 1-2 min")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.iters, args.datasets, args.eval_every = [0, 1], 200, ["gaussians"], 100
        use_quick_folders(args)
    per_dataset = {dataset: methods_to_run(args, dataset) for dataset in args.datasets}
    emit(environment_header("bench_gan_toys: 2-D toys of AdaptiveMix (Fig. 3) over seeds", args))
    emit("Settings (Adam betas (0.5, 0.9); AdaptiveMix: L2, sigma = 0.05, Beta(1, 1), pairs as in mix_pairing):\n")
    emit(markdown_table(["dataset", "method", *asdict(ToyGANSpec()).keys()],
                        [[d, m, *asdict(s).values()] for d, ms in per_dataset.items() for m, s in ms.items()]))
    jobs = [{"key": run_key(dataset, spec, seed), "dataset": dataset, "method": method, "spec": asdict(spec),
             "seed": seed, "eval_every": args.eval_every}
            for seed in args.seeds for dataset in args.datasets
            for method, spec in per_dataset[dataset].items()]  # seed-major
    found, line = run_cached(jobs, train_one, args.cache_dir, args.jobs, train=not args.no_train)
    emit(f"\n{line}\n")
    results = {(job["dataset"], job["method"], job["seed"]): out for job, out in zip(jobs, found, strict=True)
               if out is not None}
    for dataset in args.datasets:
        total = next((r["total"] for (d, _, _), r in results.items() if d == dataset), None)
        if total is None:
            continue
        emit(f"### {dataset} ({total} modes), seeds {args.seeds}\n")
        rows, per_method = [], {}
        methods = per_dataset[dataset]
        for method in methods:
            runs = [results[dataset, method, s] for s in args.seeds if (dataset, method, s) in results]
            if not runs:
                continue
            per_method[method] = runs
            covered = [r["covered"] for r in runs]
            stable = [r for r in runs if r["diverged_at"] is None]
            diverged = [r["diverged_at"] for r in runs if r["diverged_at"] is not None]
            rows.append([method, len(runs), fmt_interval(covered, 1, (0, total)), f"{min(covered)}-{max(covered)}",
                         fmt_interval([r["high_quality"] for r in runs], 1, (0, 100)),
                         fmt_interval([r["swd"] for r in stable], 3, (0, np.inf)) if stable else "-",
                         f"{len(diverged)} (at steps {sorted(diverged)})" if diverged else "0",
                         f"{sum(9 * r['covered'] >= 8 * r['total'] for r in runs)}/{len(runs)}",
                         fmt_interval([critic_linearity(r["critic_grid"])[0] for r in runs], 2, (-np.inf, 1)),
                         f"{np.median([critic_linearity(r['critic_grid'])[1] for r in runs]):.3g}",
                         f"{np.mean([r['seconds'] for r in runs]):.0f} s"])
        floor = []
        for seed in args.seeds:  # the data itself, drawn afresh like a generator's 10 000 samples
            fresh = sample_toy(dataset, 10_000, torch.Generator().manual_seed(10_000 + seed))
            stats = toy_mode_stats(dataset, fresh)
            floor.append((stats.covered, stats.high_quality, sliced_wasserstein_2d(fresh, reference_points(dataset))))
        rows.append(["*floor: fresh draws of the data*", len(floor), fmt_interval([f[0] for f in floor], 1, (0, total)),
                     f"{min(f[0] for f in floor)}-{max(f[0] for f in floor)}",
                     fmt_interval([f[1] for f in floor], 1, (0, 100)),
                     fmt_interval([f[2] for f in floor], 3, (0, np.inf)), "-", "-", "-", "-", "-"])
        emit(markdown_table(["method", "seeds", "modes covered", "range", "high quality %",
                             "SWD (runs that did not diverge)", "diverged (SWD > 20, stopped)", ">= 8/9 of modes",
                             "critic: R^2 of an affine fit", "critic: its slope (median)", "time per run"], rows))
        rows = []
        for method, runs in per_method.items():
            base_name = BASELINE_OF.get(method.split(" ")[0])
            if base_name is None or base_name not in per_method:
                continue
            base = per_method[base_name]
            def diff(key: str, digits: int, lower_is_better: bool, runs=runs, base=base) -> str:
                return welch_difference([r[key] for r in runs], [r[key] for r in base], digits, lower_is_better)

            stable = all(r["diverged_at"] is None for r in runs + base)
            rows.append([method, base_name, diff("covered", 1, False), diff("high_quality", 1, False),
                         diff("swd", 3, True) if stable else "- (divergent runs)"])
        if rows:
            emit("\nAgainst the baseline each method extends (difference of means, 95 % Welch interval):\n")
            emit(markdown_table(["method", "baseline", "modes covered", "high quality %", "SWD"], rows))
        emit("\nScores over training (mean over seeds; step: modes / SWD; at most ~10 evaluated steps shown):\n")
        rows = []
        for method, runs in per_method.items():
            steps = [h[0] for h in max((r["history"] for r in runs), key=len)]
            cells = []
            stride = -(-len(steps) // 10)  # at most ~10 columns: every stride-th evaluation and the last
            for i, step in enumerate(steps):
                if i % stride != stride - 1 and i != len(steps) - 1:
                    continue
                alive = [r for r in runs if len(r["history"]) > i]
                cov = np.mean([r["history"][i][1] for r in alive])
                swd = np.mean([r["history"][i][3] for r in alive])
                note = f" ({len(alive)} runs)" if len(alive) < len(runs) else ""
                cells.append(f"{step}: {cov:.1f} / {swd:.3g}{note}")
            rows.append([method, "; ".join(cells)])
        emit(markdown_table(["method", "modes / SWD at each evaluated step"], rows))
        first = {m: results[dataset, m, args.seeds[0]] for m in methods if (dataset, m, args.seeds[0]) in results}
        figure = Path(args.out) / f"toy_{dataset}.png"
        plot(dataset, first, figure)
        emit(f"\nFigure (seed {args.seeds[0]}): {figure}\n")


if __name__ == "__main__":
    main()
