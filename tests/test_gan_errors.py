"""Bad input fails at the boundary with a message naming the argument, the expected form and what was given."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hrr.gan import (
    FGM,
    PGD,
    AdaptiveAdversarial,
    AdaptiveMix,
    OrthogonalHead,
    SpectralNormEstimator,
    adaptivemix_loss,
    fgm,
    lipschitz_ratio,
    ood_score,
    pgd,
    project,
)

D = nn.Linear(4, 1)
X = torch.randn(3, 4)


def loss(z: torch.Tensor) -> torch.Tensor:
    return D(z).sum()


@pytest.mark.parametrize(
    "call, exc, pattern",
    [
        (lambda: FGM(0.0), ValueError, r"eps must be a finite number > 0, got 0\.0"),
        (lambda: FGM(-1), ValueError, r"eps .* got -1"),
        (lambda: FGM(float("nan")), ValueError, r"eps .* got nan"),
        (lambda: FGM("0.1"), TypeError, r"eps must be a real number, got str"),
        (lambda: FGM(0.1, norm="l1"), ValueError, r"norm must be one of .*'l2'.*got 'l1'"),
        (lambda: FGM(0.1, clamp=(1, 0)), ValueError, r"clamp must satisfy low < high"),
        (lambda: PGD(0.1, 0.05, 0), ValueError, r"steps must be an int >= 1, got 0"),
        (lambda: PGD(0.1, 0.05, 2.0), TypeError, r"steps must be an int >= 1, got float"),
        (lambda: PGD(0.1, -0.05, 2), ValueError, r"step_size must be a finite number > 0"),
        (lambda: fgm(loss, X.long(), 0.1), TypeError, r"x must be a floating-point tensor, got dtype torch.int64"),
        (lambda: fgm(loss, [1.0, 2.0], 0.1), TypeError, r"x must be a torch.Tensor, got list"),
        (lambda: fgm("D", X, 0.1), TypeError, r"loss_fn must be callable"),
        (lambda: fgm(lambda z: D(z), X, 0.1), ValueError, r"loss_fn must return a scalar tensor, got \(3, 1\)"),
        (lambda: fgm(lambda z: torch.tensor(1.0), X, 0.1), ValueError, r"does not depend on its input"),
        (lambda: pgd(loss, X, 0.1, 0.1, 2, generator=0), TypeError, r"generator must be a torch.Generator"),
        (lambda: project(X, 0.1, "l3"), ValueError, r"norm must be one of"),
        (lambda: AdaptiveAdversarial(D, eps=0.1, step_size=0.1, steps=2, kappa=0), ValueError, r"kappa"),
        (lambda: AdaptiveAdversarial(D, eps=0.1, step_size=0.1, steps=2, kappa=1, sigma_of="nope"), ValueError,
         r"sigma_of must be .* got 'nope'"),
        (lambda: AdaptiveAdversarial("D", eps=0.1, step_size=0.1, steps=2, kappa=1), TypeError,
         r"module must be an nn.Module, got str"),
        (lambda: SpectralNormEstimator(nn.ReLU()), ValueError, r"no Linear/Conv"),
        (lambda: SpectralNormEstimator(D, refresh_every=0), ValueError, r"refresh_every must be an int >= 1"),
        (lambda: AdaptiveMix(alpha=0), ValueError, r"alpha must be a finite number > 0, got 0"),
        (lambda: AdaptiveMix(noise_std=-0.1), ValueError, r"noise_std must be a finite number >= 0"),
        (lambda: AdaptiveMix(distance="l3"), ValueError, r"distance must be one of"),
        (lambda: AdaptiveMix(pairing="mixed"), ValueError, r"pairing must be one of"),
        (lambda: AdaptiveMix(mix_fraction=1.5), ValueError, r"mix_fraction must be in \(0, 1\], got 1.5"),
        (lambda: AdaptiveMix()(D, X, X[:2]), ValueError, r"same shape, got \(3, 4\) and \(2, 4\)"),
        (lambda: adaptivemix_loss(D, X[:1]), ValueError, r"at least 2 samples"),
        (lambda: adaptivemix_loss(D, X, X[:, :2]), ValueError, r"x_b must have x_a's shape \(3, 4\), got \(3, 2\)"),
        (lambda: OrthogonalHead(3, 5), ValueError, r"num_classes must be <= in_features .* num_classes=5"),
        (lambda: OrthogonalHead(8, 2)(torch.randn(2, 7)), ValueError, r"v must have 8 features per sample"),
        (lambda: ood_score(X, torch.eye(3)), ValueError, r"prototypes must have 4 columns"),
        (lambda: lipschitz_ratio(D, X, X), ValueError, r"zero image distance"),
    ],
)
def test_clear_errors(call, exc: type[Exception], pattern: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=pattern):
        call()


def test_numpy_scalars_and_0d_tensors_are_real_numbers_and_bools_are_not() -> None:
    import numpy as np

    from hrr._validate import check_positive

    assert check_positive("eps", np.float32(0.5)) == 0.5 and isinstance(check_positive("eps", np.int64(2)), float)
    assert check_positive("eps", torch.tensor(0.25, requires_grad=True)) == 0.25
    assert check_positive("eps", torch.tensor(3)) == 3.0
    for bad in (True, np.bool_(True), "1", None, torch.tensor(True), torch.tensor([0.5]), torch.tensor(1 + 1j)):
        with pytest.raises(TypeError, match="eps must be a real number"):
            check_positive("eps", bad)
