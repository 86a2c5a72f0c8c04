"""Component-function plots for a fitted ``CorrentropySAM`` (matplotlib, imported lazily)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hrr.afr._estimator import CorrentropySAM


def _feature_label(model: CorrentropySAM, j: int) -> str:
    names = getattr(model, "feature_names_in_", None)
    return str(names[j]) if names is not None else f"x{j}"


def plot_components(
    model: CorrentropySAM,
    features: list[int | str] | None,
    *,
    max_features: int,
    n_points: int,
    n_cols: int,
    X: ArrayLike | None,
) -> Figure:
    import matplotlib.pyplot as plt  # headless machines fall back to the Agg backend by themselves

    importances = model.feature_importances_
    if features is None:
        order = np.argsort(-importances, kind="stable")
        indices = [int(j) for j in order if importances[j] > 0][:max_features]
    else:
        indices = [model._feature_index(f) for f in features]
    data = None if X is None else np.asarray(X, dtype=np.float64)
    if data is not None and (data.ndim != 2 or data.shape[1] != model.n_features_in_):
        raise ValueError(f"X must have shape (n_samples, {model.n_features_in_}); got {data.shape}")

    n_panels = max(1, len(indices))
    n_cols = max(1, min(n_cols, n_panels))
    n_rows = math.ceil(n_panels / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False)
    for ax in axes.ravel()[len(indices) :]:
        ax.axis("off")
    if not indices:
        axes[0, 0].text(0.5, 0.5, "no selected features", ha="center", va="center")
    for ax, j in zip(axes.ravel(), indices, strict=False):
        lo, hi = model.knots_[j, 0], model.knots_[j, -1]
        pad = 0.05 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, n_points)
        ax.plot(grid, model.component_function(j, grid), color="C0", lw=2)
        ax.axhline(0.0, color="0.6", lw=0.8)
        interior = np.unique(model.knots_[j, 4:-4])
        for knot in interior:
            ax.axvline(knot, color="0.85", lw=0.8, ls="--")
        if data is not None:
            column = data[:, j]
            ax.plot(column, np.full_like(column, ax.get_ylim()[0]), "|", color="k", alpha=0.15, ms=6)
        ax.set_title(f"{_feature_label(model, j)}   ||f_j|| = {importances[j]:.3g}", fontsize=9)
        ax.set_xlabel(_feature_label(model, j), fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("CorrentropySAM component functions f_j (training mean 0)", fontsize=10)
    fig.tight_layout()
    return fig
