"""Component-function plots for a fitted ``CorrentropySAM`` (matplotlib, imported lazily).

Each panel shows one f_j on a grid over the feature's training range ±5 %. All panels share one y scale, so a
weak component looks weak next to a strong one. The B-spline basis is clamped outside the training range
``[knots_[j, 0], knots_[j, -1]]``: f_j is constant there, and those two end bands are shaded. With ``X`` a light
histogram of the data sits along the bottom of each panel; without it, the interior knots are drawn instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hrr.afr._estimator import CorrentropySAM

Y_LABEL = "f_j(x_j)  (added to the decision value)"
EXTRAPOLATION_LABEL = "constant extrapolation (outside the training range)"
DENSITY_LABEL = "data density (X)"
KNOTS_LABEL = "interior knots"
EXTRAPOLATION_COLOR = "0.88"
DENSITY_COLOR = "C1"
DENSITY_HEIGHT = 0.18  # tallest histogram bar, as a fraction of the panel height
DENSITY_BINS = 30


def _feature_label(model: CorrentropySAM, j: int, names: Sequence[str] | None = None) -> str:
    if names is None:
        names = getattr(model, "feature_names_in_", None)
    return str(names[j]) if names is not None else f"x{j}"


def _check_feature_names(model: CorrentropySAM, feature_names: Sequence[str] | None) -> list[str] | None:
    if feature_names is None:
        return None
    if isinstance(feature_names, str | bytes) or not hasattr(feature_names, "__len__"):
        raise ValueError(f"feature_names must be a sequence of {model.n_features_in_} names; got {feature_names!r}")
    names = [str(name) for name in feature_names]
    if len(names) != model.n_features_in_:
        raise ValueError(
            f"feature_names must have one name per feature: expected {model.n_features_in_} "
            f"(n_features_in_), got {len(names)}"
        )
    return names


def _resolve(model: CorrentropySAM, feature: int | str, names: list[str] | None) -> int:
    if names is not None and isinstance(feature, str) and feature in names:
        return names.index(feature)
    return model._feature_index(feature)


def plot_components(
    model: CorrentropySAM,
    features: list[int | str] | None,
    *,
    max_features: int,
    n_points: int,
    n_cols: int,
    X: ArrayLike | None,
    feature_names: Sequence[str] | None = None,
) -> Figure:
    import matplotlib.pyplot as plt  # headless machines fall back to the Agg backend by themselves
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    names = _check_feature_names(model, feature_names)
    importances = model.feature_importances_
    if features is None:
        order = np.argsort(-importances, kind="stable")
        indices = [int(j) for j in order if importances[j] > 0][:max_features]
    else:
        indices = [_resolve(model, f, names) for f in features]
    data = None if X is None else np.asarray(X, dtype=np.float64)
    if data is not None and (data.ndim != 2 or data.shape[1] != model.n_features_in_):
        raise ValueError(f"X must have shape (n_samples, {model.n_features_in_}); got {data.shape}")

    n_panels = max(1, len(indices))
    n_cols = max(1, min(n_cols, n_panels))
    n_rows = math.ceil(n_panels / n_cols)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(3.2 * n_cols, 2.6 * n_rows + 0.5),
        squeeze=False,
        sharey=True,  # one scale for every panel: a weak component looks weak next to a strong one
        layout="constrained",
    )
    for ax in axes.ravel()[len(indices) :]:
        ax.axis("off")
    if not indices:
        axes[0, 0].text(0.5, 0.5, "no selected features", ha="center", va="center", transform=axes[0, 0].transAxes)
    for ax, j in zip(axes.ravel(), indices, strict=False):
        label = _feature_label(model, j, names)
        lo, hi = float(model.knots_[j, 0]), float(model.knots_[j, -1])
        pad = 0.05 * (hi - lo) if hi > lo else max(0.5, 0.05 * abs(lo))
        left, right = lo - pad, hi + pad
        grid = np.linspace(left, right, n_points)
        ax.plot(grid, model.component_function(j, grid), color="C0", lw=2, zorder=3)  # first line: the curve
        ax.axhline(0.0, color="0.6", lw=0.8, zorder=2)
        # f_j is constant outside [lo, hi] (the clamped B-spline basis): shade both ends.
        for a, b in ((left, lo), (hi, right)):
            ax.axvspan(a, b, color=EXTRAPOLATION_COLOR, lw=0, zorder=0, gid="extrapolation")
        if data is not None:
            column = data[:, j]
            column = column[np.isfinite(column)]
            counts, edges = np.histogram(column, bins=DENSITY_BINS, range=(left, right))
            if counts.max(initial=0) > 0:
                heights = DENSITY_HEIGHT * counts / counts.max()
                # x in data units, y in axes units: the histogram never changes the shared y scale.
                ax.stairs(
                    heights, edges, fill=True, color=DENSITY_COLOR, alpha=0.3, lw=0, zorder=1,
                    transform=ax.get_xaxis_transform(), gid="density",
                )
        else:
            for knot in np.unique(model.knots_[j, 4:-4]):
                ax.axvline(knot, color="0.75", lw=0.8, ls="--", zorder=1, gid="knot")
        ax.set_xlim(left, right)
        ax.set_title(f"{label}   ||f_j|| = {importances[j]:.3g}", fontsize=9)
        ax.set_xlabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
    for row in axes:
        if row[0].axison:
            row[0].set_ylabel(Y_LABEL, fontsize=8)
    if indices:
        handles = [Patch(facecolor=EXTRAPOLATION_COLOR, label=EXTRAPOLATION_LABEL)]
        if data is not None:
            handles.append(Patch(facecolor=DENSITY_COLOR, alpha=0.3, label=DENSITY_LABEL))
        else:
            handles.append(Line2D([], [], color="0.75", lw=0.8, ls="--", label=KNOTS_LABEL))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    fig.suptitle("CorrentropySAM component functions f_j (training mean 0, shared y scale)", fontsize=10)
    return fig
