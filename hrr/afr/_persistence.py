"""Saving and loading a fitted ``CorrentropySAM``: one ``.safetensors`` file of arrays plus JSON metadata.

Loading reads arrays and JSON only; no code is executed (no pickle).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from hrr._io import atomic_path

FORMAT = "hrr.CorrentropySAM/1"
"""The ``format`` field of the metadata; a file with another one is refused."""


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Write the fitted ``model`` to ``path`` atomically."""
    from safetensors.numpy import save_file

    arrays = {
        "coef": model.coef_,
        "knots": model.knots_,
        "basis_transform": model.basis_transform_,
        "basis_offset": model.basis_offset_,
        "objective_path": model.objective_path_,
        "calibration_x": model.probability_map_.thresholds_x,
        "calibration_y": model.probability_map_.thresholds_y,
    }
    meta = {
        "format": FORMAT,
        "params": model.get_params(),
        "classes": model.classes_.tolist(),
        "classes_dtype": model.classes_.dtype.str if model.classes_.dtype != object else "object",
        "intercept": model.intercept_,
        "proba_scale": model.proba_scale_,
        "calibration": model.probability_map_.kind,
        "flip_rate": model.probability_map_.flip_rate,
        "threshold": model.probability_map_.threshold,
        "lambda_max": model.lambda_max_,
        "n_iter": model.n_iter_,
        "n_admm_iter": model.n_admm_iter_,
        "n_features_in": model.n_features_in_,
        "feature_names_in": getattr(model, "feature_names_in_", np.empty(0)).tolist(),
    }
    if not isinstance(model.random_state, (int, type(None))):
        meta["params"]["random_state"] = None
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp), {"hrr": json.dumps(meta)})



def load_model(cls: type, path: str | os.PathLike[str], device: str | None = None) -> Any:
    """A ``cls`` instance with the parameters and fitted attributes stored in ``path``."""
    from safetensors import SafetensorError, safe_open

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"path {name!r}: no such file (expected a .safetensors file written by save)")
    try:
        with safe_open(name, framework="numpy") as handle:
            header = (handle.metadata() or {}).get("hrr")
            if header is None:
                raise ValueError(f"{name!r} is not a CorrentropySAM file (no 'hrr' metadata)")
            meta = json.loads(header)
            if meta.get("format") != FORMAT:
                raise ValueError(f"{name!r} has format {meta.get('format')!r}; expected {FORMAT!r}")
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, json.JSONDecodeError, OSError) as exc:
        raise ValueError(f"path {name!r} is not a CorrentropySAM file (expected a .safetensors file written by "
                         f"CorrentropySAM.save): {exc}") from exc
    params = meta["params"]
    if "threshold" not in meta:  # written before the calibrated threshold: its model is sign(f), and so are refits
        params["threshold"] = 0.0
    if device is not None:
        params["device"] = device
    elif str(params.get("device", "auto")).startswith("cuda") and not torch.cuda.is_available():
        params["device"] = "auto"
    model = cls(**params)
    dtype = object if meta["classes_dtype"] == "object" else np.dtype(meta["classes_dtype"])
    model.classes_ = np.asarray(meta["classes"], dtype=dtype)
    model.coef_ = arrays["coef"]
    model.knots_ = arrays["knots"]
    model.basis_transform_ = arrays["basis_transform"]
    model.basis_offset_ = arrays["basis_offset"]
    model.objective_path_ = arrays["objective_path"]
    model.intercept_ = float(meta["intercept"])
    model.proba_scale_ = float(meta["proba_scale"])
    model.lambda_max_ = float(meta.get("lambda_max", "nan"))
    empty = np.empty(0)  # files of format 1 written before the isotonic map: a sigmoid map
    # Files written before the calibrated threshold: the map crosses 1/2 at f = 0.
    model._load_probability_map(meta.get("calibration", "sigmoid"), arrays.get("calibration_x", empty),
                                arrays.get("calibration_y", empty), float(meta.get("flip_rate", 0.0)),
                                float(meta.get("threshold", 0.0)))
    model.n_iter_ = int(meta["n_iter"])
    model.n_admm_iter_ = int(meta["n_admm_iter"])
    model.n_features_in_ = int(meta["n_features_in"])
    if meta["feature_names_in"]:
        model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    return model


