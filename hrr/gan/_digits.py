"""A data-limited image GAN for measuring discriminator regularizers on a CPU: a small DCGAN on scikit-learn's digits.

The regime AdaptiveMix targets (few training images). Data: ``sklearn.datasets.load_digits`` (1797 greyscale 8 × 8
digits, values 0–16), upsampled to 16 × 16 and scaled to [−1, 1]; a stratified half trains the GAN (or a subset of
it, ``n_train``) and the feature classifier, the other half is the reference the samples are scored against.

Score: the Fréchet distance between Gaussians fitted to the penultimate-layer features of a small CNN classifier
trained here on the training half. It is **not FID** (no Inception network, other features, other scale): compare
its values only with each other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from hrr._validate import check_choice
from hrr.gan._adaptive import AdaptiveAdversarial
from hrr.gan._adaptivemix import AdaptiveMix
from hrr.gan._perturb import FGM, PGD

IMAGE_SIZE = 16
LATENT = 64
REGULARIZERS = ("none", "adaptivemix", "fgm", "pgd", "adaptive")


def digit_splits(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train images, train labels, reference images, reference labels): a stratified half each.

    Images are float32 (N, 1, 16, 16) in [−1, 1] (bilinear upsampling of the 8 × 8 digits).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    images = (2.0 * images - 1.0).clamp(-1.0, 1.0)
    labels = torch.as_tensor(digits.target)
    idx_train, idx_ref = train_test_split(np.arange(len(labels)), test_size=0.5, stratify=digits.target,
                                          random_state=seed)
    idx_train, idx_ref = torch.as_tensor(idx_train), torch.as_tensor(idx_ref)
    return images[idx_train], labels[idx_train], images[idx_ref], labels[idx_ref]


class DigitClassifier(nn.Module):
    """The feature network of the Fréchet distance: two conv blocks, a 128-d penultimate layer, 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8 x 8
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4 x 4
            nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(),
        )
        self.out = nn.Linear(128, 10)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.body(x))


def train_digit_classifier(images: Tensor, labels: Tensor, seed: int = 0, epochs: int = 25) -> DigitClassifier:
    """Adam 1e-3, batch 64, ``epochs`` passes, deterministic under ``seed``; returned in eval mode."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DigitClassifier()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for start in range(0, len(images), 64):
            batch = order[start : start + 64]
            loss = F.cross_entropy(model(images[batch]), labels[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def classifier_features(model: DigitClassifier, images: Tensor, batch: int = 512) -> np.ndarray:
    return torch.cat([model.features(images[i : i + batch]) for i in range(0, len(images), batch)]).double().numpy()


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}) between Gaussian fits of two (n, d) feature sets.

    Tr (S_a S_b)^{1/2} = sum of sqrt(eig(S_a^{1/2} S_b S_a^{1/2})), a symmetric PSD matrix: two ``eigh`` calls,
    stable where ``sqrtm(S_a S_b)`` warns (ReLU features leave some dimensions constant, so S is singular).
    """
    mu_a, mu_b = feats_a.mean(0), feats_b.mean(0)
    cov_a, cov_b = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    evals, evecs = np.linalg.eigh(cov_a)
    root_a = (evecs * np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = float(np.sqrt(np.clip(middle, 0.0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)


class DigitGenerator(nn.Module):
    """z (B, 64) → image (B, 1, 16, 16) in [−1, 1]: Linear → 128 × 4 × 4, two transposed convs (DCGAN)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(LATENT, 128 * 16), nn.BatchNorm1d(128 * 16), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),  # 8 x 8
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),  # 16 x 16
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.up(self.fc(z).view(-1, 128, 4, 4))


class DigitCritic(nn.Module):
    """D = J ∘ F: F two strided convs with LeakyReLU (→ 128 × 4 × 4, flattened), J a linear layer (no BatchNorm,
    so attacks and AdaptiveMix see per-sample features)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),  # 8 x 8
            nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2),  # 4 x 4
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(128 * 16, 1), nn.Flatten(0))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class DigitGANSpec:
    """One training loop: the non-saturating DCGAN loss, Adam(``lr``, betas (0.5, 0.999)), one D step per G step.

    ``regularizer``: "adaptivemix" adds ``AdaptiveMix(weight=mix_weight)(D.features, real, fake)`` (real–fake pairs,
    L2, σ = 0.05) to D's loss; "fgm" / "pgd" / "adaptive" train D on perturbed real and fake batches (Tang et al.,
    Alg. 1: the attack maximises D's own loss on each batch), with radius ``adv_eps`` and PGD step ``adv_step``
    given per pixel (RMS; the L2 radius is ``adv_eps · 16``) and ``adv_steps`` PGD steps; "adaptive" runs PGD while
    the head's largest singular value W_σ is below ``adv_threshold`` = κ/(2α), else FGM.
    """

    regularizer: Literal["none", "adaptivemix", "fgm", "pgd", "adaptive"] = "none"
    mix_weight: float = 1.0
    adv_eps: float = 0.05
    adv_step: float = 0.02
    adv_steps: int = 3
    adv_threshold: float = 0.55
    lr: float = 2e-4
    batch: int = 64
    iters: int = 3000
    n_train: int = 500


@dataclass
class DigitRun:
    spec: DigitGANSpec
    seed: int
    generator: DigitGenerator
    critic: DigitCritic
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (step, score, W_σ of D's head)
    seconds: float = 0.0
    attacks: dict[str, int] = field(default_factory=dict)

    def samples(self, n: int = 1000, seed: int = 99) -> Tensor:
        """(n, 1, 16, 16) samples in [−1, 1] from fixed noise, generator in eval mode (BatchNorm running stats)."""
        self.generator.eval()
        with torch.no_grad():
            out = self.generator(torch.randn(n, LATENT, generator=torch.Generator().manual_seed(seed)))
        self.generator.train()
        return out

    def summary(self) -> dict[str, object]:
        return {"spec": asdict(self.spec), "seed": self.seed, "score": self.history[-1][1] if self.history else None,
                "history": [list(h) for h in self.history], "seconds": self.seconds, "attacks": self.attacks}


def _attack(spec: DigitGANSpec, critic: DigitCritic) -> Callable[..., Tensor] | None:
    pixels = math.sqrt(IMAGE_SIZE * IMAGE_SIZE)
    eps, step = spec.adv_eps * pixels, spec.adv_step * pixels
    if spec.regularizer == "fgm":
        return FGM(eps)
    if spec.regularizer == "pgd":
        return PGD(eps, step, spec.adv_steps)
    if spec.regularizer == "adaptive":
        return AdaptiveAdversarial(critic, eps=eps, step_size=step, steps=spec.adv_steps,
                                   kappa=2.0 * step * spec.adv_threshold)
    return None


def train_digit_gan(spec: DigitGANSpec, train_images: Tensor, seed: int, *,
                    score: Callable[[DigitRun], float] | None = None, eval_every: int | None = None,
                    progress: bool = False) -> DigitRun:
    """Train ``spec`` on the first ``spec.n_train`` of a seeded permutation of ``train_images`` (N, 1, 16, 16).

    Weights come from a forked global RNG and every draw from a private generator, so the same seed gives the same
    run on the same machine and thread count. ``score(run)`` and the largest singular value of D's head (the W_σ
    the adaptive rule reads) are recorded every ``eval_every`` steps and at the end.
    """
    check_choice("spec.regularizer", spec.regularizer, REGULARIZERS)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed + 1)
    data = train_images[torch.randperm(len(train_images), generator=gen)[: spec.n_train]]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        G, D = DigitGenerator(), DigitCritic()
    opt_g = torch.optim.Adam(G.parameters(), lr=spec.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=spec.lr, betas=(0.5, 0.999))
    mix = AdaptiveMix(noise_std=0.05, alpha=1.0, distance="l2", pairing="real_fake",
                      weight=1.0)  # weighted by the spec below
    attack = _attack(spec, D)
    run = DigitRun(spec, seed, G, D)
    every = eval_every or spec.iters
    for step in tqdm(range(1, spec.iters + 1), desc=f"digits {spec.regularizer}", disable=not progress, leave=False):
        real = data[torch.randint(0, len(data), (spec.batch,), generator=gen)]
        with torch.no_grad():
            fake = G(torch.randn(spec.batch, LATENT, generator=gen))
        if attack is not None:
            extra = {"generator": gen} if isinstance(attack, PGD) else {}
            inputs = []
            for batch, loss in ((real, lambda x: F.softplus(-D(x)).mean()), (fake, lambda x: F.softplus(D(x)).mean())):
                inputs.append(attack(batch, loss, **extra))  # maximises D's own loss on this batch
                if isinstance(attack, AdaptiveAdversarial):
                    run.attacks[str(attack.last_method)] = run.attacks.get(str(attack.last_method), 0) + 1
            real_in, fake_in = inputs
        else:
            real_in, fake_in = real, fake
        loss_d = F.softplus(-D(real_in)).mean() + F.softplus(D(fake_in)).mean()
        if spec.regularizer == "adaptivemix":
            loss_d = loss_d + spec.mix_weight * mix(D.features, real, fake, generator=gen)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        loss_g = F.softplus(-D(G(torch.randn(spec.batch, LATENT, generator=gen)))).mean()
        D.requires_grad_(True)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if score is not None and (step % every == 0 or step == spec.iters):
            head_sigma = float(torch.linalg.matrix_norm(D.head[0].weight.detach(), ord=2))
            run.history.append((step, score(run), head_sigma))
    run.seconds = time.perf_counter() - start
    return run
