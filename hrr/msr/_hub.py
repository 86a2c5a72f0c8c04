"""Where a diffusers model will come from, decided before diffusers is asked: a local folder, the local Hugging Face
cache, or the hub. Without this check, a hub id with no network and no cached copy costs about 30 s of download
retries and ends in a misleading ``config.json`` error; here it fails at once with the fix.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import getproxies, proxy_bypass

DEFAULT_MODEL_ID = "stabilityai/stable-diffusion-xl-refiner-1.0"
"""The paper's regenerator (HRR Sec. IV-B): the SD-XL refiner 1.0, run as img2img with an empty prompt."""

PROBE_TIMEOUT_S = 2.0
"""Longest wait, in seconds, for the hub (or the proxy) to accept a TCP connection."""

_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub's reading of boolean environment variables

__all__ = ["DEFAULT_MODEL_ID", "PROBE_TIMEOUT_S", "ModelUnavailableError", "ensure_model_available"]


class ModelUnavailableError(OSError):
    """A hub id that is neither cached locally nor downloadable now (offline, or the hub cannot be reached)."""


def _offline() -> bool:
    from huggingface_hub import constants

    # huggingface_hub reads HF_HUB_OFFLINE once, at import; the environment may have changed since.
    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE


def _is_repo_id(text: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def _cached(repo_id: str, filenames: Sequence[str], cache_dir: str | os.PathLike[str] | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo_id, name, cache_dir=cache_dir), str) for name in filenames)


def _connect(host: str, port: int, timeout: float) -> None:
    socket.create_connection((host, port), timeout=timeout).close()


def _probe(timeout: float) -> str | None:
    """``None`` when the hub's host (or the HTTPS proxy in front of it) accepts a connection within ``timeout``
    seconds, else why not. Runs in a daemon thread so that a slow DNS lookup cannot stretch the wait."""
    from huggingface_hub import constants

    endpoint = urlparse(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    proxy = getproxies().get(endpoint.scheme)
    if proxy and not proxy_bypass(host):
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        host, port = parsed.hostname or host, parsed.port or (443 if parsed.scheme == "https" else 80)
    failure: list[str] = []

    def attempt() -> None:
        try:
            _connect(host, port, timeout)
        except OSError as exc:
            failure.append(f"{host}:{port}: {exc.strerror or exc}")

    thread = threading.Thread(target=attempt, name="hrr-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"no answer from {host}:{port} within {timeout:g} s"
    return failure[0] if failure else None


def ensure_model_available(
    model: str | os.PathLike[str],
    *,
    filenames: Sequence[str],
    expected: str,
    local_files_only: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    probe_timeout: float = PROBE_TIMEOUT_S,
) -> None:
    """Return when diffusers can load ``model`` without a long wait; raise at once otherwise.

    A local folder or a hub id with one of ``filenames`` in the local Hugging Face cache passes without any network
    access. For any other hub id, the hub must be allowed (``HF_HUB_OFFLINE`` unset, ``local_files_only`` not
    true) and reachable: a TCP connection to it (or to the configured HTTPS proxy) within ``probe_timeout`` seconds.

    Parameters
    ----------
    model : str or os.PathLike
        Local folder or hub id (``"org/name"``).
    filenames : sequence of str
        Files whose cached copy shows the model is in the cache (e.g. ``("model_index.json",)``).
    expected : str
        What ``model`` must be, in words, for the error message (e.g. ``"a diffusers pipeline folder"``).
    local_files_only : bool, optional
        As given to diffusers; true means the cache is the only source.
    cache_dir : str or os.PathLike, optional
        Hugging Face cache to look in (default: ``HF_HUB_CACHE``).
    probe_timeout : float, default 2.0
        Longest wait for the hub to answer.

    Raises
    ------
    ValueError
        ``model`` is an existing file, or neither an existing folder nor a valid hub id.
    ModelUnavailableError
        (an ``OSError``) A hub id not in the cache while the hub is off-limits or unreachable.
    """
    text = os.fspath(model)
    path = Path(text).expanduser()
    if path.is_dir():
        return
    if path.exists():
        raise ValueError(f"model must be {expected} or a hub id; {text!r} is a file")
    if not _is_repo_id(text):
        raise ValueError(f"model must be {expected} or a hub id ('org/name'); {text!r} is neither (no such folder)")
    if _cached(text, filenames, cache_dir):
        return
    if local_files_only:
        reason = "local_files_only=True"
    elif _offline():
        reason = "HF_HUB_OFFLINE is set"
    else:
        reason = _probe(probe_timeout)
        if reason is None:
            return
    from huggingface_hub import constants

    cache = cache_dir or constants.HF_HUB_CACHE
    raise ModelUnavailableError(
        f"model {text!r} is not a local folder, not in the local Hugging Face cache ({cache}) "
        f"and cannot be downloaded ({reason}). Pass {expected} instead (e.g. one written with save_pretrained; "
        "on the command line: --model DIR), or use --backend identity, which needs no model"
    )
