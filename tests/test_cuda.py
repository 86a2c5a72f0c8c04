"""CPU and CUDA fits agree (skipped where no CUDA device is present, as in CI)."""

from __future__ import annotations

import numpy as np
import pytest

from hrr import CorrentropySAM
from hrr.datasets import make_additive_classification

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("linear_solver", ["dense", "woodbury"])
def test_cpu_and_cuda_agree(dtype: str, linear_solver: str) -> None:
    n = 400 if linear_solver == "dense" else 40
    X, y = make_additive_classification(n, 20, flip=0.1, random_state=0)
    kwargs = {"lam": 0.01, "dtype": dtype, "linear_solver": linear_solver}
    cpu = CorrentropySAM(device="cpu", **kwargs).fit(X, y)
    gpu = CorrentropySAM(device="cuda", **kwargs).fit(X, y)
    tol = 1e-8 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(gpu.decision_function(X), cpu.decision_function(X), atol=tol * 100)
    np.testing.assert_allclose(gpu.objective_path_[-1], cpu.objective_path_[-1], rtol=tol)
    assert np.mean(gpu.predict(X) == cpu.predict(X)) > 0.99


def test_auto_device_picks_cuda() -> None:
    X, y = make_additive_classification(100, 5, random_state=1)
    model = CorrentropySAM().fit(X, y)
    assert model.decision_function(X).shape == (100,)
