"""Weights and reports are written with the usual permissions (0644 under umask 022), not mkstemp's 0600.

The fault: safetensors files (detector weights, AFR models, checkpoints) came out 0600, unreadable to a
colleague or a serving process under another user, because the writer replaces the temporary file itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from hrr import CorrentropySAM
from hrr._images import save_png
from hrr._io import atomic_path
from hrr.data import FailureLog
from hrr.datasets import make_additive_classification
from hrr.detect import Detector, HRRDetector


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


def test_every_kind_of_output_file_is_0644(tmp_path: Path, umask_022: None) -> None:
    X, y = make_additive_classification(60, 4, random_state=0)
    afr = CorrentropySAM(lam=0.05, device="cpu").fit(X, y)
    afr.save(tmp_path / "afr.safetensors")
    backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    HRRDetector(Detector(backbone, feature_dim=4), device="cpu").save(tmp_path / "run")
    save_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.float32))
    log = FailureLog([("a.png", "empty file")])
    log.to_json(tmp_path / "failures.json")
    log.to_csv(tmp_path / "failures.csv")
    modes = _modes(tmp_path)
    assert {"afr.safetensors", "run/model.safetensors", "run/detector.json", "x.png", "failures.csv"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o644)


def test_atomic_path_fixes_files_the_writer_recreated_0600(tmp_path: Path, umask_022: None) -> None:
    with atomic_path(tmp_path / "out.bin") as tmp:
        tmp.unlink()
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600)  # what safetensors' writer leaves behind
        os.close(fd)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == 0o644
