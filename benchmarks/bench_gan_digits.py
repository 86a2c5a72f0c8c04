"""A data-limited image GAN: a DCGAN on scikit-learn's digits with and without AdaptiveMix and adaptive FGM/PGD.

Setup (``hrr.gan._digits``): 16 x 16 greyscale digits in [-1, 1]; the GAN trains on ``--n-train`` images (default
500, the regime AdaptiveMix targets) drawn from a stratified half of the data; the non-saturating DCGAN loss,
Adam 2e-4 (0.5, 0.999), batch 64, one D step per G step, ``--iters`` G steps.

Score: Frechet distance between 1000 samples (fixed noise) and the other half of the data, in the 128-d
penultimate features of a CNN classifier trained here on the training half (its held-out accuracy is printed).
**It is not FID** (no Inception network): compare its values only with each other. Floor: the training half
against the reference half.

Methods: the plain DCGAN; ``+ AdaptiveMix(weight=w)(D.features, real, fake)`` in D's loss (real-fake pairs, L2,
sigma 0.05) at each ``--mix-weights``; D trained on adversarially perturbed real and fake batches (Tang et al.,
Alg. 1) with the adaptive rule (PGD-3 while the head's W_sigma < ``--adv-threshold``, else FGM), and optionally
FGM or PGD alone (``--methods``). Radius 0.05 and PGD step 0.02 per pixel (RMS).

Tables: mean [95 % t-interval, cut at 0 (marked *)] over seeds, each method against the plain DCGAN (Welch interval
of the difference; "no difference" when it contains 0), the score over training. Figures:
``<out>/gan_digits_samples.png`` (seed ``--seeds[0]``) and ``<out>/gan_digits_curves.png`` (score over training,
mean and seed range). Runs are cached as JSON in ``--cache-dir``; ``--jobs N`` trains N runs at once, one thread
each.

    python benchmarks/bench_gan_digits.py --jobs 2       # 3 seeds
    python benchmarks/bench_gan_digits.py --quick        # smoke run (1-2 min)
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from functools import lru_cache
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
from hrr.gan._digits import (
    DigitGANSpec,
    classifier_features,
    digit_splits,
    frechet_distance,
    train_digit_classifier,
    train_digit_gan,
)

BASELINE = "dcgan"


@lru_cache(maxsize=1)
def _scorer() -> tuple:
    """Data, the feature classifier and the reference features (built once per process, deterministic)."""
    train_x, train_y, ref_x, ref_y = digit_splits(seed=0)
    classifier = train_digit_classifier(train_x, train_y, seed=0)
    with torch.no_grad():
        accuracy = float((classifier(ref_x).argmax(1) == ref_y).float().mean())
    reference = classifier_features(classifier, ref_x)
    floor = frechet_distance(classifier_features(classifier, train_x), reference)
    return train_x, classifier, reference, accuracy, floor


def train_one(job: dict) -> dict:
    torch.set_num_threads(1)
    train_x, classifier, reference, _, _ = _scorer()
    run = train_digit_gan(DigitGANSpec(**job["spec"]), train_x, job["seed"], eval_every=job["eval_every"],
                          score=lambda r: frechet_distance(classifier_features(classifier, r.samples(1000)),
                                                           reference))
    out = run.summary()
    out["method"] = job["method"]
    out["samples"] = run.samples(32).squeeze(1).tolist()
    return out


def _applies(field: str, regularizer: str) -> bool:
    """Whether a DigitGANSpec field is a setting of this regularizer's run (the settings table shows "-" if not)."""
    if field == "mix_weight":
        return regularizer == "adaptivemix"
    if field == "adv_threshold":
        return regularizer == "adaptive"
    if field in ("adv_step", "adv_steps"):
        return regularizer in ("pgd", "adaptive")
    if field == "adv_eps":
        return regularizer in ("fgm", "pgd", "adaptive")
    return True


def methods_to_run(args: argparse.Namespace) -> dict[str, DigitGANSpec]:
    base = DigitGANSpec(iters=args.iters, n_train=args.n_train)
    methods = {BASELINE: base}
    for weight in args.mix_weights:
        methods[f"adaptivemix (w={weight:g})"] = base.__class__(**{**asdict(base), "regularizer": "adaptivemix",
                                                                  "mix_weight": weight})
    for name in args.methods:
        methods[name] = base.__class__(**{**asdict(base), "regularizer": name, "adv_threshold": args.adv_threshold})
    return methods


def plot(runs: dict[str, list[dict]], first: dict[str, dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(first), 1, figsize=(8, 1.15 * len(first) + 0.4), dpi=90, squeeze=False)
    for ax, (method, run) in zip(axes[:, 0], first.items(), strict=True):
        images = np.asarray(run["samples"])[:16]
        ax.imshow(np.concatenate(list(images), axis=1), cmap="gray", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(method, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_title(f"Frechet distance (classifier features) {run['score']:.1f}", fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "gan_digits_samples.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=90)
    for method, seeds in runs.items():
        steps = [h[0] for h in seeds[0]["history"]]
        values = np.array([[h[1] for h in r["history"]] for r in seeds])
        ax.plot(steps, values.mean(0), label=method)
        ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2)
    ax.set_xlabel("generator steps")
    ax.set_ylabel("Frechet distance in classifier features\n(not FID; lower is better)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("mean over seeds; band: seed range", fontsize=9)
    fig.tight_layout()
    with atomic_path(out / "gan_digits_curves.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iters", type=int, default=5000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--mix-weights", nargs="*", type=float, default=[1.0, 0.1])
    parser.add_argument("--methods", nargs="*", default=["adaptive"], choices=["adaptive", "fgm", "pgd"])
    parser.add_argument("--adv-threshold", type=float, default=3.35,
                        help="W_sigma threshold kappa/(2 alpha) (default %(default)s: the median of the plain "
                             "DCGAN's W_sigma over training, seeds 0-2; docs/regularizers.md section 8.5)")
    add_study_arguments(parser, "bench_gan_digits", "2 seeds, 100 steps, 1-2 min")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.iters, args.eval_every = [0, 1], 100, 50
        use_quick_folders(args)
    methods = methods_to_run(args)
    emit(environment_header("bench_gan_digits: DCGAN on digits, Frechet distance in classifier features", args))
    emit(markdown_table(["method", *asdict(DigitGANSpec()).keys()],
                        [[m, *(v if _applies(k, s.regularizer) else "-" for k, v in asdict(s).items())]
                         for m, s in methods.items()]))
    _, _, _, accuracy, floor = _scorer()
    emit(f"\nFeature classifier: held-out accuracy {accuracy:.3f}; floor (training half vs reference half): "
         f"{floor:.2f}.\n")
    jobs = [{"key": settings_key({"spec": asdict(spec), "seed": seed, "eval_every": args.eval_every, "version": 2}),
             "method": method, "spec": asdict(spec), "seed": seed, "eval_every": args.eval_every}
            for seed in args.seeds for method, spec in methods.items()]
    found, line = run_cached(jobs, train_one, args.cache_dir, args.jobs, train=not args.no_train)
    emit(f"{line}\n")
    runs: dict[str, list[dict]] = {}
    for job, out in zip(jobs, found, strict=True):
        if out is not None:
            runs.setdefault(job["method"], []).append(out)
    # the lowest score at any evaluation and its step, per run: (step, score, W_sigma) rows of the history
    best_at = {m: [min(r["history"], key=lambda h: h[1])[:2] for r in seeds] for m, seeds in runs.items()}
    best_of = {m: [score for _, score in best_at[m]] for m in runs}
    base_best = best_of.get(BASELINE, [])
    rows = []
    for method, seeds in runs.items():
        scores = [r["score"] for r in seeds]
        attacks = {k: sum(r["attacks"].get(k, 0) for r in seeds) for k in ("pgd", "fgm")}
        best, best_steps = best_of[method], [step for step, _ in best_at[method]]
        rows.append([method, len(seeds), fmt_interval(scores, 2, (0, np.inf)), f"{min(scores):.2f}-{max(scores):.2f}",
                     welch_difference(scores, [r["score"] for r in runs[BASELINE]], 2, True)
                     if method != BASELINE and BASELINE in runs else "-",
                     f"{fmt_interval(best, 2, (0, np.inf))} (steps {', '.join(map(str, best_steps))})",
                     welch_difference(best, base_best, 2, True) if method != BASELINE and base_best else "-",
                     f"{attacks['pgd']} / {attacks['fgm']}" if any(attacks.values()) else "-",
                     f"{np.mean([r['seconds'] for r in seeds]):.0f} s"])
    emit(markdown_table(["method", "seeds", "Frechet distance at the end (lower is better)", "range",
                         f"vs {BASELINE} (95 % Welch interval)", "best during training (at steps)",
                         f"best vs {BASELINE}", "PGD / FGM calls", "time per run"], rows))
    attacks = [m for m in ("adaptive", "fgm", "pgd") if m in runs]
    pairs = [(a, b) for i, a in enumerate(attacks) for b in attacks[i + 1:]]
    if pairs:  # does the attack, and so the adaptive rule's choice, matter?
        emit("\nThe D attacks against each other (95 % Welch interval of the difference of means):\n")
        emit(markdown_table(["method", "against", "at the end", "best during training"],
                            [[b, a, welch_difference([r["score"] for r in runs[b]], [r["score"] for r in runs[a]],
                                                     2, True),
                              welch_difference(best_of[b], best_of[a], 2, True)] for a, b in pairs]))
    emit("\nOver training (mean over seeds; step: Frechet distance / W_sigma of D's head, the adaptive rule's input):"
         "\n")
    emit(markdown_table(["method", "step: Frechet distance / W_sigma"],
                        [[m, "; ".join(f"{h[0]}: {np.mean([r['history'][i][1] for r in s]):.1f} / "
                                        f"{np.mean([r['history'][i][2] for r in s]):.3f}"
                                        for i, h in enumerate(s[0]["history"]))] for m, s in runs.items()]))
    first = {m: s[0] for m, s in runs.items() if s[0]["seed"] == args.seeds[0]}
    if first:
        plot(runs, first, Path(args.out))
        emit(f"\nFigures: {Path(args.out) / 'gan_digits_samples.png'}, {Path(args.out) / 'gan_digits_curves.png'}")


if __name__ == "__main__":
    main()
