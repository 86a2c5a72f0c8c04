"""SinGAN x4 super-resolution (Tang et al. §5.4, the shape of Table 4) on scikit-image photos: plain against
adaptive adversarial training of the discriminator, over several seeds.

Setup: the high-resolution reference HR is the photo resized (antialiased bicubic) so its longer side is
``--hr-size`` (default 256 px); the input LR is HR downscaled x4 the same way (64 px). ``hrr.gan.SinGAN`` trains on
LR alone: pyramid from 25 px up to LR's size with the target ratio 4^(-1/5) ~ 0.758, which the pyramid fits so the
coarsest scale is 25 px (for 64 px: 25, 34, 47, 64, ratio 1/1.36); reconstruction weight 100 (the paper's alpha
for SR), ``--iters`` iterations per scale (the paper: about 2000), every other setting ``SinGANConfig``'s default.
``SinGAN.super_resolve(4)`` then upsamples LR k times by 4^(1/k), k the step count closest to the pyramid's ratio
(4 steps of 1.41 for 64 px, against the trained 1.36; printed below), each time with fresh noise, through the
finest generator. (The paper's r = s^(1/k) matches the two exactly; ``min_size=28`` would, a change not yet run.)

Scores against HR, in 0-255 units: RMSE and PSNR. The bicubic row upsamples LR with the resize the model itself
uses (what the generator must improve on). "rec RMSE" is the model's fixed-noise reconstruction of LR against LR
(how well the finest generator fits its one image). NIQE, the paper's second metric, is not computed: no NIQE
implementation ships with this project's dependencies.

Tables: per photo, mean [95 % t-interval] over seeds; each method against "none" paired by (photo, seed): the mean
difference with a 95 % t-interval ("no difference" when it holds 0); the adaptive rule's PGD / FGM choices and mean
W_sigma per scale. Figure: ``<out>/singan_sr.png``, per photo HR, bicubic and each method (first seed). Runs are
cached as JSON (+ the SR image as PNG) in ``--cache-dir``; ``--jobs N`` trains N runs at once, one thread each.

    python benchmarks/bench_singan_sr.py --photos astronaut --seeds 0 1 2 --jobs 2
    python benchmarks/bench_singan_sr.py --quick        # smoke run (about 1 min)
"""

from __future__ import annotations

import argparse
import math
import time
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
    t_interval,
    use_quick_folders,
    verdict,
)

from hrr._io import atomic_path
from hrr.gan._singan_nets import sr_step_count

FACTOR = 4
SCALE_FACTOR = FACTOR ** (-1 / 5)  # the target pyramid ratio; the pyramid fits it to min_size (see above)
METHODS = ("none", "fgm", "pgd", "adaptive")
BASELINE = "none"


def hr_lr(photo: str, hr_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """HR (1, 3, H, W) and LR = HR / 4, both in [0, 1], from ``skimage.data.<photo>()``."""
    import skimage.data

    from hrr.gan._singan_nets import _resize, _to_model_range

    full = _to_model_range(getattr(skimage.data, photo)())
    h, w = full.shape[-2:]
    scale = hr_size / max(h, w)
    shape = (round(h * scale / FACTOR) * FACTOR, round(w * scale / FACTOR) * FACTOR)
    hr = _resize(full, shape)
    lr = _resize(hr, (shape[0] // FACTOR, shape[1] // FACTOR))
    return (hr + 1) / 2, (lr + 1) / 2


def rmse_psnr(x: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """RMSE in 0-255 units and PSNR in dB of two [0, 1] images."""
    rmse = float(((x - ref) ** 2).mean().sqrt()) * 255
    return rmse, 20 * math.log10(255 / rmse) if rmse > 0 else float("inf")


def bicubic(lr: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    from hrr.gan._singan_nets import _resize

    return (_resize(lr * 2 - 1, shape) + 1) / 2


def train_one(job: dict) -> dict:
    from hrr.gan import SinGAN

    torch.set_num_threads(1)
    hr, lr = hr_lr(job["photo"], job["hr_size"])
    start = time.perf_counter()
    model = SinGAN(max_size=max(lr.shape[-2:]), min_size=25, scale_factor=SCALE_FACTOR,
                   rec_weight=100.0, iters_per_scale=job["iters"], regularizer=job["method"])
    model.train(lr[0], seed=job["seed"], progress=False)
    seconds = time.perf_counter() - start
    sr = model.super_resolve(FACTOR, seed=job["seed"])
    if sr.shape != hr.shape:  # the pyramid rounds sizes; score on HR's grid
        sr = bicubic(sr, tuple(hr.shape[-2:]))
    rmse, psnr = rmse_psnr(sr, hr)
    rec = float(((model.reconstruct() - model.real_image()) ** 2).mean().sqrt()) * 255
    adaptive = [h for h in model.history if "pgd_calls" in h]
    _save_png(sr, Path(job["png"]))
    return {"photo": job["photo"], "method": job["method"], "seed": job["seed"], "rmse": rmse, "psnr": psnr,
            "rec_rmse": rec, "seconds": seconds, "shapes": model.shapes,
            "pgd": sum(h["pgd_calls"] for h in adaptive), "fgm": sum(h["fgm_calls"] for h in adaptive),
            "w_sigma": [h["mean_w_sigma"] for h in adaptive],
            "threshold": adaptive[0]["threshold"] if adaptive else None}


def _save_png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    arr = (image[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, "PNG")


def _load_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def plot(panels: list[tuple[str, list[tuple[str, np.ndarray]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncol = max(len(row) for _, row in panels)
    fig, axes = plt.subplots(len(panels), ncol, figsize=(2.6 * ncol, 2.7 * len(panels)), squeeze=False)
    for i, (photo, row) in enumerate(panels):
        for j in range(ncol):
            ax = axes[i, j]
            ax.axis("off")
            if j < len(row):
                title, img = row[j]
                ax.imshow(img)
                ax.set_title(title if j else f"{photo}: {title}", fontsize=8)
    fig.tight_layout(pad=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=["astronaut", "coffee", "chelsea"],
                        help="skimage.data photo names (default: %(default)s)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=[BASELINE, "adaptive"], choices=METHODS)
    parser.add_argument("--iters", type=int, default=2000, help="iterations per scale (default: %(default)s)")
    parser.add_argument("--hr-size", type=int, default=256, help="longer side of HR in px (default: %(default)s)")
    add_study_arguments(parser, "bench_singan_sr", "astronaut, seeds 0 1, 30 iterations, about 1 min")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.seeds, args.iters = ["astronaut"], [0, 1], 30
        use_quick_folders(args)
    emit(environment_header("bench_singan_sr: SinGAN x4 super-resolution, plain vs adaptive D training", args))
    cache = Path(args.cache_dir)
    jobs = []
    for photo in args.photos:
        for seed in args.seeds:
            for method in args.methods:
                settings = {"photo": photo, "seed": seed, "method": method, "iters": args.iters,
                            "hr_size": args.hr_size, "version": 1}
                key = settings_key(settings)
                jobs.append({**settings, "key": key, "png": str(cache / f"{key}.png")})
    found, line = run_cached(jobs, train_one, args.cache_dir, args.jobs, train=not args.no_train)
    emit(f"\n{line}\n")
    runs = [r for r in found if r is not None]
    if not runs:
        return

    rows, panels = [], []
    refs = {photo: hr_lr(photo, args.hr_size) for photo in args.photos}
    for photo in args.photos:
        hr, lr = refs[photo]
        up = bicubic(lr, tuple(hr.shape[-2:]))
        b_rmse, b_psnr = rmse_psnr(up, hr)
        rows.append([photo, "bicubic", "-", f"{b_rmse:.2f}", f"{b_psnr:.2f}", "-", "-", "-"])
        to_img = lambda t: (t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
        row = [("HR", to_img(hr)), (f"bicubic {b_psnr:.2f} dB", to_img(up))]
        for method in args.methods:
            mine = [r for r in runs if r["photo"] == photo and r["method"] == method]
            if not mine:
                continue
            calls = (f"{sum(r['pgd'] for r in mine)} / {sum(r['fgm'] for r in mine)}"
                     if method in ("adaptive",) else "-")
            rows.append([photo, method, len(mine), fmt_interval([r["rmse"] for r in mine], 2, (0, np.inf)),
                         fmt_interval([r["psnr"] for r in mine], 2), fmt_interval([r["rec_rmse"] for r in mine], 2,
                                                                                   (0, np.inf)),
                         calls, f"{np.mean([r['seconds'] for r in mine]):.0f} s"])
            first = next((r for r in mine if r["seed"] == args.seeds[0]), None)
            job = next(j for j in jobs if j["photo"] == photo and j["method"] == method
                       and j["seed"] == args.seeds[0])
            if first is not None and Path(job["png"]).exists():
                row.append((f"{method} {first['psnr']:.2f} dB", _load_png(Path(job["png"]))))
        panels.append((photo, row))
    emit(markdown_table(["photo", "method", "seeds", "RMSE (0-255, lower is better)", "PSNR dB",
                         "rec RMSE (LR vs its reconstruction, 0-255)",
                         "PGD / FGM calls", "train time per run"], rows))

    base = {(r["photo"], r["seed"]): r for r in runs if r["method"] == BASELINE}
    diffs = []
    for method in args.methods:
        if method == BASELINE:
            continue
        pairs = [(r, base[(r["photo"], r["seed"])]) for r in runs
                 if r["method"] == method and (r["photo"], r["seed"]) in base]
        if len(pairs) < 2:
            continue
        cells = [method, len(pairs)]
        for name, lower in (("rmse", True), ("psnr", False)):
            mean, lo, hi = t_interval([a[name] - b[name] for a, b in pairs])
            cells.append(f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}] {verdict(lo, hi, lower)}")
        diffs.append(cells)
    if diffs:
        emit(f"\nAgainst '{BASELINE}', paired by (photo, seed): mean difference [95 % t-interval]\n")
        emit(markdown_table(["method", "pairs", "RMSE difference", "PSNR difference (dB)"], diffs))
    sigmas = [r for r in runs if r["w_sigma"]]
    if sigmas:
        emit(f"\nAdaptive rule: threshold kappa/(2 alpha) = {sigmas[0]['threshold']:.3f}; mean W_sigma per scale "
             "(coarsest first), per run:\n")
        emit(markdown_table(["photo", "seed", "mean W_sigma per scale", "PGD / FGM calls"],
                            [[r["photo"], r["seed"], ", ".join(f"{s:.3f}" for s in r["w_sigma"]),
                              f"{r['pgd']} / {r['fgm']}"] for r in sigmas]))
    shapes = runs[0]["shapes"]
    if len(shapes) > 1:
        k = sr_step_count(shapes, FACTOR, SCALE_FACTOR)
        emit(f"\nPyramid (LR, coarsest first): {shapes}, ratio {shapes[-1][0] / shapes[-2][0]:.3f}; "
             f"super_resolve({FACTOR}): {k} steps of x{FACTOR ** (1 / k):.3f}")
    path = Path(args.out) / "singan_sr.png"
    plot(panels, path)
    emit(f"Figure: {path}")


if __name__ == "__main__":
    main()
