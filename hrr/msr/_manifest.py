"""The output folder's manifest: the full MSR configuration and its hash, so changed settings never mix."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hrr._io import atomic_path
from hrr._msr_layout import MANIFEST_NAME

__all__ = ["MANIFEST_NAME", "ManifestMismatchError", "config_hash", "ensure_manifest"]


class ManifestMismatchError(ValueError):
    """The output folder was made with different settings."""


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of ``config`` (sorted keys, no whitespace).

    Examples
    --------
    >>> config_hash({"a": 1, "b": [2]}) == config_hash({"b": [2], "a": 1})
    True
    """
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def ensure_manifest(out_dir: str | os.PathLike[str], config: dict[str, Any], info: dict[str, Any]) -> str:
    """Write ``out_dir/msr_manifest.json`` if absent, else check it holds the same configuration.

    Several ranks may call this at once: each writes the same configuration atomically, so any of them wins.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The output folder (created if needed).
    config : dict
        Everything that changes the outputs (JSON-serialisable).
    info : dict
        Informational fields (library versions, model path); recorded, not compared.

    Returns
    -------
    str
        The configuration hash.

    Raises
    ------
    ManifestMismatchError
        The folder holds outputs made with other settings (the message lists what differs).
    """
    digest = config_hash(config)
    path = Path(out_dir) / MANIFEST_NAME
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            old_hash, old_config = old["config_hash"], old["config"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ManifestMismatchError(
                f"{path} is not a readable MSR manifest ({exc}); use another output folder"
            ) from None
        if old_hash != digest:
            a, b = _flatten(old_config), _flatten(config)
            diffs = [
                f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
                for k in sorted(set(a) | set(b))
                if a.get(k, "<absent>") != b.get(k, "<absent>")
            ]
            raise ManifestMismatchError(
                f"{Path(out_dir)} holds MSR outputs made with other settings (config hash {old_hash[:12]}, now "
                f"{digest[:12]}); use a new output folder or the old settings. Differences: " + "; ".join(diffs[:20])
            )
        return digest
    record = {"format": 1, "config_hash": digest, "config": config, "info": info}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return digest
