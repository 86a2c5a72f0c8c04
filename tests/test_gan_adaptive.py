"""W_σ by power iteration and Algorithm 1's switching rule (Tang et al., §4.3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hrr.gan import AdaptiveAdversarial, SpectralNormEstimator, fgm, pgd, power_iteration, weight_matrix

LAYERS = [
    nn.Linear(64, 32),
    nn.Linear(7, 300),
    nn.Conv2d(3, 32, 3),
    nn.Conv2d(32, 32, 3),
    nn.Conv2d(64, 128, 4, stride=2),
    nn.ConvTranspose2d(16, 8, 4, stride=2),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda m: type(m).__name__ + str(tuple(m.weight.shape)))
def test_power_iteration_matches_matrix_norm(layer: nn.Module) -> None:
    torch.manual_seed(0)
    nn.init.normal_(layer.weight)  # random Gaussian: almost no spectral gap, the hard case
    w = layer.weight.detach()
    if isinstance(layer, nn.ConvTranspose2d):
        w = w.transpose(0, 1)
    exact = float(torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2))
    est = SpectralNormEstimator(layer)
    got = est.update()[est.last_layer]
    assert got <= exact * (1 + 1e-5)  # power iteration is a lower bound
    assert abs(got - exact) / exact < 0.01


def test_warm_start_tracks_drifting_weights_with_one_iteration() -> None:
    torch.manual_seed(1)
    layer = nn.Conv2d(32, 32, 3)
    est = SpectralNormEstimator(layer, n_power_iterations=1)
    est.update()
    for _ in range(50):
        with torch.no_grad():
            layer.weight.add_(0.002 * torch.randn_like(layer.weight))
        est.update()
    exact = float(torch.linalg.matrix_norm(weight_matrix(layer), ord=2))
    assert abs(est.sigma() - exact) / exact < 0.01


def test_refresh_every_and_state_dict() -> None:
    layer = nn.Linear(10, 10)
    est = SpectralNormEstimator(layer, refresh_every=3)
    first = est.update()
    with torch.no_grad():
        layer.weight.mul_(2.0)
    assert est.update() == first  # cached (call 1)
    assert est.update() == first  # cached (call 2)
    refreshed = est.update()  # call 3: refresh
    assert abs(refreshed[""] - 2 * first[""]) / (2 * first[""]) < 1e-3  # a bare layer is named ""
    state = est.state_dict()
    other = SpectralNormEstimator(layer, refresh_every=3)
    other.load_state_dict(state)
    assert other.sigmas == est.sigmas and other.calls == est.calls


def test_sigma_reductions() -> None:
    net = nn.Sequential(nn.Linear(4, 4, bias=False), nn.ReLU(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.diag(torch.tensor([3.0, 1.0, 0.5, 0.1])))
        net[2].weight.copy_(torch.tensor([[0.0, 2.0, 0.0, 0.0]]))
    est = SpectralNormEstimator(net, init_iterations=200)
    est.update()
    assert est.last_layer == "2"
    assert est.sigma("last") == pytest.approx(2.0, rel=1e-6)
    assert est.sigma("max") == pytest.approx(3.0, rel=1e-6)
    assert est.sigma("product") == pytest.approx(6.0, rel=1e-6)
    assert est.sigma("0") == pytest.approx(3.0, rel=1e-6)
    s, _ = power_iteration(net[0].weight, n_iter=200)
    assert s == pytest.approx(3.0, rel=1e-6)


def _make(kappa: float = 1.0, step_size: float = 0.25) -> tuple[nn.Module, AdaptiveAdversarial]:
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))
    return D, AdaptiveAdversarial(D, eps=0.5, step_size=step_size, steps=4, kappa=kappa)


@pytest.mark.parametrize("offset, expected", [(-1e-9, "pgd"), (0.0, "fgm"), (1e-9, "fgm"), (-0.3, "pgd"), (0.3, "fgm")])
def test_rule_picks_pgd_exactly_below_threshold(monkeypatch: pytest.MonkeyPatch, offset: float, expected: str) -> None:
    D, adv = _make(kappa=1.0, step_size=0.25)
    threshold = 1.0 / (2 * 0.25)
    monkeypatch.setattr(adv, "w_sigma", lambda: threshold + offset)
    x = torch.randn(8, 6)
    loss = lambda z: -D(z).mean()  # noqa: E731
    out = adv(x, loss)
    assert adv.last_method == expected
    assert adv.last_sigma == threshold + offset
    assert adv.last_threshold == pytest.approx(threshold)
    # and the perturbation is the chosen method's
    reference = pgd(loss, x, 0.5, 0.25, 4) if expected == "pgd" else fgm(loss, x, 0.5)
    torch.testing.assert_close(out, reference)


def test_rule_with_real_sigma_on_both_sides() -> None:
    D, _ = _make()
    sigma = float(torch.linalg.matrix_norm(D[2].weight.detach(), ord=2))
    x = torch.randn(8, 6)
    low = AdaptiveAdversarial(D, eps=0.5, step_size=0.25, steps=3, kappa=2 * 0.25 * sigma * 1.05)
    high = AdaptiveAdversarial(D, eps=0.5, step_size=0.25, steps=3, kappa=2 * 0.25 * sigma * 0.95)
    low(x, lambda z: -D(z).mean())
    high(x, lambda z: -D(z).mean())
    assert low.last_method == "pgd" and high.last_method == "fgm"
    assert low.last_sigma == pytest.approx(sigma, rel=1e-3)


def test_kappa_auto_uses_smallest_clean_gradient_norm() -> None:
    D, _ = _make()
    x = torch.randn(8, 6)
    adv = AdaptiveAdversarial(D, eps=0.5, step_size=0.25, steps=3, kappa="auto", loss_scale=64.0)
    adv(x, lambda z: -D(z).mean())
    leaf = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(-D(leaf).mean(), leaf)
    assert adv.last_threshold == pytest.approx(float(g.norm(dim=1).min()) / 0.5, rel=1e-4)


def test_power_iteration_state_lives_in_the_object() -> None:
    D, adv = _make()
    adv2 = AdaptiveAdversarial(D, eps=0.5, step_size=0.25, steps=4, kappa=1.0)
    adv(torch.randn(4, 6), lambda z: -D(z).mean())
    assert adv.estimator.calls == 1 and adv2.estimator.calls == 0
    assert adv.state_dict()["calls"] == 1
