"""``hrr regenerate`` without network and without a local model fails at once with the fix (hrr.msr._hub); a local
or cached model never waits on the network. No test here opens a socket: the probe's connection is replaced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import constants

from hrr._images import save_png
from hrr.cli import main
from hrr.msr import DiffusersImg2ImgRegenerator, VAERegenerator, _hub

FAKE_ID = "hrr-tests/no-such-model"


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], None]], list[tuple[str, int]]]:
    """Install a fake ``_hub._connect`` running ``behaviour``; returns the list of (host, port) it was called with."""

    def install(behaviour: Callable[[], None]) -> list[tuple[str, int]]:
        calls: list[tuple[str, int]] = []

        def fake(host: str, port: int, timeout: float) -> None:
            calls.append((host, port))
            behaviour()

        monkeypatch.setattr(_hub, "_connect", fake)
        return calls

    return install


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub allowed (HF_HUB_OFFLINE unset) and reached directly, not through a proxy."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    save_png(tmp_path / "src" / "a.png", np.full((16, 16, 3), 0.5, np.float32))
    return tmp_path / "src"


@pytest.mark.parametrize("backend", ["vae", "img2img"])
def test_offline_hub_id_fails_at_once_with_the_fix(backend: str, src: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                   connects: Callable) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HRR_DEBUG", raising=False)
    calls = connects(lambda: None)
    start = time.perf_counter()
    code = main(["regenerate", str(src), str(tmp_path / "out"), "--backend", backend, "--model", FAKE_ID,
                 "--device", "cpu", "--quiet"])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 1.0 and calls == []
    assert err.count("\n") == 1 and err.startswith(f"hrr regenerate: error: model '{FAKE_ID}' is not a local folder")
    assert "(HF_HUB_OFFLINE is set)" in err and "--model DIR" in err and "save_pretrained" in err
    assert "--backend identity" in err
    assert not (tmp_path / "out").exists()


def test_unreachable_hub_fails_within_the_probe_timeout(online: None, connects: Callable) -> None:
    blocked = threading.Event()
    calls = connects(lambda: blocked.wait(30))  # a connection attempt that hangs (e.g. dropped packets)
    start = time.perf_counter()
    with pytest.raises(_hub.ModelUnavailableError, match="--backend identity") as info:
        VAERegenerator.from_pretrained(FAKE_ID, device="cpu")
    elapsed = time.perf_counter() - start
    blocked.set()
    assert calls == [("huggingface.co", 443)]
    assert _hub.PROBE_TIMEOUT_S <= elapsed < _hub.PROBE_TIMEOUT_S + 1.0
    assert f"(no answer from huggingface.co:443 within {_hub.PROBE_TIMEOUT_S:g} s)" in str(info.value)
    assert isinstance(info.value, OSError)


def test_refused_connection_fails_at_once(online: None, connects: Callable) -> None:
    def refuse() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    connects(refuse)
    start = time.perf_counter()
    with pytest.raises(OSError, match=r"huggingface\.co:443: Connection refused\). Pass a diffusers pipeline folder"):
        DiffusersImg2ImgRegenerator.from_pretrained(FAKE_ID, device="cpu")
    assert time.perf_counter() - start < 1.0


def test_reachable_hub_lets_diffusers_download(online: None, connects: Callable) -> None:
    calls = connects(lambda: None)
    assert _hub.ensure_model_available(FAKE_ID, filenames=["model_index.json"], expected="a folder") is None
    assert calls == [("huggingface.co", 443)]


def test_local_folders_and_cached_ids_never_probe(online: None, connects: Callable, tmp_path: Path) -> None:
    calls = connects(lambda: None)
    _hub.ensure_model_available(tmp_path, filenames=["model_index.json"], expected="a folder")
    # A hub cache holding the id's model_index.json (huggingface_hub's layout: refs/main -> snapshots/<commit>).
    repo = tmp_path / "cache" / "models--hrr-tests--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    (repo / "snapshots" / "0123abcd" / "model_index.json").write_text("{}")
    _hub.ensure_model_available("hrr-tests/cached", filenames=["model_index.json"], expected="a folder",
                                cache_dir=tmp_path / "cache")
    assert calls == []
    # Cached, but not the file asked for: not usable offline.
    with pytest.raises(_hub.ModelUnavailableError, match=r"\(local_files_only=True\)"):
        _hub.ensure_model_available("hrr-tests/cached", filenames=["vae/config.json"], expected="a folder",
                                    cache_dir=tmp_path / "cache", local_files_only=True)
    assert calls == []


def test_paths_that_are_no_folder_and_no_hub_id(tmp_path: Path, connects: Callable) -> None:
    calls = connects(lambda: None)
    with pytest.raises(ValueError, match=r"model must be a folder or a hub id \('org/name'\); '.*/missing' is "
                                         r"neither \(no such folder\)"):
        _hub.ensure_model_available(tmp_path / "missing", filenames=["config.json"], expected="a folder")
    (tmp_path / "file.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"'.*/file\.bin' is a file"):
        _hub.ensure_model_available(tmp_path / "file.bin", filenames=["config.json"], expected="a folder")
    assert calls == []
