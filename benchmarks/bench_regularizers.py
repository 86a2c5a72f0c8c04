"""Discriminator step time with each hrr.gan regularizer vs the plain step (same model, batch, process).

Two critics:

* DCGAN-like: 4 strided convs with BatchNorm (3×32×32 → 1), batch 64 real + 64 fake, WGAN-GP λ = 10;
* SinGAN-like: 5 conv3×3 blocks, 32 channels, BatchNorm, patch critic on one 3×64×64 image, WGAN-GP λ = 0.1.

A step = forward on real and fake, the critic loss, the gradient penalty, backward, Adam step. The
regularised steps add: FGM / PGD-k on both the real and the fake batch (L2), AdaptiveAdversarial (forced to each
branch with κ, plus its W_σ refresh), AdaptiveMix (real–fake pairs; "reuse" passes F(real), F(fake) from the main
pass, "full" recomputes them). "W_σ estimate" times one warm power-iteration refresh of every layer alone, as a
share of the plain step. Targets (issue 4): AdaptiveMix <= 1.6x, FGM <= 2.2x, PGD-k <= (k + 1.3)x, W_σ <= 5 %.

Run: python benchmarks/bench_regularizers.py [--quick] [--repeats 15]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from _common import (
    ContentionMeter,
    Timing,
    configure_threads,
    emit,
    environment_header,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    measure,
)
from torch import nn

from hrr.gan import FGM, PGD, AdaptiveAdversarial, AdaptiveMix, gradient_penalty


class DCGANCritic(nn.Module):
    def __init__(self, ch: int = 64) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ch, 4 * ch, 4, 2, 1), nn.BatchNorm2d(4 * ch), nn.LeakyReLU(0.2),
        )
        self.head = nn.Sequential(nn.Conv2d(4 * ch, 1, 4, 1, 0), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SinGANCritic(nn.Module):
    def __init__(self, ch: int = 32) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = 3
        for _ in range(4):
            blocks += [nn.Conv2d(c_in, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.LeakyReLU(0.2)]
            c_in = ch
        self.features = nn.Sequential(*blocks)
        self.head = nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def make_steps(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, gp: float, k_list: list[int],
               eps: float, step: float) -> dict[str, Callable[[], None]]:
    opt = torch.optim.Adam(D.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)

    def finish(loss: torch.Tensor) -> None:
        if gp > 0:
            loss = loss + gp * gradient_penalty(D, real, fake, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def plain() -> None:
        finish(D(fake).mean() - D(real).mean())

    def attacked(attack: Callable) -> Callable[[], None]:
        def run() -> None:
            r = attack(real, lambda z: -D(z).mean())
            f = attack(fake, lambda z: D(z).mean())
            finish(D(f).mean() - D(r).mean())
        return run

    mix = AdaptiveMix()

    def mix_reuse() -> None:
        h_r, h_f = D.features(real), D.features(fake)
        loss = D.head(h_f).mean() - D.head(h_r).mean()
        finish(loss + mix(D.features, real, fake, features_real=h_r.detach(), features_fake=h_f.detach(),
                          generator=gen))

    def mix_full() -> None:
        finish(D(fake).mean() - D(real).mean() + mix(D.features, real, fake, generator=gen))

    steps: dict[str, Callable[[], None]] = {"plain": plain, "FGM": attacked(FGM(eps, module=D))}
    for k in k_list:
        steps[f"PGD-{k}"] = attacked(PGD(eps, step, k, module=D))
    k0 = k_list[0]
    steps["adaptive→FGM"] = attacked(AdaptiveAdversarial(D, eps=eps, step_size=step, steps=k0, kappa=1e-12))
    steps[f"adaptive→PGD-{k0}"] = attacked(AdaptiveAdversarial(D, eps=eps, step_size=step, steps=k0, kappa=1e12))
    steps["AdaptiveMix (reuse F(x))"] = mix_reuse
    steps["AdaptiveMix (full)"] = mix_full
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64, help="DCGAN batch per side (real and fake)")
    parser.add_argument("--quick", action="store_true", help="batch 16, 5 repeats")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.repeats, args.warmup = 16, 5, 1
    configure_threads(args.threads)
    meter = ContentionMeter()
    emit(environment_header("GAN discriminator regularizers: D step time", args))
    torch.manual_seed(0)
    setups = [
        ("DCGAN-like", DCGANCritic(), torch.randn(args.batch, 3, 32, 32), torch.randn(args.batch, 3, 32, 32), 10.0,
         1.0),
        ("SinGAN-like", SinGANCritic(), torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64), 0.1, 2.0),
    ]
    for name, D, real, fake, gp, eps in setups:
        steps = make_steps(D, real, fake, gp, [3, 7], eps, eps / 4)
        # interleave the methods round by round so a load change hits all of them alike
        timings = {label: [] for label in steps}
        for _ in range(args.warmup):
            for fn in steps.values():
                fn()
        for _ in range(args.repeats):
            for label, fn in steps.items():
                t, _ = measure(fn, repeats=1)
                timings[label].extend(t.times)
        med = {label: Timing(times).median for label, times in timings.items()}
        base = med["plain"]
        targets = {"FGM": 2.2, "PGD-3": 4.3, "PGD-7": 8.3, "adaptive→FGM": 2.2, "adaptive→PGD-3": 4.3,
                   "AdaptiveMix (reuse F(x))": 1.6, "AdaptiveMix (full)": 1.6}
        rows = []
        for label, value in med.items():
            target = targets.get(label)
            verdict = "" if target is None else ("met" if value / base <= target else "MISSED")
            rows.append([label, fmt_seconds(value), Timing(timings[label]).spread(), fmt_ratio(value / base),
                         "" if target is None else f"<= {target}x {verdict}"])
        # W_σ refresh alone
        adv = AdaptiveAdversarial(D, eps=eps, step_size=eps / 4, steps=3, kappa=1.0)
        adv.estimator.refresh()
        t_sigma, _ = measure(adv.estimator.refresh, repeats=max(20, args.repeats), warmup=2)
        rows.append(["W_σ estimate (1 warm iteration, all layers)", fmt_seconds(t_sigma.median), t_sigma.spread(),
                     f"{100 * t_sigma.median / base:.2f} % of plain", "<= 5 % " +
                     ("met" if t_sigma.median / base <= 0.05 else "MISSED")])
        emit(f"### {name} critic (real {tuple(real.shape)}, fake {tuple(fake.shape)}, GP λ={gp}, L2 ε={eps})")
        emit("")
        emit(markdown_table(["step", "median", "spread", "ratio to plain", "target"], rows))
        emit("")
    emit(meter.report())


if __name__ == "__main__":
    main()
