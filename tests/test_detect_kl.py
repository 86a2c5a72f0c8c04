"""KLSeparationLoss / HRRLoss: Eq. 4 values, the documented sign, bounds and one-class behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hrr import KLSeparationLoss
from hrr.detect import HRRLoss
from hrr.detect._kl import batch_distributions, kl_divergence


def _batch(seed: int, n: int = 8, d: int = 5, shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, d, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1] * (n // 2))
    feats[labels == 1, 0] += shift
    return feats, labels


def test_divergence_matches_eq4_by_hand() -> None:
    feats, labels = _batch(0)
    p = torch.softmax(feats[labels == 0], 1).mean(0).numpy()
    q = torch.softmax(feats[labels == 1], 1).mean(0).numpy()
    expected = float(np.sum(p * np.log(p / q)))
    got = float(KLSeparationLoss(eps=1e-30).divergence(feats, labels))
    assert got == pytest.approx(expected, rel=1e-10)


def test_symmetric_is_mean_of_both_directions() -> None:
    feats, labels = _batch(1)
    p, q = batch_distributions(feats, labels)
    sym = KLSeparationLoss(symmetric=True).divergence(feats, labels)
    assert float(sym) == pytest.approx(0.5 * float(kl_divergence(p, q) + kl_divergence(q, p)), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), form=st.sampled_from(["exp", "inverse", "hinge"]),
       temperature=st.floats(0.1, 10.0), symmetric=st.booleans(), scale=st.floats(0.0, 50.0))
def test_loss_bounded_and_decreasing_in_divergence(seed: int, form: str, temperature: float, symmetric: bool,
                                                   scale: float) -> None:
    feats, labels = _batch(seed)
    crit = KLSeparationLoss(temperature, symmetric=symmetric, form=form, margin=2.0)
    value = float(crit(feats * scale, labels))
    d = float(crit.divergence(feats * scale, labels))
    assert d >= -1e-12
    upper = 2.0 if form == "hinge" else 1.0
    assert 0.0 <= value <= upper + 1e-12
    expected = {"exp": math.exp(-d), "inverse": 1 / (1 + d), "hinge": max(0.0, 2.0 - d)}[form]
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_identical_distributions_give_the_maximum_loss() -> None:
    feats = torch.randn(4, 6, dtype=torch.float64)
    both = torch.cat([feats, feats])
    labels = torch.tensor([0] * 4 + [1] * 4)
    assert float(KLSeparationLoss()(both, labels)) == pytest.approx(1.0, abs=1e-12)


def test_gradient_step_increases_the_divergence() -> None:
    """The documented sign: descending the loss pushes P and Q apart (the paper's stated goal)."""
    feats, labels = _batch(3, n=16, d=8)
    feats = feats.clone().requires_grad_(True)
    crit = KLSeparationLoss()
    before = float(crit.divergence(feats, labels).detach())
    opt = torch.optim.SGD([feats], lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        crit(feats, labels).backward()
        opt.step()
    assert float(crit.divergence(feats, labels).detach()) > 1.5 * before


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [1, 1, 1, 1]])
def test_one_class_batch_is_zero_and_connected(labels: list[int]) -> None:
    feats = torch.randn(4, 3, requires_grad=True)
    crit = KLSeparationLoss()
    value = crit(feats, torch.tensor(labels))
    assert float(value) == 0.0
    value.backward()  # stays in the graph: DDP sees every parameter used
    assert feats.grad is not None and torch.all(feats.grad == 0)
    assert crit.divergence(feats, torch.tensor(labels)) is None


def test_single_logit_uses_bernoulli_distributions() -> None:
    logits = torch.tensor([-2.0, -1.0, 1.5, 3.0], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    p_fake_real = torch.sigmoid(logits[:2]).mean()
    p_fake_gen = torch.sigmoid(logits[2:]).mean()
    p = torch.stack([1 - p_fake_real, p_fake_real])
    q = torch.stack([1 - p_fake_gen, p_fake_gen])
    expected = float((p * (p / q).log()).sum())
    assert float(KLSeparationLoss(eps=1e-30).divergence(logits, labels)) == pytest.approx(expected, rel=1e-9)


def test_fp16_and_bf16_inputs_give_float32_loss() -> None:
    feats, labels = _batch(4)
    for dtype in (torch.float16, torch.bfloat16):
        value = KLSeparationLoss()(feats.to(dtype), labels)
        assert value.dtype == torch.float32 and torch.isfinite(value)


def test_hrr_loss_is_ce_plus_gamma_kl() -> None:
    feats, labels = _batch(5)
    logits = torch.randn(8, dtype=torch.float64)
    total, parts = HRRLoss(gamma=0.8)(logits, feats, labels)
    ce = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    kl = KLSeparationLoss()(feats, labels)
    assert float(total) == pytest.approx(float(ce + 0.8 * kl), rel=1e-6)
    assert parts["ce"] == pytest.approx(float(ce), rel=1e-6) and parts["kl"] == pytest.approx(float(kl), rel=1e-6)
    total0, parts0 = HRRLoss(gamma=0.0)(logits, feats, labels)
    assert float(total0) == pytest.approx(float(ce), rel=1e-6) and parts0["kl"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"temperature": 0}, "temperature must be a positive"), ({"form": "log"}, "form must be one of"),
     ({"margin": -1}, "margin must be a positive")],
)
def test_constructor_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        KLSeparationLoss(**kwargs)


def test_forward_errors_name_the_argument() -> None:
    crit = KLSeparationLoss()
    with pytest.raises(TypeError, match="features must be a floating-point"):
        crit(torch.zeros(4, 2, dtype=torch.long), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="one entry per row"):
        crit(torch.zeros(4, 2), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="only 0 \\(real\\) and 1"):
        crit(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="gamma must be"):
        HRRLoss(gamma=-1)
