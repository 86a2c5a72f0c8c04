"""AdaptiveMix (Liu et al., Eqs. 1-2, 6), orthogonal head (Eqs. 7-9), OOD score (Eq. 10), Lipschitz ratio (Table 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from hrr.gan import (
    AdaptiveMix,
    MeanHead,
    OrthogonalHead,
    adaptivemix_loss,
    class_prototypes,
    lipschitz_ratio,
    ood_score,
)
from hrr.gan._adaptivemix import sample_beta

pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


def _affine_features() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 2, 3, stride=2), nn.Flatten(), nn.Linear(18, 5))


@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_zero_for_affine_features_without_noise(distance: str) -> None:
    F = _affine_features().double()
    real, fake = torch.randn(6, 3, 8, 8, dtype=torch.float64), torch.randn(6, 3, 8, 8, dtype=torch.float64)
    loss = adaptivemix_loss(F, real, fake, noise_std=0.0, distance=distance, generator=torch.Generator().manual_seed(0))
    assert float(loss) <= 1e-10
    loss_within = adaptivemix_loss(F, real, noise_std=0.0, distance=distance)
    assert float(loss_within) <= 1e-10


def test_zero_for_batchnorm_in_eval_positive_in_train() -> None:
    F = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten()).double()
    real, fake = torch.randn(6, 3, 6, 6, dtype=torch.float64), torch.randn(6, 3, 6, 6, dtype=torch.float64)
    F.eval()
    assert float(adaptivemix_loss(F, real, fake, noise_std=0.0)) <= 1e-10
    F.train()
    assert float(adaptivemix_loss(F, real, fake, noise_std=0.0)) > 1e-6


def test_positive_with_noise_or_nonlinearity() -> None:
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    F_lin = nn.Linear(2, 8)
    with_noise = adaptivemix_loss(F_lin, real, fake, noise_std=0.05)
    # MSE with noise only: E = σ² (per element)
    assert float(with_noise) == pytest.approx(0.05**2, rel=0.5)
    F_nl = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 8))
    assert float(adaptivemix_loss(F_nl, real, fake, noise_std=0.0)) > 1e-6


def test_matches_hand_computation() -> None:
    """Same generator → same λ and noise: recompute Eq. 1-2 by hand."""
    torch.manual_seed(0)
    F = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    for distance in ("l2", "l1", "cosine"):
        got = adaptivemix_loss(F, real, fake, noise_std=0.1, distance=distance,
                               generator=torch.Generator().manual_seed(11))
        gen = torch.Generator().manual_seed(11)
        lam = sample_beta(5, 1.0, gen, real).view(-1, 1)
        x_hat = lam * real + (1 - lam) * fake
        pred = F(x_hat) + 0.1 * torch.randn(5, 4, generator=gen)
        target = lam * F(real) + (1 - lam) * F(fake)
        if distance == "l2":
            want = (pred - target).pow(2).mean()
        elif distance == "l1":
            want = (pred - target).abs().mean()
        else:
            want = (1 - torch.nn.functional.cosine_similarity(pred, target, dim=1)).mean()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_beta_lambda_per_pair_and_seeded() -> None:
    x = torch.zeros(3)
    a = sample_beta(4000, 1.0, torch.Generator().manual_seed(0), x)
    b = sample_beta(4000, 1.0, torch.Generator().manual_seed(0), x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert len(torch.unique(a)) > 3950  # one λ per pair (a few float32 ties)
    assert float(a.mean()) == pytest.approx(0.5, abs=0.02)  # Beta(1, 1) = U(0, 1)
    assert float(a.var()) == pytest.approx(1 / 12, abs=0.01)
    c = sample_beta(4000, 2.0, torch.Generator().manual_seed(0), x)
    assert float(c.var()) == pytest.approx(1 / 20, abs=0.01)  # Beta(2, 2) variance


def test_numpy_global_rng_untouched() -> None:
    state = np.random.get_state()[1].copy()
    adaptivemix_loss(nn.Linear(2, 2), torch.randn(4, 2))
    assert np.array_equal(np.random.get_state()[1], state)


def test_gradients_reach_features_only() -> None:
    torch.manual_seed(0)
    G = nn.Linear(4, 6)
    F = nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2))
    J = MeanHead()
    J_lin = nn.Linear(8, 1)
    real = torch.randn(5, 6)
    fake = G(torch.randn(5, 4))  # not detached by the caller
    loss = AdaptiveMix()(F, real, fake, generator=torch.Generator().manual_seed(0))  # default weight 0.001
    loss.backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in F.parameters())
    assert all(p.grad is None for p in G.parameters())
    assert all(p.grad is None for p in J_lin.parameters())
    assert J(torch.ones(2, 8)).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("pairing", ["real_fake", "within", "separate"])
def test_pairings_and_reuse_of_features(pairing: str) -> None:
    F = _affine_features()
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    reg = AdaptiveMix(pairing=pairing, noise_std=0.0)
    with torch.no_grad():
        fr, ff = F(real), F(fake)
    a = reg(F, real, fake, generator=torch.Generator().manual_seed(3))
    b = reg(F, real, fake, features_real=fr, features_fake=ff, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert float(a) < 1e-8  # affine F


def test_mix_fraction_uses_fewer_pairs() -> None:
    calls: list[int] = []
    lin = nn.Linear(3, 3)

    def F(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return lin(x)

    adaptivemix_loss(F, torch.randn(8, 3), torch.randn(8, 3), mix_fraction=0.25)
    assert calls == [4, 2]  # originals (2 pairs × 2) then the 2 hard samples


def test_orthogonal_head_eqs_7_to_9() -> None:
    head = OrthogonalHead(16, 5, generator=torch.Generator().manual_seed(0))
    w = head.weight.detach()
    gram = w @ w.T
    torch.testing.assert_close(gram - torch.diag(torch.diag(gram)), torch.zeros(5, 5), atol=1e-6, rtol=0)  # Eq. 9
    assert not head.weight.requires_grad
    v = torch.randn(7, 16)
    y = head(v)
    want = (v @ w.T) / (v.norm(dim=1, keepdim=True) * w.norm(dim=1))  # Eq. 7
    torch.testing.assert_close(y, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head.probabilities(v), torch.softmax(want, dim=1), rtol=1e-5, atol=1e-6)  # Eq. 8
    assert float(y.abs().max()) <= 1 + 1e-6
    assert OrthogonalHead(16, 5, frozen=False).weight.requires_grad


def test_ood_score_eq_10() -> None:
    gen = torch.Generator().manual_seed(0)
    centers = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    feats = torch.cat([centers[0] + 0.1 * torch.randn(50, 3, generator=gen),
                       centers[1] + 0.1 * torch.randn(50, 3, generator=gen)])
    labels = torch.cat([torch.zeros(50), torch.ones(50)]).long()
    protos = class_prototypes(feats, labels)
    assert protos.shape == (2, 3)
    torch.testing.assert_close(protos.abs(), torch.eye(3)[:2], atol=0.02, rtol=0)
    in_dist = ood_score(centers, protos)
    probes = torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [-3.0, 0.0, 0.0]])
    torch.testing.assert_close(in_dist, torch.zeros(2), atol=0.03, rtol=0)
    exact = torch.tensor([math.pi / 2, math.pi / 4, 0.0])
    torch.testing.assert_close(ood_score(probes, torch.eye(3)[:2]), exact, atol=1e-6, rtol=0)  # |·|: sign-free
    torch.testing.assert_close(ood_score(probes, protos), exact, atol=0.03, rtol=0)


def test_lipschitz_ratio_table_3() -> None:
    F = nn.Linear(4, 4, bias=True)
    with torch.no_grad():
        F.weight.copy_(torch.diag(torch.tensor([2.0, 2.0, 2.0, 2.0])))
    x = torch.randn(10, 4)
    assert float(lipschitz_ratio(F, x)) == pytest.approx(2.0, rel=1e-5)
    x_j = torch.randn(10, 4)
    F2 = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
    want = ((F2(x) - F2(x_j)).norm(dim=1) / (x - x_j).norm(dim=1)).mean()
    torch.testing.assert_close(lipschitz_ratio(F2, x, x_j), want.detach(), rtol=1e-5, atol=1e-7)
    want_l1 = ((F2(x) - F2(x_j)).abs().sum(1) / (x - x_j).abs().sum(1)).mean()
    torch.testing.assert_close(lipschitz_ratio(F2, x, x_j, distance="l1"), want_l1.detach(), rtol=1e-5, atol=1e-7)


def test_weight_multiplies_the_loss_and_defaults_to_0001() -> None:
    F = nn.Sequential(nn.Linear(3, 8), nn.Tanh())
    real, fake = torch.randn(6, 3), torch.randn(6, 3)
    unweighted = adaptivemix_loss(F, real, fake, generator=torch.Generator().manual_seed(5))
    for kwargs, factor in (({}, 0.001), ({"weight": 2.5}, 2.5)):
        got = AdaptiveMix(**kwargs)(F, real, fake, generator=torch.Generator().manual_seed(5))
        torch.testing.assert_close(got, factor * unweighted)
    assert "weight=0.001" in repr(AdaptiveMix())
    assert float(AdaptiveMix(weight=0)(F, real, fake)) == 0.0
    with pytest.raises(ValueError, match=r"weight must be a finite number >= 0, got -1"):
        AdaptiveMix(weight=-1)
    with pytest.raises(ValueError, match=r"give both features_real and features_fake .* got only features_real"):
        AdaptiveMix()(F, real, fake, features_real=F(real))


def test_pairing_errors_name_the_callers_arguments() -> None:
    F = nn.Sequential(nn.Linear(3, 8), nn.Tanh())
    real = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"pairing='within' .* same sample shape, got real \(4, 3\) and fake \(4, 5\)"):
        AdaptiveMix(pairing="within")(F, real, torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"pairing='separate' mixes fake with fake, so fake must hold at least 2"):
        AdaptiveMix(pairing="separate")(F, real, torch.randn(1, 3))
    with pytest.raises(ValueError, match=r"features_fake must be F's output on the batch, a tensor with 4 rows"):
        AdaptiveMix()(F, real, torch.randn(4, 3), features_real=F(real), features_fake=F(real)[:3])
    with pytest.raises(TypeError, match=r"features must be callable \(batch -> features, e.g. D.features\), got str"):
        AdaptiveMix()("F", real, real)
    # a scalar-valued or batch-reducing callable (D's mean score instead of D.features) is named, not an IndexError
    with pytest.raises(ValueError, match=r"features must map a batch of 8 samples to a tensor with 8 rows .* got "
                                         r"shape \(\)"):
        AdaptiveMix()(lambda x: F(x).mean(), real, real)
    with pytest.raises(ValueError, match=r"with 4 rows .* got shape \(1, 8\)"):
        AdaptiveMix()(lambda x: F(x)[:1], real, real, features_real=F(real), features_fake=F(real))
    with pytest.raises(ValueError, match=r"features_a must be F's output on the batch, a tensor with 4 rows, got "
                                         r"torch.Size\(\[2, 8\]\)"):
        adaptivemix_loss(F, real, features_a=F(real)[:2])
    # reused features from another function than `features` (D's scores instead of F's outputs) are named
    with pytest.raises(ValueError, match=r"the reused features \(features_real/features_fake.* have shape \(4,\) "
                                         r"per pair but features returned \(4, 8\)"):
        AdaptiveMix()(F, real, real, features_real=F(real).sum(1), features_fake=F(real).sum(1))
    # a callable with one score per sample, shape (B,), is a 1-d feature: same loss as its (B, 1) version
    score = nn.Linear(3, 1)
    gen = torch.Generator().manual_seed(0)
    flat = AdaptiveMix()(lambda x: score(x).squeeze(1), real, real.flip(0), generator=gen)
    column = AdaptiveMix()(score, real, real.flip(0), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(flat, column)
    # within and separate accept different batch sizes of real and fake
    for pairing in ("within", "separate"):
        assert AdaptiveMix(pairing=pairing)(F, real, torch.randn(2, 3)).ndim == 0
