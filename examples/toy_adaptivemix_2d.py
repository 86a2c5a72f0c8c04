"""AdaptiveMix on the 2-D toys of Liu et al. (Fig. 3): nine Gaussians and three circles, WGAN-GP with and without it.

The discriminator is D = J ∘ F with F an MLP and J the averaging operator (Eq. 6, ``hrr.gan.MeanHead``).
Both runs use the same seed, architecture, optimiser and number of steps; the only difference is the
AdaptiveMix term ``+ weight · L_ada`` (Eq. 2, real–fake pairs, L2, σ = 0.05, λ ~ Beta(1, 1)) in the D loss.

Printed per dataset and method:

* modes covered: nine Gaussians: Gaussians receiving >= 1 % of the samples within 3σ of their centre;
  three circles: (circle, 10°-sector) cells receiving >= 0.2 % of the samples within 3σ of the circle, out of 108;
* high quality: % of samples within 3σ of a mode (centre or circle);
* SWD: 2-D sliced Wasserstein-2 distance between 10 000 samples and 10 000 data points (lower is better);
* Lipschitz ratio of F (Liu et al., Table 3) on real points.

Writes ``<out>/toy_<dataset>.png``: data, samples, and the discriminator's output ("confidence map") over
[−2, 2]².

    python examples/toy_adaptivemix_2d.py                       # both toys, 4 trainings of 1500 G steps
    python examples/toy_adaptivemix_2d.py --quick               # 400 G steps
    python examples/toy_adaptivemix_2d.py --datasets circles    # one toy

Measured on the idle 2-core development machine (defaults, 2 threads): 95 s for the four trainings.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from hrr._io import atomic_path
from hrr.gan import AdaptiveMix, MeanHead, gradient_penalty, lipschitz_ratio

GAUSS_STD = 0.05
CIRCLE_STD = 0.02
RADII = (0.5, 1.0, 1.5)
CENTERS = [(x, y) for x in (-1.5, 0.0, 1.5) for y in (-1.5, 0.0, 1.5)]


def sample_data(name: str, n: int, gen: torch.Generator) -> torch.Tensor:
    if name == "gaussians":
        idx = torch.randint(0, 9, (n,), generator=gen)
        return torch.tensor(CENTERS)[idx] + GAUSS_STD * torch.randn(n, 2, generator=gen)
    idx = torch.randint(0, 3, (n,), generator=gen)
    r = torch.tensor(RADII)[idx] + CIRCLE_STD * torch.randn(n, generator=gen)
    theta = 2 * math.pi * torch.rand(n, generator=gen)
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)


def mode_stats(name: str, pts: torch.Tensor) -> tuple[int, int, float]:
    """(modes covered, total modes, % high-quality samples)."""
    if name == "gaussians":
        d = torch.cdist(pts, torch.tensor(CENTERS))
        dmin, arg = d.min(dim=1)
        good = dmin < 3 * GAUSS_STD
        counts = torch.bincount(arg[good], minlength=9)
        return int((counts >= 0.01 * len(pts)).sum()), 9, 100.0 * float(good.float().mean())
    rad = pts.norm(dim=1)
    dr = (rad.unsqueeze(1) - torch.tensor(RADII)).abs()
    dmin, arg = dr.min(dim=1)
    good = dmin < 3 * CIRCLE_STD
    sector = ((torch.atan2(pts[:, 1], pts[:, 0]) + math.pi) / (2 * math.pi) * 36).long().clamp(0, 35)
    cells = torch.bincount((arg * 36 + sector)[good], minlength=108)
    return int((cells >= 0.002 * len(pts)).sum()), 108, 100.0 * float(good.float().mean())


def sliced_wasserstein_2d(a: torch.Tensor, b: torch.Tensor, n_proj: int = 256, seed: int = 0) -> float:
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(2, n_proj, generator=gen, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    pa = torch.sort(a.double() @ theta, dim=0).values
    pb = torch.sort(b.double() @ theta, dim=0).values
    return float((pa - pb).pow(2).mean().sqrt())


class Critic(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(2, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                                      nn.LeakyReLU(0.2), nn.Linear(width, width))
        self.head = MeanHead()  # J = averaging operator (Eq. 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def make_generator(width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 2))


def train(name: str, use_mix: bool, args: argparse.Namespace, seed: int) -> tuple[nn.Module, Critic]:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        G, D = make_generator(args.width), Critic(args.width)
    gen = torch.Generator().manual_seed(seed + 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.9))
    mix = AdaptiveMix(noise_std=0.05, alpha=1.0, distance="l2", pairing="real_fake")
    bar = tqdm(range(args.iters), desc=f"{name} {'+AdaptiveMix' if use_mix else 'WGAN-GP'}", leave=False,
               disable=not args.progress)
    for _ in bar:
        for _ in range(args.d_steps):
            real = sample_data(name, args.batch, gen)
            with torch.no_grad():
                fake = G(torch.randn(args.batch, 2, generator=gen))
            loss_d = D(fake).mean() - D(real).mean() + args.gp * gradient_penalty(D, real, fake, generator=gen)
            if use_mix:
                loss_d = loss_d + args.mix_weight * mix(D.features, real, fake, generator=gen)  # Eq. 6
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        D.requires_grad_(False)
        loss_g = -D(G(torch.randn(args.batch, 2, generator=gen))).mean()
        D.requires_grad_(True)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    return G, D


def plot(name: str, data: torch.Tensor, results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = torch.linspace(-2, 2, 121)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    pts = torch.stack([gx.flatten(), gy.flatten()], dim=1)
    fig, axes = plt.subplots(2, 1 + len(results), figsize=(3.0 * (1 + len(results)), 6.0), dpi=70)
    axes[0, 0].scatter(data[:2000, 0], data[:2000, 1], s=1, c="k")
    axes[0, 0].set_title("data")
    axes[1, 0].axis("off")
    for col, (label, res) in enumerate(results.items(), start=1):
        s = res["samples"][:2000]
        axes[0, col].scatter(s[:, 0], s[:, 1], s=1, c="tab:blue")
        axes[0, col].set_title(f"{label}\nmodes {res['covered']}/{res['total']}, SWD {res['swd']:.3f}", fontsize=8)
        with torch.no_grad():
            conf = res["D"](pts).view(121, 121)
        conf = (conf - conf.mean()) / conf.std().clamp_min(1e-12)
        im = axes[1, col].imshow(conf.numpy(), extent=(-2, 2, -2, 2), origin="lower", cmap="viridis")
        axes[1, col].scatter(data[:500, 0], data[:500, 1], s=0.3, c="w")
        axes[1, col].set_title("D output (standardised)", fontsize=8)
        fig.colorbar(im, ax=axes[1, col], fraction=0.046)
    for ax in axes.flat:
        ax.set_xlim(-2, 2)
        ax.set_ylim(-2, 2)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img", help="folder for the PNGs (default: %(default)s)")
    parser.add_argument("--iters", type=int, default=1500, help="generator steps (default: %(default)s)")
    parser.add_argument("--d-steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--datasets", nargs="+", default=["gaussians", "circles"], choices=["gaussians", "circles"])
    parser.add_argument("--gp", type=float, default=10.0, help="gradient-penalty weight (default: %(default)s)")
    parser.add_argument("--mix-weight", type=float, default=1.0, help="AdaptiveMix weight (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="400 generator steps")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args()
    if args.quick:
        args.iters = 400
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    eval_gen = torch.Generator().manual_seed(12345)
    print("| dataset | method | seed | modes covered | high quality % | SWD | Lipschitz ratio F | time |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.datasets:
        data = sample_data(name, 10_000, eval_gen)
        results = {}
        for seed in args.seeds:
            for use_mix in (False, True):
                label = "WGAN-GP + AdaptiveMix" if use_mix else "WGAN-GP"
                t0 = time.perf_counter()
                G, D = train(name, use_mix, args, seed)
                with torch.no_grad():
                    samples = G(torch.randn(10_000, 2, generator=torch.Generator().manual_seed(99)))
                covered, total, hq = mode_stats(name, samples)
                swd = sliced_wasserstein_2d(samples, data)
                lip = float(lipschitz_ratio(D.features, data[:2000], generator=torch.Generator().manual_seed(0)))
                dt = time.perf_counter() - t0
                print(f"| {name} | {label} | {seed} | {covered}/{total} | {hq:.1f} | {swd:.4f} | {lip:.3f} | "
                      f"{dt:.0f} s |", flush=True)
                if seed == args.seeds[0]:
                    results[label] = {"samples": samples, "D": D, "covered": covered, "total": total, "swd": swd}
        plot(name, data, results, out / f"toy_{name}.png")
    print("pictures: " + ", ".join(str(out / f"toy_{name}.png") for name in args.datasets))


if __name__ == "__main__":
    main()
