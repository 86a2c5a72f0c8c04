"""Detection metrics in the ForenSynths convention, per-generator tables, and their markdown/CSV/JSON/plot output.

Convention (CNNDetection ``eval.py``/``validate.py``, used by every peer): "fake" is the positive class;
accuracy is taken at a fixed threshold on the probability of "generated" (an image counts as fake when
``prob > threshold``); AP is scikit-learn's ``average_precision_score`` with fakes positive; the "mean" row of
a table is the unweighted mean over groups (generators), not a pooled score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "METRIC_KEYS",
    "best_threshold",
    "calibration_metrics",
    "detection_metrics",
    "is_generated",
    "per_group_table",
]

METRIC_KEYS: tuple[str, ...] = ("acc", "ap", "real_acc", "fake_acc", "auc")
"""Score columns (fractions in [0, 1]; NaN where undefined)."""



def is_generated(prob: Any, threshold: float = 0.5) -> Any:
    """The one decision rule of the library: an image is called generated when ``prob > threshold``.

    CNNDetection's rule, used by training logs (``val_acc``), :func:`detection_metrics`, evaluation
    predictions and :meth:`hrr.detect.HRRDetector.predict_paths` alike, so a probability of exactly
    ``threshold`` is "real" everywhere.

    Parameters
    ----------
    prob : float, numpy.ndarray or torch.Tensor
        Probability (or probabilities) of "generated", in [0, 1].
    threshold : float, default 0.5

    Returns
    -------
    bool, or a boolean array / tensor of the same shape as ``prob``.

    Examples
    --------
    >>> is_generated(0.5), is_generated(0.51)
    (False, True)
    >>> is_generated(np.array([0.2, 0.7])).tolist()
    [False, True]
    """
    decision = prob > threshold
    return bool(decision) if isinstance(prob, (int, float)) else decision


def _check_inputs(y_true: Any, prob: Any, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(prob, dtype=np.float64) if not isinstance(prob, np.ndarray) else prob.astype(np.float64)
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(f"y_true and prob must be 1-D arrays of equal length; got shapes {y.shape} and {p.shape}")
    if y.shape[0] != p.shape[0]:
        raise ValueError(f"y_true and prob must have equal length; got {y.shape[0]} and {p.shape[0]}")
    if y.shape[0] == 0:
        raise ValueError("y_true and prob are empty; need at least one prediction")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold 0 (real) and 1 (fake) only; got values {np.unique(y)[:10].tolist()}")
    if not np.isfinite(p).all() or p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(
            "prob must hold finite probabilities of 'generated' in [0, 1] (apply a sigmoid to logits); "
            f"got values in [{np.nanmin(p):.4g}, {np.nanmax(p):.4g}]"
            + (" with NaN/inf" if not np.isfinite(p).all() else "")
        )
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1]; got {threshold!r}")
    return y.astype(np.int64), p


def detection_metrics(y_true: Any, prob: Any, threshold: float = 0.5) -> dict[str, float | int]:
    """Accuracy, AP, real/fake accuracy and ROC-AUC of "probability of generated" scores.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        0 for real, 1 for fake / generated.
    prob : array-like of float, shape (n,)
        Predicted probability that each image is generated, in [0, 1].
    threshold : float, default 0.5
        An image is predicted fake when ``prob > threshold`` (CNNDetection's rule).

    Returns
    -------
    dict
        ``n``, ``n_real``, ``n_fake`` (ints) and ``acc``, ``ap``, ``real_acc``, ``fake_acc``, ``auc`` (floats in
        [0, 1]). When only one class is present, ``ap`` and ``auc`` are NaN (undefined: sklearn's AP would be
        0 or 1 whatever the scores), and ``real_acc`` (no reals) or ``fake_acc`` (no fakes) is NaN;
        ``acc`` is always defined.

    Raises
    ------
    ValueError
        Empty or unequal inputs, labels other than 0/1, probabilities outside [0, 1] or not finite.

    Examples
    --------
    >>> m = detection_metrics([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.9])
    >>> m["acc"], m["real_acc"], m["fake_acc"], m["ap"]
    (0.75, 0.5, 1.0, 1.0)
    """
    y, p = _check_inputs(y_true, prob, threshold)
    pred = is_generated(p, threshold).astype(np.int64)
    correct = pred == y
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    both = n_real > 0 and n_fake > 0
    return {
        "n": int(y.shape[0]),
        "n_real": n_real,
        "n_fake": n_fake,
        "acc": float(correct.mean()),
        "ap": float(average_precision_score(y, p)) if both else math.nan,
        "real_acc": float(correct[y == 0].mean()) if n_real else math.nan,
        "fake_acc": float(correct[y == 1].mean()) if n_fake else math.nan,
        "auc": float(roc_auc_score(y, p)) if both else math.nan,
    }


def calibration_metrics(y_true: Any, prob: Any, n_bins: int = 10) -> dict[str, float]:
    """How far "probability of generated" is from the observed frequency of generated images.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        0 real, 1 generated.
    prob : array-like of float, shape (n,)
        Probability of "generated" in [0, 1].
    n_bins : int, default 10
        Equal-width probability bins of the expected calibration error.

    Returns
    -------
    dict
        ``ece``: expected calibration error, sum over bins of |share generated - mean probability| x bin share
        (Guo et al. 2017; 0 is perfect, and so is a constant answer of the base rate); ``brier``: mean squared
        error of the probabilities (0 perfect, 0.25 for a constant 1/2 on balanced data); ``mean_prob``: the mean
        probability.

    Raises
    ------
    ValueError
        As :func:`detection_metrics`, or ``n_bins`` not a positive int.

    Examples
    --------
    >>> m = calibration_metrics([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    >>> m["ece"], m["brier"]
    (0.0, 0.25)
    """
    from sklearn.metrics import brier_score_loss

    from hrr.afr import expected_calibration_error

    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int; got {n_bins!r}")
    y, p = _check_inputs(y_true, prob, 0.5)
    return {"ece": expected_calibration_error(y, p, n_bins), "brier": float(brier_score_loss(y, p, pos_label=1)),
            "mean_prob": float(p.mean())}


def best_threshold(y_true: Any, prob: Any) -> tuple[float, float]:
    """The decision threshold with the highest accuracy on labelled data, and that accuracy.

    A model can rank well (high AP) and still be miscalibrated at 0.5 (CNNDetection issue #14; UnivFD computes the
    same "oracle" threshold). Choose the threshold on a validation split, never on the test set you report.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        0 real, 1 fake.
    prob : array-like of float, shape (n,)
        Probability of "generated" in [0, 1].

    Returns
    -------
    threshold : float
        In [0, 1], for the rule ``prob > threshold``: the midpoint between two adjacent distinct scores (or 0 / 1
        for "all fake" / "all real"); among equally accurate thresholds, the one closest to 0.5.
    accuracy : float
        Accuracy at that threshold.

    Examples
    --------
    >>> best_threshold([0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9])
    (0.75, 1.0)
    """
    y, p = _check_inputs(y_true, prob, 0.5)
    values = np.unique(p)
    mids = values[:-1] + (values[1:] - values[:-1]) / 2.0
    # Adjacent floats can round the midpoint up onto the upper score; the lower score splits the same way then.
    candidates = np.where(mids < values[1:], mids, values[:-1]).tolist()
    candidates.append(1.0)  # nothing is > 1: all real
    if values[0] > 0.0:
        candidates.append(0.0)  # everything is > 0: all fake
    t = np.asarray(candidates)
    # fakes above t are right, reals at or below t are right
    order = np.sort(p[y == 1]), np.sort(p[y == 0])
    correct = (order[0].size - np.searchsorted(order[0], t, side="right")) + np.searchsorted(order[1], t, side="right")
    acc = correct / y.size
    best = np.flatnonzero(acc == acc.max())
    pick = best[np.argmin(np.abs(t[best] - 0.5))]
    return float(t[pick]), float(acc[pick])


def per_group_table(
    y_true: Any,
    prob: Any,
    groups: Sequence[str] | np.ndarray,
    threshold: float = 0.5,
    *,
    order: Sequence[str] | None = None,
    pooled: bool = False,
) -> list[dict[str, Any]]:
    """One row of :func:`detection_metrics` per group (generator), then the unweighted ``"mean"`` row.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        0 real, 1 fake.
    prob : array-like of float, shape (n,)
        Probability of "generated" in [0, 1].
    groups : sequence of str, shape (n,)
        Group (generator) of each prediction.
    threshold : float, default 0.5
        Decision threshold for the accuracies.
    order : sequence of str, optional
        Row order (e.g. the paper's generator order); must list exactly the groups present. Default: order of
        first appearance.
    pooled : bool, default False
        Also append an ``"all"`` row computed on all predictions pooled.

    Returns
    -------
    list of dict
        Rows ``{"group", "n", "n_real", "n_fake", "acc", "ap", "real_acc", "fake_acc", "auc"}``. In the
        ``"mean"`` row each score is the mean over the groups where it is defined (NaN-skipping: a real-only
        group adds to the mean accuracy but not to the mean AP) and counts are totals.

    Examples
    --------
    >>> rows = per_group_table([0, 1, 0, 1], [0.2, 0.9, 0.6, 0.7], ["a", "a", "b", "b"])
    >>> [(r["group"], r["acc"]) for r in rows]
    [('a', 1.0), ('b', 0.5), ('mean', 0.75)]
    """
    y, p = _check_inputs(y_true, prob, threshold)
    g = np.asarray([str(x) for x in groups], dtype=object)
    if g.shape != y.shape:
        raise ValueError(f"groups must have one entry per prediction ({y.shape[0]}); got {g.shape[0]}")
    present = list(dict.fromkeys(g.tolist()))
    reserved = {"mean", "all"} & set(present)
    if reserved:
        raise ValueError(f"group names {sorted(reserved)} are reserved for summary rows; rename those groups")
    if order is not None:
        order = [str(o) for o in order]
        if sorted(order) != sorted(present):
            raise ValueError(f"order must list exactly the groups present {sorted(present)}; got {list(order)}")
        present = order
    rows: list[dict[str, Any]] = []
    for name in present:
        mask = g == name
        rows.append({"group": name, **detection_metrics(y[mask], p[mask], threshold)})
    mean_row: dict[str, Any] = {"group": "mean"}
    for key in ("n", "n_real", "n_fake"):
        mean_row[key] = int(sum(r[key] for r in rows))
    for key in METRIC_KEYS:
        values = [r[key] for r in rows if not math.isnan(r[key])]
        mean_row[key] = float(np.mean(values)) if values else math.nan
    rows.append(mean_row)
    if pooled:
        rows.append({"group": "all", **detection_metrics(y, p, threshold)})
    return rows
















