"""Eq. (20): group soft-thresholding (q = 2) and soft-thresholding (q = 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hrr.afr._penalties import GroupL2Penalty, L1Penalty

matrices = arrays(np.float64, (5, 4), elements=st.floats(-10, 10))
thresholds = st.floats(min_value=0.0, max_value=20.0)


@given(matrices, thresholds)
def test_group_soft_threshold_formula_and_optimality(a: np.ndarray, k: float) -> None:
    v = torch.from_numpy(a)
    out = GroupL2Penalty().prox(v, k)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    expected = np.where(norms > k, (1 - k / np.where(norms > 0, norms, 1)) * a, 0.0)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    # Prox optimality: v - prox(v) in k * d||prox(v)||_2, i.e. zero KKT distance with grad = prox - v.
    dist = GroupL2Penalty().subdiff_distance(out, out - v, k)
    assert float(dist.max()) <= 1e-9 * max(1.0, k)


@given(matrices, thresholds)
def test_soft_threshold_formula_and_optimality(a: np.ndarray, k: float) -> None:
    v = torch.from_numpy(a)
    out = L1Penalty().prox(v, k)
    expected = np.maximum(a - k, 0) - np.maximum(-a - k, 0)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    dist = L1Penalty().subdiff_distance(out, out - v, k)
    assert float(dist.max()) <= 1e-9 * max(1.0, k)


@pytest.mark.parametrize("penalty", [GroupL2Penalty(), L1Penalty()])
@given(a=matrices, b=matrices, k=thresholds)
def test_prox_is_nonexpansive(penalty, a: np.ndarray, b: np.ndarray, k: float) -> None:
    pa, pb = penalty.prox(torch.from_numpy(a), k), penalty.prox(torch.from_numpy(b), k)
    assert float(torch.linalg.norm(pa - pb)) <= np.linalg.norm(a - b) + 1e-9


def test_group_threshold_zeroes_whole_groups_only() -> None:
    v = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]], dtype=torch.float64)
    out = GroupL2Penalty().prox(v, 1.0)
    np.testing.assert_allclose(out.numpy(), [[2.4, 3.2], [0.0, 0.0], [0.0, 0.0]])
    assert float(GroupL2Penalty().value(v)) == pytest.approx(5.5)
    assert float(L1Penalty().value(v)) == pytest.approx(7.7)
