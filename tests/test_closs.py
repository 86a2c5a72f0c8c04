"""Eq. (8) C-loss and Eq. (13) half-quadratic weights."""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from hrr.afr._closs import closs_beta, correntropy_loss, hq_weights

sigmas = st.floats(min_value=0.05, max_value=50.0)
residuals = st.floats(min_value=-20.0, max_value=20.0)


@given(sigmas)
def test_beta_normalises_loss_at_zero_decision(sigma: float) -> None:
    # l_sigma(y, 0) = 1: with y = +-1 and f = 0 the residual is +-1.
    for r in (1.0, -1.0):
        value = correntropy_loss(torch.tensor([r], dtype=torch.float64), sigma)
        assert math.isclose(float(value), 1.0, rel_tol=1e-12)


@given(sigmas, residuals)
def test_closs_matches_eq8_and_is_bounded(sigma: float, r: float) -> None:
    beta = 1.0 / (1.0 - math.exp(-1.0 / sigma**2)) if sigma < 5 else closs_beta(sigma)
    expected = beta * (1.0 - math.exp(-(r**2) / sigma**2))
    value = float(correntropy_loss(torch.tensor([r], dtype=torch.float64), sigma))
    assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12)
    assert 0.0 <= value <= closs_beta(sigma) * (1 + 1e-12)


@given(sigmas, residuals)
def test_hq_weight_attains_the_conjugate_supremum(sigma: float, r: float) -> None:
    # Eq. (10): exp(-u) = sup_{b<0} (b u - g(b)), g(b) = -b log(-b) + b, attained at b = -exp(-u) (Eq. 13).
    u = r**2 / sigma**2
    w = float(hq_weights(torch.tensor([r], dtype=torch.float64), sigma))
    assert math.isclose(w, math.exp(-u), rel_tol=1e-12, abs_tol=1e-300)
    if w > 1e-200:
        b = -w
        attained = b * u - (-b * math.log(-b) + b)
        assert math.isclose(attained, math.exp(-u), rel_tol=1e-9, abs_tol=1e-300)
        for other in (b * 0.5, b * 1.5):
            assert other * u - (-other * math.log(-other) + other) <= attained + 1e-12


def test_closs_approaches_scaled_square_loss_for_large_sigma() -> None:
    r = torch.linspace(-2, 2, 9, dtype=torch.float64)
    sigma = 1e3
    assert torch.allclose(correntropy_loss(r, sigma), r**2, rtol=1e-5)
