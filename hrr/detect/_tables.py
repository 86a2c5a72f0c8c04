"""Result tables of the detector: markdown (percentages), CSV and JSON rows, and precision-recall plots per group."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from hrr._io import atomic_path, figure_format, save_figure
from hrr.detect._metrics import METRIC_KEYS, _check_inputs

__all__ = ["plot_pr_curves", "to_csv", "to_json", "to_markdown"]


def _is_score_column(name: str) -> bool:
    return name.split("/")[-1] in METRIC_KEYS


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def _check_rows(rows: Any) -> list[Mapping[str, Any]]:
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence) or not all(isinstance(r, Mapping) for r in rows):
        raise TypeError(f"rows must be a list of dicts (e.g. from per_group_table); got {type(rows).__name__}")
    if not rows:
        raise ValueError("rows is empty; nothing to write")
    return list(rows)


def to_markdown(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    percent: bool = True,
    digits: int = 2,
) -> str:
    """Render rows as a GitHub markdown table.

    Parameters
    ----------
    rows : sequence of dict
        E.g. from :func:`per_group_table`.
    columns : sequence of str, optional
        Columns to show, in order. Default: every key, in order of first appearance.
    percent : bool, default True
        Show score columns (``acc``, ``ap``, ``real_acc``, ``fake_acc``, ``auc``, or ``<name>/<score>``) as
        percentages, like the papers' tables.
    digits : int, default 2
        Decimals of floats.

    Returns
    -------
    str
        The table; NaN shows as ``n/a``.

    Examples
    --------
    >>> print(to_markdown([{"group": "a", "acc": 0.5}]))
    | group | acc |
    |---|---:|
    | a | 50.00 |
    """
    rows = _check_rows(rows)
    cols = list(columns) if columns is not None else _columns(rows)

    def cell(col: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, (float, np.floating)):
            if math.isnan(value):
                return "n/a"
            scaled = 100.0 * value if percent and _is_score_column(col) else float(value)
            return f"{scaled:.{digits}f}"
        return str(value).replace("|", "\\|")

    numeric = [all(isinstance(r.get(c), (int, float, np.number)) or r.get(c) is None for r in rows) for c in cols]
    lines = [
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def to_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write rows as CSV (atomically; NaN written as an empty cell). Returns the path.

    Examples
    --------
    >>> to_csv(per_group_table(y, prob, groups), "results/metrics.csv")  # doctest: +SKIP
    """
    rows = _check_rows(rows)
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=_columns(rows))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if _plain(v) is None else _plain(v)) for k, v in r.items()})
    return target


def to_json(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write rows as a JSON list of objects (atomically; NaN written as ``null``). Returns the path.

    Examples
    --------
    >>> to_json(per_group_table(y, prob, groups), "results/metrics.json")  # doctest: +SKIP
    """
    rows = _check_rows(rows)
    target = Path(path)
    data = [{k: _plain(v) for k, v in r.items()} for r in rows]
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return target


def plot_pr_curves(
    y_true: Any,
    prob: Any,
    groups: Sequence[str] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Save one precision-recall curve per group (fake = positive) to an image file, atomically.

    Groups holding a single class have no PR curve; they are listed in the legend as "n/a".

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
    prob : array-like of float, shape (n,)
        Probability of "generated" in [0, 1].
    groups : sequence of str, shape (n,)
    path : str or path-like
        Output file; the format follows the suffix (.png, .pdf, .svg, .jpg).
    title : str, optional

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> plot_pr_curves(y, prob, groups, "results/pr.png")  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import precision_recall_curve

    y, p = _check_inputs(y_true, prob, 0.5)
    g = np.asarray([str(x) for x in groups], dtype=object)
    if g.shape != y.shape:
        raise ValueError(f"groups must have one entry per prediction ({y.shape[0]}); got {g.shape[0]}")
    target = Path(path)
    figure_format(target)  # a bad extension fails before any plotting
    # A bare Figure (not pyplot) keeps no global state and works in threads and headless processes.
    fig = Figure(figsize=(6.0, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name in dict.fromkeys(g.tolist()):
        mask = g == name
        yg, pg = y[mask], p[mask]
        if yg.min() == yg.max():
            ax.plot([], [], label=f"{name} (AP n/a: one class)")
            continue
        precision, recall, _ = precision_recall_curve(yg, pg)
        ax.step(recall, precision, where="post", label=f"{name} (AP {100 * average_precision_score(yg, pg):.1f})")
    ax.set_xlabel("recall (fake)")
    ax.set_ylabel("precision (fake)")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, target, dpi=120)


def plot_reliability(
    y_true: Any,
    prob: Any,
    path: str | os.PathLike[str],
    *,
    n_bins: int = 10,
    title: str | None = None,
) -> Path:
    """Save a reliability diagram: the share of generated images against the mean predicted probability per bin,
    with the bins' image counts below, atomically.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        0 real, 1 generated.
    prob : array-like of float, shape (n,)
        Probability of "generated" in [0, 1].
    path : str or path-like
        Output file; the format follows the suffix.
    n_bins : int, default 10
        Equal-width probability bins, those of :func:`calibration_metrics`.
    title : str, optional

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hrr.afr import calibration_bins
    from hrr.detect._metrics import calibration_metrics

    y, p = _check_inputs(y_true, prob, 0.5)
    target = Path(path)
    figure_format(target)
    scores = calibration_metrics(y, p, n_bins=n_bins)
    fig = Figure(figsize=(5.0, 5.6))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="perfectly calibrated")
    # the bins of the ECE itself, so the curve and the number in the legend always agree (one class included)
    mean_prob, share, _ = calibration_bins(y, p, n_bins)
    top.plot(mean_prob, share, marker="o", label=f"detector (ECE {scores['ece']:.3f}, Brier {scores['brier']:.3f})")
    top.set_ylabel("share of generated images")
    top.set_xlim(0.0, 1.0)
    top.set_ylim(0.0, 1.0)
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left", fontsize="small")
    bottom.hist(p, bins=n_bins, range=(0.0, 1.0), color="C0", alpha=0.7)
    bottom.set_xlabel("predicted probability of generated")
    bottom.set_ylabel("images")
    if title:
        top.set_title(title)
    fig.tight_layout()
    return save_figure(fig, target, dpi=120)
