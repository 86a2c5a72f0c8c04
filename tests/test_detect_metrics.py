"""Detection metrics against scikit-learn, per-group tables with the unweighted mean row, and their writers."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from hrr.detect import (
    best_threshold,
    detection_metrics,
    per_group_table,
    plot_pr_curves,
    to_csv,
    to_json,
    to_markdown,
)


def _sk(y: np.ndarray, p: np.ndarray, t: float = 0.5) -> dict[str, float]:
    pred = (p > t).astype(int)
    return {
        "acc": accuracy_score(y, pred),
        "ap": average_precision_score(y, p),
        "real_acc": accuracy_score(y[y == 0], pred[y == 0]),
        "fake_acc": accuracy_score(y[y == 1], pred[y == 1]),
        "auc": roc_auc_score(y, p),
    }


labelled = st.integers(2, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)),
        st.lists(
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5001, 0.75, 0.9, 1.0]) | st.floats(0, 1), min_size=n, max_size=n
        ),
    )
)


@given(data=labelled, threshold=st.sampled_from([0.5, 0.3, 0.9]))
def test_metrics_equal_sklearn(data, threshold: float) -> None:
    y, p = np.asarray(data[0]), np.asarray(data[1])
    m = detection_metrics(y, p, threshold)
    expected = _sk(y, p, threshold)
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, abs=1e-12), key
    assert (m["n"], m["n_real"], m["n_fake"]) == (len(y), int((y == 0).sum()), int((y == 1).sum()))


def test_threshold_is_strict_and_one_class_groups() -> None:
    assert detection_metrics([0, 1], [0.5, 0.5])["acc"] == 0.5  # 0.5 is not > 0.5: predicted real
    only_real = detection_metrics([0, 0, 0], [0.1, 0.7, 0.2])
    assert only_real["acc"] == pytest.approx(2 / 3) and only_real["real_acc"] == pytest.approx(2 / 3)
    assert math.isnan(only_real["fake_acc"]) and math.isnan(only_real["ap"]) and math.isnan(only_real["auc"])
    only_fake = detection_metrics([1, 1], [0.9, 0.2])
    assert only_fake["fake_acc"] == 0.5 and math.isnan(only_fake["real_acc"]) and math.isnan(only_fake["ap"])


@given(data=labelled, n_groups=st.integers(1, 4), seed=st.integers(0, 1000))
def test_per_group_table_rows_and_unweighted_mean(data, n_groups: int, seed: int) -> None:
    y, p = np.asarray(data[0]), np.asarray(data[1])
    groups = np.asarray([f"g{k}" for k in np.random.default_rng(seed).integers(0, n_groups, len(y))])
    rows = per_group_table(y, p, groups)
    names = list(dict.fromkeys(groups.tolist()))
    assert [r["group"] for r in rows] == [*names, "mean"]
    per_group = {}
    for r, name in zip(rows[:-1], names, strict=True):
        mask = groups == name
        yg, pg = y[mask], p[mask]
        pred = (pg > 0.5).astype(int)
        assert r["acc"] == pytest.approx(accuracy_score(yg, pred))
        if 0 < yg.sum() < len(yg):
            assert r["ap"] == pytest.approx(average_precision_score(yg, pg))
        else:
            assert math.isnan(r["ap"])
        per_group[name] = r
    mean = rows[-1]
    assert mean["n"] == len(y)
    assert mean["acc"] == pytest.approx(np.mean([r["acc"] for r in per_group.values()]))
    aps = [r["ap"] for r in per_group.values() if not math.isnan(r["ap"])]
    assert (math.isnan(mean["ap"]) and not aps) or mean["ap"] == pytest.approx(np.mean(aps))


def test_per_group_table_options() -> None:
    y, p, g = [0, 1, 0, 1, 0], [0.2, 0.9, 0.6, 0.7, 0.1], ["a", "a", "b", "b", "c"]
    rows = per_group_table(y, p, g, order=["c", "b", "a"], pooled=True)
    assert [r["group"] for r in rows] == ["c", "b", "a", "mean", "all"]
    assert rows[-1]["acc"] == pytest.approx(0.8) and rows[-2]["acc"] == pytest.approx((1.0 + 0.5 + 1.0) / 3)
    assert rows[-2]["ap"] == pytest.approx((1.0 + 1.0) / 2)  # c holds one class: no AP, left out of the mean
    with pytest.raises(ValueError, match="order must list exactly the groups present"):
        per_group_table(y, p, g, order=["a", "b"])
    with pytest.raises(ValueError, match="reserved for summary rows"):
        per_group_table(y, p, ["a", "a", "mean", "mean", "c"])
    with pytest.raises(ValueError, match="one entry per prediction"):
        per_group_table(y, p, ["a"])


@pytest.mark.parametrize(
    ("y", "p", "kwargs", "match"),
    [
        ([0, 1], [0.5], {}, "equal length"),
        ([], [], {}, "empty"),
        ([0, 2], [0.1, 0.2], {}, r"0 \(real\) and 1 \(fake\)"),
        ([0, 1], [0.1, 1.5], {}, r"probabilities of 'generated' in \[0, 1\]"),
        ([0, 1], [0.1, float("nan")], {}, "NaN"),
        ([[0, 1]], [[0.1, 0.2]], {}, "1-D"),
        ([0, 1], [0.1, 0.2], {"threshold": 2.0}, "threshold must be a number in"),
    ],
)
def test_metric_input_errors(y, p, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        detection_metrics(y, p, **kwargs)


def test_writers(tmp_path: Path) -> None:
    rows = per_group_table([0, 1, 0, 0], [0.2, 0.9, 0.6, 0.1], ["a", "a", "b", "b"])
    md = to_markdown(rows, ["group", "n_real", "acc", "ap"])
    lines = md.splitlines()
    assert lines[0] == "| group | n_real | acc | ap |" and lines[1] == "|---|---:|---:|---:|"
    assert lines[2] == "| a | 1 | 100.00 | 100.00 |"
    assert lines[3] == "| b | 2 | 50.00 | n/a |"
    assert lines[4] == "| mean | 3 | 75.00 | 100.00 |"
    assert "| 0.5000 |" in to_markdown([{"group": "x", "acc": 0.5}], percent=False, digits=4)
    data = json.loads(to_json(rows, tmp_path / "m.json").read_text())
    assert data[1]["ap"] is None and data[0]["acc"] == 1.0 and data[2]["group"] == "mean"
    with open(to_csv(rows, tmp_path / "m.csv"), newline="") as fh:
        read = list(csv.DictReader(fh))
    assert read[1]["ap"] == "" and float(read[2]["acc"]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="rows is empty"):
        to_csv([], tmp_path / "x.csv")
    with pytest.raises(TypeError, match="list of dicts"):
        to_json({"a": 1}, tmp_path / "x.json")  # type: ignore[arg-type]


def test_plot_pr_curves(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    p = np.clip(0.3 * y + 0.7 * rng.random(80), 0, 1)
    g = np.where(np.arange(80) < 40, "progan", "biggan")
    g[:5], y[:5] = "realonly", 0
    out = plot_pr_curves(y, p, g, tmp_path / "plots" / "pr.png", title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert plot_pr_curves(y, p, g, tmp_path / "pr.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["plots", "pr.svg"]
    with pytest.raises(ValueError, match=r"path must end in one of \.png"):
        plot_pr_curves(y, p, g, tmp_path / "pr.bmp")


@given(data=labelled)
def test_best_threshold_beats_every_threshold(data) -> None:
    y, p = np.asarray(data[0]), np.asarray(data[1])
    t, acc = best_threshold(y, p)
    assert 0.0 <= t <= 1.0
    assert acc == pytest.approx(accuracy_score(y, p > t))
    grid = np.concatenate([np.linspace(0, 1, 201), p, np.nextafter(p, -1.0)])
    assert acc >= max(accuracy_score(y, p > g) for g in grid if 0 <= g <= 1) - 1e-12


def test_best_threshold_examples() -> None:
    assert best_threshold([0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9]) == (0.75, 1.0)
    assert best_threshold([1, 1], [0.3, 0.9]) == (0.0, 1.0)  # all fake
    assert best_threshold([0, 1], [0.0, 0.0]) == (1.0, 0.5)  # 0 cannot be "> t" for t >= 0: all real
