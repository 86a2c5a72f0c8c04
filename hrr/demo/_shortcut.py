"""The shortcut check of the demo benchmark: can global image statistics alone tell a generator's fakes from reals?

A detector that scores well on a generator whose fakes differ from the reals in colour or blur may have learnt
nothing about generator traces. This module measures that bound: logistic regression on a few global statistics of
each image (per-channel mean and standard deviation, an 8-bin histogram per channel, and two sharpness measures),
scored out of fold by stratified k-fold cross-validation on the real and fake test images themselves. An average
precision near 50 % means the fakes carry no such shortcut; near 100 % means colour or blur alone separates them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from hrr._validate import check_int

HIST_BINS = 8


_RANGE_SLACK = 1e-3  # resampling and float32 round-off overshoot [0, 1] a little; 0-255 data does not pass


def global_statistics(images: NDArray[np.floating], *, name: str = "images") -> NDArray[np.float64]:
    """Shortcut features of a stack of images.

    Parameters
    ----------
    images : ndarray of shape (N, H, W, 3)
        Floats in [0, 1] (values within 1e-3 outside are clipped), H and W >= 3.
    name : str, default="images"
        The argument's name in error messages.

    Returns
    -------
    ndarray of shape (N, 32)
        Per channel: mean (3), standard deviation (3), the fraction of pixels in each of 8 equal bins of [0, 1]
        (24); then log(1e-6 + variance of the grey image's 4-neighbour Laplacian) and log(1e-6 + mean gradient
        magnitude), two sharpness measures.

    Raises
    ------
    ValueError
        ``images`` not of shape (N, H, W, 3) with H, W >= 3, not finite, or outside [0, 1] (e.g. 0-255 values).
    """
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[1] < 3 or arr.shape[2] < 3:
        raise ValueError(f"{name} must be an array of shape (N, H, W, 3) with H, W >= 3; got shape {arr.shape}")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{name} must be finite floats in [0, 1]; got {bad} NaN or infinite values")
    low, high = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if low < -_RANGE_SLACK or high > 1.0 + _RANGE_SLACK:
        raise ValueError(f"{name} must be floats in [0, 1]; got values in [{low:g}, {high:g}] (divide 0-255 "
                         "images by 255)")
    arr = np.clip(arr, 0.0, 1.0)
    n = arr.shape[0]
    flat = arr.reshape(n, -1, 3)
    mean, std = flat.mean(axis=1), flat.std(axis=1)
    bins = np.minimum((flat * HIST_BINS).astype(np.int64), HIST_BINS - 1)  # 1.0 falls in the last bin
    hist = np.stack([(bins == b).mean(axis=1) for b in range(HIST_BINS)], axis=2).reshape(n, -1)
    grey = arr @ np.array([0.299, 0.587, 0.114])
    lap = (grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1] + grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:]
           - 4.0 * grey[:, 1:-1, 1:-1])
    gy, gx = np.diff(grey, axis=1)[:, :, :-1], np.diff(grey, axis=2)[:, :-1, :]
    sharp = np.stack([np.log(1e-6 + lap.reshape(n, -1).var(axis=1)),
                      np.log(1e-6 + np.hypot(gx, gy).reshape(n, -1).mean(axis=1))], axis=1)
    return np.concatenate([mean, std, hist, sharp], axis=1)


def shortcut_scores(real: NDArray[np.floating], fake: NDArray[np.floating], *, n_splits: int = 5,
                    seed: int = 0) -> dict[str, float]:
    """Out-of-fold accuracy and average precision of the shortcut detector on ``real`` vs ``fake``.

    Parameters
    ----------
    real, fake : ndarray of shape (N, H, W, 3)
        Floats in [0, 1]; each set needs at least ``n_splits`` images.
    n_splits : int, default=5
        Folds of the stratified cross-validation.
    seed : int, default=0
        Seeds the shuffle of the folds (a non-negative integer).

    Returns
    -------
    dict
        ``{"acc": accuracy at p > 0.5, "ap": average precision with fake as the positive class}``, fractions.

    Raises
    ------
    ValueError
        ``real`` or ``fake`` not as above (see :func:`global_statistics`), fewer than ``n_splits`` images in a
        set, or a bad ``n_splits`` / ``seed``.

    Notes
    -----
    The real test patches are random crops of a few photos and may overlap, so folds can share near-duplicate
    content; with a linear model on 32 global statistics this makes the score at most slightly optimistic.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_splits = check_int("n_splits", n_splits, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    features = [global_statistics(real, name="real"), global_statistics(fake, name="fake")]
    for name, f in zip(("real", "fake"), features, strict=True):
        if len(f) < n_splits:
            raise ValueError(f"{name} must hold at least n_splits = {n_splits} images; got {len(f)}")
    X = np.concatenate(features)
    y = np.r_[np.zeros(len(features[0])), np.ones(len(features[1]))]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, X, y, cv=folds, method="predict_proba")[:, 1]
    return {"acc": float(((proba > 0.5) == (y == 1)).mean()), "ap": float(average_precision_score(y, proba))}
