"""The SpAM additive design (Ravikumar et al., 2009) as a binary task with optional label noise."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.utils import check_random_state

N_INFORMATIVE = 4


def _spam_components(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """f_1..f_4 of the SpAM design, applied to the first four columns."""
    return np.column_stack(
        [
            -2.0 * np.sin(2.0 * x[:, 0]),
            x[:, 1] ** 2 - 1.0 / 3.0,
            x[:, 2] - 0.5,
            np.exp(-x[:, 3]) + np.exp(-1.0) - 1.0,
        ]
    )


def make_additive_classification(
    n_samples: int = 1000,
    n_features: int = 100,
    *,
    correlation: float = 0.0,
    noise: float = 0.5,
    flip: float = 0.0,
    random_state: int | np.random.RandomState | None = None,
    return_clean: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.int64]] | tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Binary additive task: only features 0-3 matter, through non-linear components.

    X_j = (W_j + t U) / (1 + t) with W_j, U ~ U(-2.5, 2.5) and t = ``correlation``;
    y = 1[f(x) - median(f) + N(0, noise^2) > 0] with f = sum of the four SpAM components
    (-2 sin 2x, x^2 - 1/3, x - 1/2, e^-x + e^-1 - 1). A fraction ``flip`` of the labels is then flipped
    uniformly at random (symmetric label noise).

    Parameters
    ----------
    n_samples, n_features : int
        Shape of X; ``n_features`` must be >= 4.
    correlation : float, default=0
        t above; t = 1 gives pairwise feature correlation 0.5.
    noise : float, default=0.5
        Standard deviation of the Gaussian noise added to f before thresholding.
    flip : float in [0, 0.5), default=0
        Fraction of labels flipped after thresholding.
    random_state : int, RandomState or None
    return_clean : bool, default=False
        Also return the labels before flipping.

    Returns
    -------
    X : ndarray (n_samples, n_features)
    y : ndarray (n_samples,) of {0, 1}
    y_clean : ndarray (n_samples,), only with ``return_clean=True``
    """
    if n_features < N_INFORMATIVE:
        raise ValueError(f"n_features must be >= {N_INFORMATIVE}; got {n_features}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2; got {n_samples}")
    if not 0.0 <= flip < 0.5:
        raise ValueError(f"flip must be in [0, 0.5); got {flip}")
    rng = check_random_state(random_state)
    w = rng.uniform(-2.5, 2.5, size=(n_samples, n_features))
    u = rng.uniform(-2.5, 2.5, size=(n_samples, 1))
    X = (w + correlation * u) / (1.0 + correlation)
    f = _spam_components(X).sum(axis=1)
    y_clean = (f - np.median(f) + noise * rng.standard_normal(n_samples) > 0).astype(np.int64)
    flipped = rng.random_sample(n_samples) < flip
    y = np.where(flipped, 1 - y_clean, y_clean)
    if return_clean:
        return X, y, y_clean
    return X, y
