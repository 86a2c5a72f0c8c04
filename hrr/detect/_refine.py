"""AFR stage of the detector (HRR Sec. III-B and IV-A): backbone features of the training set, cached in chunks,
then a :class:`~hrr.CorrentropySAM` fitted on them."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hrr._device import resolve_device
from hrr._fingerprint import weights_fingerprint
from hrr._io import atomic_path
from hrr.afr import CorrentropySAM, CorrentropySAMCV
from hrr.data import ImageDataset, Sample, TestTransform, collate_skip_bad

log = logging.getLogger(__name__)

_CHUNK_ITEMS = 2048


def _cache_key(model: nn.Module, samples: Sequence[Sample], transform: Any) -> str:
    h = hashlib.sha256()
    h.update(str(weights_fingerprint(model)).encode())
    h.update(repr(transform).encode())
    for s in samples:
        h.update(f"{s.path}|{s.label}\n".encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def extract_features(model: nn.Module, samples: Sequence[Sample], *, transform: Callable | None = None,
                     batch_size: int = 32, device: str | torch.device = "auto",
                     cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = True
                     ) -> tuple[np.ndarray, np.ndarray, list[str], list[tuple[str, str]]]:
    """Backbone features of labelled image files, computed in chunks and cached on disk.

    Parameters
    ----------
    model : nn.Module
        Provides ``forward_features(images (B, 3, H, W) in [0, 1]) -> (B, D)`` (e.g. :class:`hrr.detect.Detector`).
    samples : sequence of Sample
        The images and their labels.
    transform : callable, optional
        Test-time transform applied to each HxWx3 float image; default: center crop 224.
    cache_dir : path, optional
        Chunks of ``_CHUNK_ITEMS`` images are written here (``.npz``, atomically) under a key derived from the model
        weights, the transform and the sample list, so an interrupted extraction resumes and a changed model never
        reuses stale features.

    Returns
    -------
    features : ndarray (n_ok, D) float32
    labels : ndarray (n_ok,) int
    paths : list of str (n_ok,)
    failures : list of (path, reason) for unreadable files
    """
    samples = list(samples)
    transform = transform if transform is not None else TestTransform(center_crop=224)
    was_training = model.training
    model.eval()
    device = resolve_device(device)
    model.to(device)
    key = _cache_key(model, samples, transform) if cache_dir is not None else ""
    root = Path(cache_dir) / f"features-{key}" if cache_dir is not None else None
    feats_all, labels_all, paths_all, failures = [], [], [], []
    try:
        chunks = range(0, len(samples), _CHUNK_ITEMS)
        for start in tqdm(chunks, desc="features", disable=not progress, leave=False):
            part = samples[start:start + _CHUNK_ITEMS]
            chunk_file = root / f"chunk-{start // _CHUNK_ITEMS:05d}.npz" if root is not None else None
            if chunk_file is not None and chunk_file.is_file():
                with np.load(chunk_file, allow_pickle=False) as z:
                    feats, labels, paths = z["features"], z["labels"], z["paths"].tolist()
                    bad = json.loads(str(z["failures"]))
            else:
                loader = DataLoader(ImageDataset(part, transform, seed=0), batch_size=batch_size, shuffle=False,
                                    collate_fn=collate_skip_bad, num_workers=num_workers)
                f_list, l_list, paths, bad = [], [], [], []
                for batch in loader:
                    bad.extend(batch.failures)
                    if batch.images.shape[0] == 0:
                        continue
                    f_list.append(model.forward_features(batch.images.to(device)).float().cpu().numpy())
                    l_list.append(batch.labels.numpy())
                    paths.extend(str(part[int(i)].path) for i in batch.indices)
                feats = np.concatenate(f_list) if f_list else np.zeros((0, 0), np.float32)
                labels = np.concatenate(l_list) if l_list else np.zeros(0, int)
                if chunk_file is not None:
                    with atomic_path(chunk_file) as tmp, open(tmp, "wb") as fh:
                        np.savez(fh, features=feats, labels=labels, paths=np.array(paths, dtype=str),
                                 failures=np.array(json.dumps(bad)))
            if len(paths):
                feats_all.append(feats)
                labels_all.append(labels)
                paths_all.extend(paths)
            failures.extend((str(p), str(r)) for p, r in bad)
    finally:
        model.train(was_training)
    if not feats_all:
        raise ValueError("no readable image among the samples; failures: "
                         + "; ".join(f"{p}: {r}" for p, r in failures[:5]))
    return np.concatenate(feats_all).astype(np.float32), np.concatenate(labels_all).astype(int), paths_all, failures


def fit_refiner(features: np.ndarray, labels: np.ndarray, **params: Any) -> CorrentropySAM | CorrentropySAMCV:
    """Fit the AFR module (Eqs. 5-9) on backbone features (n, D) with labels (n,) in {0, 1}.

    With ``lam`` among ``params``: :class:`~hrr.CorrentropySAM` at that lambda. Without: lambda chosen by
    cross-validation (:class:`~hrr.afr.CorrentropySAMCV`, the default of ``fit_hrr`` and ``hrr train``) with
    ``lambda_rule="min"`` unless ``params`` say otherwise: the best held-out score, since a detector wants
    accuracy (the estimator's own default, "1se", trades up to a few points of it for a sparser model).
    Other ``params`` go to the estimator. Probabilities are cross-fitted either way.

    Raises
    ------
    ValueError
        Features not (n, D) with one label per row, or not both classes present.
    """
    if features.ndim != 2 or features.shape[0] != labels.shape[0]:
        raise ValueError(f"features must be (n, D) with one label per row; got {features.shape} and {labels.shape}")
    if np.unique(labels).size != 2:
        raise ValueError("AFR needs both real (0) and generated (1) samples among the features; "
                         f"got labels {np.unique(labels).tolist()}")
    if "lam" in params:
        return CorrentropySAM(**params).fit(features, labels)
    return CorrentropySAMCV(**{"lambda_rule": "min", **params}).fit(features, labels)
