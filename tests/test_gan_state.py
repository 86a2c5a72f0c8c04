"""The regularizers leave D as they found it, send gradients to D only, and run under autocast."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hrr.gan import (
    FGM,
    PGD,
    AdaptiveAdversarial,
    AdaptiveMix,
    gradient_penalty,
    lipschitz_ratio,
    preserved_state,
)

pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


class SmallD(nn.Module):
    """DCGAN-like critic with BatchNorm, spectral norm on one layer and a dropout, split into features and head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 4, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.LeakyReLU(0.2),
            nn.utils.parametrizations.spectral_norm(nn.Conv2d(8, 16, 4, stride=2, padding=1)),
            nn.BatchNorm2d(16),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.0),
            nn.Flatten(),
        )
        self.head = nn.Linear(16 * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


def _snapshot(module: nn.Module) -> dict:
    return {
        "buffers": {k: v.clone() for k, v in module.named_buffers()},
        "buffer_versions": {k: v._version for k, v in module.named_buffers()},
        "modes": {k: m.training for k, m in module.named_modules()},
        "flags": {k: p.requires_grad for k, p in module.named_parameters()},
        "grads": {k: None if p.grad is None else p.grad.clone() for k, p in module.named_parameters()},
    }


def _assert_same(before: dict, after: dict) -> None:
    assert before["buffers"].keys() == after["buffers"].keys()
    for k, v in before["buffers"].items():
        assert torch.equal(v, after["buffers"][k]), f"buffer {k} changed"
    assert before["buffer_versions"] == after["buffer_versions"]
    assert before["modes"] == after["modes"]
    assert before["flags"] == after["flags"]
    for k, g in before["grads"].items():
        if g is None:
            assert after["grads"][k] is None, f"{k}.grad was created"
        else:
            assert torch.equal(g, after["grads"][k]), f"{k}.grad changed"


def _regularizer_calls(D: SmallD) -> dict:
    real, fake = torch.randn(6, 3, 16, 16), torch.randn(6, 3, 16, 16)
    h = D.features(real).detach()  # the user's own forward (allowed to move BN), done before the snapshot
    return {
        "fgm": lambda: FGM(0.5, module=D)(real, lambda z: -D(z).mean()),
        "pgd": lambda: PGD(0.5, 0.2, 3, random_start=True, module=D)(fake, lambda z: D(z).mean()),
        "adaptive_pgd": lambda: AdaptiveAdversarial(D, eps=0.5, step_size=0.2, steps=3, kappa=1e6)(
            real, lambda z: -D(z).mean()),
        "adaptive_fgm": lambda: AdaptiveAdversarial(D, eps=0.5, step_size=0.2, steps=3, kappa=1e-9)(
            real, lambda z: -D(z).mean()),
        "embedding": lambda: FGM(0.5, module=D)(h, lambda t: -D.head(t).mean()),
        "adaptivemix": lambda: AdaptiveMix()(D.features, real, fake),
        "lipschitz": lambda: lipschitz_ratio(D.features, real, fake),
    }


@pytest.mark.parametrize("name", ["fgm", "pgd", "adaptive_pgd", "adaptive_fgm", "embedding", "adaptivemix",
                                  "lipschitz"])
@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
@pytest.mark.parametrize("existing_grads", [False, True])
def test_regularizers_leave_d_unchanged(name: str, mode: str, existing_grads: bool) -> None:
    torch.manual_seed(0)
    D = SmallD()
    D.train(mode != "eval")
    if mode == "mixed":
        D.features[1].eval()
        D.head.requires_grad_(False)
    if existing_grads:
        D(torch.randn(4, 3, 16, 16)).sum().backward()
    call = _regularizer_calls(D)[name]
    before = _snapshot(D)
    out = call()
    if name == "adaptivemix":
        assert out.requires_grad  # it is a loss: it carries a graph to F, but has not written any .grad
    after = _snapshot(D)
    _assert_same(before, after)


def test_attack_really_ran_forwards_that_would_have_moved_bn() -> None:
    """Control: the same forwards without preserved_state do move the running stats (the test has teeth)."""
    D = SmallD().train()
    before = _snapshot(D)
    real = torch.randn(6, 3, 16, 16)
    real_adv = FGM(0.5)(real, lambda z: -D(z).mean())  # no module= given: not protected
    assert real_adv.shape == real.shape
    assert not torch.equal(before["buffers"]["features.1.running_mean"], D.features[1].running_mean)


def test_graph_built_before_the_attack_still_backpropagates() -> None:
    D = SmallD().eval()  # eval BN saves running stats for backward: an in-place restore would break this
    x = torch.randn(4, 3, 16, 16)
    loss = D(x).mean()
    FGM(0.3, module=D)(x, lambda z: -D(z).mean())
    loss.backward()
    assert D.head.weight.grad is not None


def test_d_step_gradients_reach_d_only() -> None:
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(8, 3 * 16 * 16), nn.Tanh(), nn.Unflatten(1, (3, 16, 16)))
    D = SmallD()
    real = torch.randn(6, 3, 16, 16)
    fake = G(torch.randn(6, 8))  # the caller forgot to detach
    adv = AdaptiveAdversarial(D, eps=0.5, step_size=0.2, steps=2, kappa=1.0)
    real_adv = adv(real, lambda z: -D(z).mean())
    fake_adv = PGD(0.5, 0.2, 2, module=D)(fake, lambda z: D(z).mean())
    assert not real_adv.requires_grad and not fake_adv.requires_grad
    loss = D(fake_adv).mean() - D(real_adv).mean() + 10 * gradient_penalty(D, real, fake)
    loss = loss + AdaptiveMix()(D.features, real, fake)
    loss.backward()
    assert all(p.grad is None for p in G.parameters())
    assert all(p.grad is not None for p in D.parameters())


def test_preserved_state_restores_after_exception() -> None:
    D = SmallD().train()
    snapshot = _snapshot(D)
    with pytest.raises(RuntimeError), preserved_state(D):
        D(torch.randn(2, 3, 16, 16))
        D.eval()
        D.head.requires_grad_(False)
        raise RuntimeError("boom")
    _assert_same(snapshot, _snapshot(D))


def test_autocast_bf16_cpu_step() -> None:
    torch.manual_seed(0)
    D = SmallD()
    opt = torch.optim.Adam(D.parameters(), lr=1e-4)
    real, fake = torch.randn(6, 3, 16, 16), torch.randn(6, 3, 16, 16)
    adv = AdaptiveAdversarial(D, eps=0.5, step_size=0.2, steps=2, kappa=1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        real_adv = adv(real, lambda z: -D(z).mean())
        fake_adv = FGM(0.5, module=D)(fake, lambda z: D(z).mean())
        mix = AdaptiveMix()(D.features, real, fake)
        loss = D(fake_adv).float().mean() - D(real_adv).float().mean() + mix
    assert torch.isfinite(real_adv).all() and torch.isfinite(fake_adv).all()
    assert real_adv.dtype == torch.float32
    assert mix.dtype == torch.float32
    norms = (fake_adv - fake).flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((6,), 0.5), rtol=1e-3, atol=0)
    w0 = copy.deepcopy(D.head.weight.detach())
    loss.backward()
    opt.step()
    assert not torch.equal(w0, D.head.weight.detach())


@pytest.mark.cuda
def test_autocast_fp16_cuda_step_with_loss_scale() -> None:
    torch.manual_seed(0)
    D = SmallD().cuda()
    scaler = torch.amp.GradScaler("cuda")
    opt = torch.optim.Adam(D.parameters(), lr=1e-4)
    real = torch.randn(6, 3, 16, 16, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        attack = FGM(0.5, module=D, loss_scale=scaler.get_scale())
        real_adv = attack(real, lambda z: -1e-6 * D(z).float().mean())  # tiny loss: fp16 needs the scale
        loss = -D(real_adv).float().mean() + AdaptiveMix()(D.features, real, real.flip(0))
    norms = (real_adv - real).flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((6,), 0.5, device="cuda"), rtol=1e-3, atol=0)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
