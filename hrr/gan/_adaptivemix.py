"""AdaptiveMix: shrink the discriminator's feature space with mixed hard samples (Liu et al., Eqs. 1-2, 6).

For pairs (xᵢ, xⱼ) and λ ~ Beta(α, α) per pair:

    x̂ᵢⱼ = λ xᵢ + (1 − λ) xⱼ                                               (Eq. 1)
    L_ada = mean D_v( λ F(xᵢ) + (1 − λ) F(xⱼ),  F(x̂ᵢⱼ) + σ·n ),  n ~ N(0, I)   (Eq. 2)

The target λF(xᵢ) + (1 − λ)F(xⱼ) is detached (as in the authors' code), so the loss trains F through the hard
sample only, and no gradient reaches the head J or the generator (fake inputs are detached).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from hrr._state import preserved_state
from hrr._validate import (
    check_callable,
    check_choice,
    check_float_tensor,
    check_generator,
    check_positive,
    randn_like_with,
    randperm_with,
)

Distance = Literal["l2", "l1", "cosine"]


def sample_beta(n: int, alpha: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """n draws of Beta(alpha, alpha) on ``like``'s device/dtype, reproducible from ``generator``.

    torch's Beta sampler takes no generator, so a seed is drawn from ``generator`` (or from torch's default RNG
    when None, so ``torch.manual_seed`` still controls it) and fed to a private numpy ``Generator``; numpy's
    global RNG is never used.
    """
    if generator is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    else:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    lam = np.random.default_rng(seed).beta(alpha, alpha, size=n)
    return torch.as_tensor(lam, dtype=like.dtype if like.is_floating_point() else torch.float32, device=like.device)


def _distance(pred: Tensor, target: Tensor, distance: str) -> Tensor:
    # one scalar feature per sample, (B,), is a (B, 1) feature map: a critic's score used as F must work too
    pred, target = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    if distance == "l2":
        return (pred - target).pow(2).mean(dim=1)
    if distance == "l1":
        return (pred - target).abs().mean(dim=1)
    cos = torch.nn.functional.cosine_similarity(pred, target, dim=1, eps=1e-8)
    return 1.0 - cos


def adaptivemix_loss(
    features: Callable[[Tensor], Tensor],
    x_a: Tensor,
    x_b: Tensor | None = None,
    *,
    alpha: float = 1.0,
    noise_std: float = 0.05,
    distance: Distance = "l2",
    features_a: Tensor | None = None,
    features_b: Tensor | None = None,
    mix_fraction: float = 1.0,
    generator: torch.Generator | None = None,
    module: nn.Module | None = None,
) -> Tensor:
    """AdaptiveMix loss (Liu et al., Eq. 2) for hard samples x̂ = λxᵢ + (1−λ)xⱼ (Eq. 1), λ ~ Beta(α, α) per pair.

    Parameters
    ----------
    features : callable
        The feature extractor F of the discriminator (``D = J ∘ F``), e.g. ``D.features``. Under DDP pass a
        callable that goes through the DDP wrapper (see docs/regularizers.md).
    x_a : Tensor
        Float batch (B, ...), e.g. images (B, C, H, W).
    x_b : Tensor or None
        Partner batch of the same shape. ``None``: pairs are ``x_a`` with a random permutation of itself.
        For the GAN setting of §3.3 pass ``x_a = real, x_b = fake.detach()`` (real–fake mixing).
    alpha : float
        Beta(α, α) parameter, > 0 (Table 10: α = 1, i.e. λ uniform, is best).
    noise_std : float
        σ of the Gaussian noise added to F(x̂), >= 0 (Table 9: 0.05 is best).
    distance : {"l2", "l1", "cosine"}
        D_v: mean squared error (the paper's WGAN choice, Eq. 6), mean absolute error, or ``1 − cos`` (the
        authors' StyleGAN2 code uses −cos; same gradients).
    features_a, features_b : Tensor or None
        ``F(x_a)`` / ``F(x_b)`` if the caller already computed them in the main pass (they are detached here);
        saves two forward passes.
    mix_fraction : float
        Use only ``ceil(mix_fraction · B)`` random pairs (0 < f <= 1) to cut cost.
    generator : torch.Generator or None
        RNG for the pairing, λ and the noise.
    module : nn.Module or None
        Module whose buffers (BatchNorm running statistics) and modes must not change; defaults to ``features``
        itself when it is a module or a bound method of one. The extra forwards still use batch statistics.

    Returns
    -------
    Tensor
        Scalar loss (float32 under autocast), mean over the pairs. Add it, weighted, to the discriminator loss.

    Examples
    --------
    >>> F = torch.nn.Linear(6, 4)
    >>> real, fake = torch.randn(8, 6), torch.randn(8, 6)
    >>> loss = adaptivemix_loss(F, real, fake, noise_std=0.0)
    >>> float(loss.detach()) < 1e-10   # F is affine: Eq. 2 is zero without noise
    True
    """
    check_callable("features", features, "batch -> features, e.g. D.features")
    check_float_tensor("x_a", x_a)
    alpha = check_positive("alpha", alpha)
    noise_std = check_positive("noise_std", noise_std, allow_zero=True)
    check_choice("distance", distance, ("l2", "l1", "cosine"))
    mix_fraction = check_positive("mix_fraction", mix_fraction)
    if mix_fraction > 1:
        raise ValueError(f"mix_fraction must be in (0, 1], got {mix_fraction!r}")
    check_generator("generator", generator)
    n = x_a.shape[0]
    _check_reused("features_a", features_a, n)
    _check_reused("features_b", features_b, n)
    if x_b is None:
        if n < 2:
            raise ValueError(f"x_a must hold at least 2 samples to mix within the batch, got shape {tuple(x_a.shape)}")
        perm = randperm_with(n, generator, x_a.device)
        x_b = x_a[perm]
        if features_a is not None:
            features_b = features_a[perm]
    else:
        check_float_tensor("x_b", x_b)
        if x_b.shape != x_a.shape:
            raise ValueError(f"x_b must have x_a's shape {tuple(x_a.shape)}, got {tuple(x_b.shape)}")
    m = n if mix_fraction >= 1 else max(1, int(np.ceil(mix_fraction * n)))
    if m < n:
        idx = randperm_with(n, generator, x_a.device)[:m]
        x_a, x_b = x_a[idx], x_b[idx]
        features_a = None if features_a is None else features_a[idx]
        features_b = None if features_b is None else features_b[idx]
    x_a, x_b = x_a.detach(), x_b.detach()
    if module is None:
        owner = features if isinstance(features, nn.Module) else getattr(features, "__self__", None)
        module = owner if isinstance(owner, nn.Module) else None
    with preserved_state(module):
        return _adaptivemix_core(features, x_a, x_b, features_a, features_b, alpha, noise_std, distance, generator)


def _check_reused(name: str, feats: Tensor | None, n: int) -> None:
    """Features handed in for reuse must be F's output on the batch: one row per sample."""
    if feats is not None and (not isinstance(feats, Tensor) or feats.ndim < 1 or len(feats) != n):
        raise ValueError(f"{name} must be F's output on the batch, a tensor with {n} rows, got "
                         f"{getattr(feats, 'shape', type(feats).__name__)}")


def _check_features_output(out: object, n: int) -> None:
    """A scalar or a wrong-length output (D's mean score, say, instead of D.features) fails here, not in torch."""
    if not isinstance(out, Tensor) or out.ndim < 1 or out.shape[0] != n:
        got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"features must map a batch of {n} samples to a tensor with {n} rows (batch -> features, "
                         f"e.g. D.features), got {got}")


def _adaptivemix_core(
    features: Callable[[Tensor], Tensor],
    x_a: Tensor,
    x_b: Tensor,
    features_a: Tensor | None,
    features_b: Tensor | None,
    alpha: float,
    noise_std: float,
    distance: str,
    generator: torch.Generator | None,
) -> Tensor:
    m = x_a.shape[0]
    lam = sample_beta(m, alpha, generator, x_a)
    lam_x = lam.view(-1, *([1] * (x_a.dim() - 1))).to(x_a.dtype)
    x_hat = lam_x * x_a + (1 - lam_x) * x_b  # Eq. 1
    with torch.no_grad():
        if features_a is None or features_b is None:
            both = features(torch.cat([x_a, x_b]))
            _check_features_output(both, 2 * m)
            f_a, f_b = both[:m], both[m:]
        else:
            f_a, f_b = features_a.detach(), features_b.detach()
        lam_f = lam.view(-1, *([1] * (f_a.dim() - 1))).to(f_a.dtype)
        target = lam_f * f_a + (1 - lam_f) * f_b
    pred = features(x_hat)
    _check_features_output(pred, m)
    if pred.shape != target.shape:
        if features_a is not None and features_b is not None:
            raise ValueError(f"the reused features (features_real/features_fake, or features_a/features_b) have "
                             f"shape {tuple(target.shape)} per pair but features returned {tuple(pred.shape)} for "
                             "the mixed batch: pass F's own outputs on real and fake")
        raise ValueError(f"features returned shape {tuple(pred.shape)} for the mixed batch but "
                         f"{tuple(target.shape)} for the originals")
    if noise_std > 0:
        pred = pred + noise_std * randn_like_with(pred, generator)
    return _distance(pred.float(), target.float(), distance).mean()  # Eq. 2


class AdaptiveMix:
    """AdaptiveMix regularizer object (Liu et al., Eqs. 1-2; GAN use Eq. 6): configure once, call per step.

    ``AdaptiveMix(...)(features, real, fake)`` returns ``weight · L_ada``, the scalar to add to the discriminator
    loss. Pairing follows the paper's GAN setting by default: each real image is mixed
    with a fake one (``pairing="real_fake"``); ``"within"`` mixes the concatenated real+fake batch with a random
    permutation of itself (pairs real–real, real–fake, fake–fake); ``"separate"`` mixes reals with reals and fakes
    with fakes (the authors' StyleGAN2 code).

    Parameters
    ----------
    weight : float, default 0.001
        Multiplies L_ada in the returned loss, >= 0 (0 gives a zero loss: a control run in a sweep). The paper
        gives none. 0.001 is the largest weight tried that made no converged baseline worse in
        docs/regularizers.md §8: at 1 AdaptiveMix collapsed every toy GAN run, at 0.1 every toy run it was tried in,
        and at 0.01 the WGAN-GP with gradient-penalty weight 0.1 on the three circles (8 of 108 sectors vs 93);
        at 0.001 nothing measured moved beyond its seed spread (five toy settings, 5 seeds each; a data-limited
        DCGAN, 3 seeds), and no weight measurably helped: the default is close to off, a safe start, not a tuned
        value. A 0-d tensor is read as its value (a constant: no gradient flows to it).
    alpha, noise_std, distance, mix_fraction
        See :func:`adaptivemix_loss`.
    pairing : {"real_fake", "within", "separate"}
        Which images are mixed: each real with the fake at the same batch position ("real_fake", needs equal
        shapes), the concatenated real+fake batch with a permutation of itself ("within"), or reals with reals
        and fakes with fakes, averaged ("separate").

    The call ``reg(features, real, fake, *, features_real=None, features_fake=None, generator=None,
    module=None)`` takes ``features`` (D's feature extractor F), ``real`` and ``fake`` batches (float tensors,
    batch first), optionally F's outputs on them to reuse (give both or neither), a CPU ``torch.Generator`` for
    λ, the noise and the permutations, and ``module`` (the nn.Module behind ``features``, whose train/eval and
    BatchNorm state the mixed forward must not change). It returns the scalar ``weight · L_ada``.

    Examples
    --------
    >>> F = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.LeakyReLU(0.2))
    >>> reg = AdaptiveMix()
    >>> loss = reg(F, torch.randn(8, 2), torch.randn(8, 2), generator=torch.Generator().manual_seed(0))
    >>> loss.ndim
    0
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        noise_std: float = 0.05,
        distance: Distance = "l2",
        pairing: Literal["real_fake", "within", "separate"] = "real_fake",
        mix_fraction: float = 1.0,
        weight: float = 0.001,
    ) -> None:
        self.weight = check_positive("weight", weight, allow_zero=True)  # 0: a control run in a sweep
        self.alpha = check_positive("alpha", alpha)
        self.noise_std = check_positive("noise_std", noise_std, allow_zero=True)
        self.distance = check_choice("distance", distance, ("l2", "l1", "cosine"))
        self.pairing = check_choice("pairing", pairing, ("real_fake", "within", "separate"))
        self.mix_fraction = check_positive("mix_fraction", mix_fraction)
        if self.mix_fraction > 1:
            raise ValueError(f"mix_fraction must be in (0, 1], got {mix_fraction!r}")

    def __call__(
        self,
        features: Callable[[Tensor], Tensor] | nn.Module,
        real: Tensor,
        fake: Tensor,
        *,
        features_real: Tensor | None = None,
        features_fake: Tensor | None = None,
        generator: torch.Generator | None = None,
        module: nn.Module | None = None,
    ) -> Tensor:
        """``weight · L_ada`` for a real batch and a fake batch (float, (B, C, H, W) or (B, D)); ``fake`` is
        detached."""
        return self.weight * self._loss(features, real, fake, features_real, features_fake, generator, module)

    def _loss(self, features: Callable[[Tensor], Tensor] | nn.Module, real: Tensor, fake: Tensor,
              features_real: Tensor | None, features_fake: Tensor | None, generator: torch.Generator | None,
              module: nn.Module | None) -> Tensor:
        check_float_tensor("real", real)
        check_float_tensor("fake", fake)
        if (features_real is None) != (features_fake is None):
            raise ValueError("give both features_real and features_fake (F's outputs to reuse) or neither, got only "
                             + ("features_real" if features_fake is None else "features_fake"))
        _check_reused("features_real", features_real, len(real))
        _check_reused("features_fake", features_fake, len(fake))
        if self.pairing == "within" and real.shape[1:] != fake.shape[1:]:
            raise ValueError(f"pairing='within' mixes real with fake, so they need the same sample shape, got "
                             f"real {tuple(real.shape)} and fake {tuple(fake.shape)}")
        if self.pairing == "separate":
            for name, batch in (("real", real), ("fake", fake)):
                if len(batch) < 2:
                    raise ValueError(f"pairing='separate' mixes {name} with {name}, so {name} must hold at least 2 "
                                     f"samples, got shape {tuple(batch.shape)}")
        kw = {"alpha": self.alpha, "noise_std": self.noise_std, "distance": self.distance,
              "mix_fraction": self.mix_fraction, "generator": generator, "module": module}
        fake = fake.detach()
        if self.pairing == "real_fake":
            if real.shape != fake.shape:
                raise ValueError(f"pairing='real_fake' needs real and fake of the same shape, got "
                                 f"{tuple(real.shape)} and {tuple(fake.shape)}")
            return adaptivemix_loss(features, real, fake, features_a=features_real, features_b=features_fake,
                                    **kw)  # type: ignore[arg-type]
        if self.pairing == "within":
            both = torch.cat([real, fake])
            f_both = None
            if features_real is not None and features_fake is not None:
                f_both = torch.cat([features_real, features_fake])
            return adaptivemix_loss(features, both, features_a=f_both, **kw)  # type: ignore[arg-type]
        loss_r = adaptivemix_loss(features, real, features_a=features_real, **kw)  # type: ignore[arg-type]
        loss_f = adaptivemix_loss(features, fake, features_a=features_fake, **kw)  # type: ignore[arg-type]
        return 0.5 * (loss_r + loss_f)

    def __repr__(self) -> str:
        return (f"AdaptiveMix(weight={self.weight}, alpha={self.alpha}, noise_std={self.noise_std}, "
                f"distance={self.distance!r}, pairing={self.pairing!r}, mix_fraction={self.mix_fraction})")
