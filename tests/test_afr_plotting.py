"""``CorrentropySAM.plot_components``: labelled, shared y scale, feature names, extrapolation and data density."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import hrr
from hrr.afr._plotting import DENSITY_HEIGHT, EXTRAPOLATION_LABEL, plot_components
from hrr.datasets import make_additive_classification

NAMES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]


@pytest.fixture(scope="module")
def task() -> tuple[np.ndarray, np.ndarray]:
    return make_additive_classification(n_samples=300, n_features=6, random_state=0)


@pytest.fixture(scope="module")
def model(task) -> hrr.CorrentropySAM:
    X, y = task
    return hrr.CorrentropySAM(lam=0.02, device="cpu").fit(X, y)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def draw(model, features=None, *, X=None, feature_names=None, max_features=12, n_cols=4):
    return plot_components(
        model, features, max_features=max_features, n_points=200, n_cols=n_cols, X=X, feature_names=feature_names
    )


def panels(fig) -> list:
    """The visible panels, in order (a panel holds the f_j curve as its first line)."""
    return [ax for ax in fig.axes if ax.axison and ax.lines]


def by_gid(ax, gid: str) -> list:
    return [artist for artist in [*ax.patches, *ax.collections, *ax.lines] if artist.get_gid() == gid]


def x_extent(patch) -> tuple[float, float]:
    xs = patch.get_path().transformed(patch.get_patch_transform()).vertices[:, 0]
    return float(xs.min()), float(xs.max())


def feature_of(ax, model) -> int:
    """The feature a panel shows: the one whose f_j equals its curve."""
    line = ax.lines[0]
    matches = [
        j for j in range(model.n_features_in_)
        if np.allclose(model.component_function(j, line.get_xdata()), line.get_ydata())
        and np.isclose(line.get_xdata()[0], model.knots_[j, 0] - 0.05 * (model.knots_[j, -1] - model.knots_[j, 0]))
    ]
    assert len(matches) == 1
    return matches[0]


def test_all_panels_share_one_y_scale_with_a_zero_line(model) -> None:
    fig = draw(model, list(range(model.n_features_in_)), n_cols=3)
    axes = panels(fig)
    assert len(axes) == model.n_features_in_
    fig.canvas.draw()
    limits = {ax.get_ylim() for ax in axes}
    assert len(limits) == 1
    low, high = limits.pop()
    curves = np.concatenate([ax.lines[0].get_ydata() for ax in axes])
    assert low <= curves.min() and curves.max() <= high  # every curve fits the one scale
    weakest = min(axes, key=lambda ax: np.ptp(ax.lines[0].get_ydata()))
    assert np.ptp(weakest.lines[0].get_ydata()) < 0.5 * (high - low)  # so a weak component looks weak
    for ax in axes:
        assert any(np.all(np.asarray(line.get_ydata()) == 0.0) and line is not ax.lines[0] for line in ax.lines)


def test_first_column_has_a_y_label(model) -> None:
    fig = draw(model, list(range(model.n_features_in_)), n_cols=3)
    axes = panels(fig)
    assert "f_j(x_j)" in axes[0].get_ylabel()
    assert axes[3].get_ylabel() == axes[0].get_ylabel()  # first panel of the second row
    assert axes[1].get_ylabel() == ""


def test_titles_show_given_feature_names_and_norms(model) -> None:
    fig = draw(model, feature_names=NAMES)
    axes = panels(fig)
    assert axes
    for ax in axes:
        j = feature_of(ax, model)
        assert NAMES[j] in ax.get_title()
        assert f"{model.feature_importances_[j]:.3g}" in ax.get_title()
        assert ax.get_xlabel() == NAMES[j]


def test_given_names_select_features_and_override_dataframe_names(task) -> None:
    X, y = task
    frame = pd.DataFrame(X, columns=[f"col{j}" for j in range(X.shape[1])])
    fitted = hrr.CorrentropySAM(lam=0.02, device="cpu").fit(frame, y)
    default = panels(draw(fitted, [0, 1]))
    assert [ax.get_title().split()[0] for ax in default] == ["col0", "col1"]
    renamed = panels(draw(fitted, ["beta", "col2"], feature_names=NAMES))
    assert [ax.get_title().split()[0] for ax in renamed] == ["beta", "gamma"]


def test_bad_feature_names_raise(model) -> None:
    with pytest.raises(ValueError, match=r"feature_names.*expected 6.*got 3"):
        draw(model, feature_names=NAMES[:3])
    with pytest.raises(ValueError, match="feature_names"):
        draw(model, feature_names="alpha")


def test_extrapolation_is_shaded_at_both_ends(model) -> None:
    fig = draw(model, list(range(model.n_features_in_)))
    for ax in panels(fig):
        j = feature_of(ax, model)
        left, right = ax.get_xlim()
        lo, hi = model.knots_[j, 0], model.knots_[j, -1]
        assert left < lo < hi < right
        bands = sorted(x_extent(patch) for patch in by_gid(ax, "extrapolation"))
        assert len(bands) == 2
        np.testing.assert_allclose(bands, [[left, lo], [hi, right]])
        # and f_j really is constant there
        x, f = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
        assert np.ptp(f[x <= lo]) < 1e-9 and np.ptp(f[x >= hi]) < 1e-9
    legend_texts = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert legend_texts.count(EXTRAPOLATION_LABEL) == 1


def test_density_with_X_knots_without(model, task) -> None:
    X, _ = task
    without = panels(draw(model, [0, 1, 2]))
    with_x = panels(draw(model, [0, 1, 2], X=X))
    for ax_plain, ax in zip(without, with_x, strict=True):
        j = feature_of(ax, model)
        assert not by_gid(ax_plain, "density") and by_gid(ax_plain, "knot")
        assert not by_gid(ax, "knot")
        (density,) = by_gid(ax, "density")
        values, edges, _ = density.get_data()
        assert values.max() == pytest.approx(DENSITY_HEIGHT) and values.min() >= 0.0
        # the histogram counts X[:, j] over the panel's x range
        counts, _ = np.histogram(X[:, j], bins=edges)
        np.testing.assert_allclose(values, DENSITY_HEIGHT * counts / counts.max())
        np.testing.assert_allclose([edges[0], edges[-1]], ax.get_xlim())
        # drawn in axes units along the bottom: it does not move the shared y scale
        assert ax.get_ylim() == pytest.approx(ax_plain.get_ylim())


def test_figure_renders(model, task, tmp_path) -> None:
    X, _ = task
    fig = draw(model, X=X, feature_names=NAMES)
    fig.savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    empty = draw(model, [], X=X)  # no panels still renders
    empty.savefig(tmp_path / "e.png")


@pytest.mark.skipif(
    "feature_names" not in inspect.signature(hrr.CorrentropySAM.plot_components).parameters,
    reason="CorrentropySAM.plot_components does not forward feature_names yet",
)
def test_estimator_method_forwards_feature_names(model) -> None:
    fig = model.plot_components(feature_names=NAMES, max_features=2)
    assert all(any(name in ax.get_title() for name in NAMES) for ax in panels(fig))
