"""FGM / PGD: exact radius, ball constraint, analytic directions on linear discriminators, embeddings."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from hrr.gan import FGM, PGD, fgm, pgd, project


def _linear_d(dim: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(dim, 1).to(dtype)


@given(
    eps=st.floats(1e-3, 10.0),
    batch=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_fgm_l2_norm_is_exactly_eps_per_sample(eps: float, batch: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    D = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 4 * 4, 1)).double()
    x = torch.randn(batch, 3, 6, 6, generator=gen, dtype=torch.float64)
    x_adv = FGM(eps, module=D)(x, lambda z: -D(z).mean())
    norms = (x_adv - x).flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((batch,), eps, dtype=torch.float64), rtol=1e-10, atol=0)


def test_fgm_l2_norm_float32() -> None:
    # in float32, x_adv − x carries the rounding of x + r (|x| ~ 1), hence the looser tolerance
    D = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 4 * 4, 1))
    x = torch.randn(8, 3, 6, 6)
    x_adv = FGM(0.5, module=D)(x, lambda z: -D(z).mean())
    assert x_adv.dtype == torch.float32
    norms = (x_adv - x).flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((8,), 0.5), rtol=1e-5, atol=0)


def test_fgm_float64_precision_and_linf() -> None:
    D = _linear_d(10)
    x = torch.randn(5, 10, dtype=torch.float64)
    r = fgm(lambda z: D(z).sum(), x, 0.3) - x
    torch.testing.assert_close(r.norm(dim=1), torch.full((5,), 0.3, dtype=torch.float64), rtol=1e-12, atol=0)
    r_inf = fgm(lambda z: D(z).sum(), x, 0.3, norm="linf") - x
    torch.testing.assert_close(r_inf.abs(), torch.full_like(x, 0.3), rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("random_start", [False, True])
@pytest.mark.parametrize("steps", [1, 3, 7])
def test_pgd_stays_inside_the_ball(norm: str, random_start: bool, steps: int, dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    D = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 1)).to(dtype)
    x = torch.randn(9, 12, dtype=dtype)
    eps = 0.7
    # x_adv − x re-rounds x + δ: allow that rounding (a few ulps of |x|), nothing more
    slack = 4 * torch.finfo(dtype).eps * float(x.abs().max())
    for step_size in (0.05, 0.7, 5.0):  # small, equal and much larger than eps
        x_adv = pgd(lambda z: -D(z).mean(), x, eps, step_size, steps, norm=norm, random_start=random_start,
                    generator=torch.Generator().manual_seed(3))
        delta = (x_adv - x).flatten(1)
        if norm == "l2":
            assert float(delta.norm(dim=1).max()) <= eps * (1 + 1e-6) + slack * 12**0.5
        else:
            assert float(delta.abs().max()) <= eps + slack


@given(eps=st.floats(1e-3, 100.0), seed=st.integers(0, 100))
def test_project_never_exceeds_eps(eps: float, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    delta = torch.randn(7, 3, 4, generator=gen) * 50
    out = project(delta, eps, "l2")
    assert float(out.flatten(1).norm(dim=1).max()) <= eps * (1 + 1e-6)
    inside = torch.randn(7, 3, 4, generator=gen)
    inside = inside / inside.flatten(1).norm(dim=1).view(-1, 1, 1) * eps * 0.5
    torch.testing.assert_close(project(inside, eps, "l2"), inside)


def test_linear_d_analytic_directions() -> None:
    """D(x) = <w, x> + b. Maximising −D moves along −w: FGM −ε w/‖w‖; L2-PGD with T·α >= ε the same point;
    L∞-PGD −ε sign(w)."""
    D = _linear_d(20)
    w = D.weight.detach()[0]
    x = torch.randn(4, 20, dtype=torch.float64)
    eps = 0.5
    expected_l2 = x - eps * w / w.norm()
    torch.testing.assert_close(fgm(lambda z: -D(z).mean(), x, eps), expected_l2)
    torch.testing.assert_close(pgd(lambda z: -D(z).mean(), x, eps, 0.2, 5), expected_l2, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(pgd(lambda z: -D(z).mean(), x, eps, 0.2, 5, norm="linf"), x - eps * torch.sign(w))
    # maximising +D moves the other way
    torch.testing.assert_close(fgm(lambda z: D(z).mean(), x, eps), x + eps * w / w.norm())


def test_embedding_attack_with_linear_head() -> None:
    """The attacks work on any tensor: perturb the embedding h = F(x) fed to a linear head J."""
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten())
    head = nn.Linear(4 * 5 * 5, 1)
    x = torch.randn(3, 3, 5, 5)
    h = features(x)
    h_adv = fgm(lambda z: -head(z).mean(), h.detach(), 0.25, module=head)
    w = head.weight.detach()[0]
    torch.testing.assert_close(h_adv - h.detach(), (-0.25 * w / w.norm()).expand(3, -1), rtol=1e-5, atol=1e-6)
    # the training loss uses F(x) + r, so gradients reach F's parameters through h, not through r
    loss = -head(h + (h_adv - h.detach())).mean()
    loss.backward()
    assert all(p.grad is not None for p in features.parameters())
    # the adversarial point has a lower critic value (higher loss) than the clean one
    with torch.no_grad():
        assert float(-head(h_adv).mean()) > float(-head(h.detach()).mean())


def test_pgd_increases_loss_more_than_or_equal_to_fgm_on_nonlinear_d() -> None:
    torch.manual_seed(4)
    D = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    x = torch.randn(64, 8)

    def loss(z: torch.Tensor) -> torch.Tensor:
        return -D(z).mean()

    base = float(loss(x))
    l_fgm = float(loss(fgm(loss, x, 0.5)))
    l_pgd = float(loss(pgd(loss, x, 0.5, 0.1, 10)))
    assert l_fgm > base
    assert l_pgd >= l_fgm - 1e-6


def test_random_start_is_seeded_and_inside_ball() -> None:
    D = nn.Linear(6, 1)
    x = torch.randn(5, 6)
    a = pgd(lambda z: D(z).sum(), x, 0.3, 0.1, 1, random_start=True, generator=torch.Generator().manual_seed(7))
    b = pgd(lambda z: D(z).sum(), x, 0.3, 0.1, 1, random_start=True, generator=torch.Generator().manual_seed(7))
    c = pgd(lambda z: D(z).sum(), x, 0.3, 0.1, 1, random_start=True, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_zero_gradient_gives_zero_perturbation_and_clamp() -> None:
    x = torch.rand(3, 2, 4, 4)
    torch.testing.assert_close(fgm(lambda z: (z * 0).sum(), x, 1.0), x)
    out = PGD(2.0, 1.0, 3, clamp=(0.0, 1.0))(x, lambda z: z.sum())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.all(out >= x)


def test_attack_does_not_keep_graph_or_grad_on_input() -> None:
    D = nn.Linear(4, 1)
    x = torch.randn(3, 4, requires_grad=True)
    out = FGM(0.1)(x, lambda z: D(z).sum())
    assert not out.requires_grad and x.grad is None
