"""CUDA out-of-memory backoff belongs to one run, not to the MultiScaleRetrospector: a second run, a retrospect call
or a run in another thread starts again at the configured batch size (hrr.msr._runner.BatchBackoff)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hrr.msr import MultiScaleRetrospector

N_IMAGES = 8
BATCH_SIZE = 4


class OOMAbove:
    """Identity regenerator recording the batch sizes it receives, per thread. While ``oom_above`` is set, a batch
    larger than that raises the error CUDA raises (recognised by its message, as ``_is_oom`` does), in the thread
    ``oom_thread`` only, or in every thread when that is None."""

    size_multiple = 8

    def __init__(self, oom_above: int | None, oom_thread: str | None = None) -> None:
        self.oom_above = oom_above
        self.oom_thread = oom_thread
        self.received: dict[str, list[int]] = defaultdict(list)
        self._lock = threading.Lock()

    def config(self) -> dict[str, object]:
        return {"backend": "oom-above"}

    def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        thread = threading.current_thread().name
        if (
            self.oom_above is not None
            and images.shape[0] > self.oom_above
            and self.oom_thread in (None, thread)
        ):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)")
        with self._lock:
            self.received[thread].append(int(images.shape[0]))
        return images.clone()


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(N_IMAGES):  # one size, so one batch holds BATCH_SIZE images
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def _msr(regen: OOMAbove) -> MultiScaleRetrospector:
    return MultiScaleRetrospector(
        regen, scales=(16,), batch_size=BATCH_SIZE, line_enhancer=None, progress=False, shard=None  # type: ignore[arg-type]
    )


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def test_second_run_starts_again_at_the_configured_batch_size(tmp_path: Path) -> None:
    src = _folder(tmp_path / "src")
    regen = OOMAbove(oom_above=2)
    msr = _msr(regen)
    first = msr.run(src, tmp_path / "first")
    main = threading.current_thread().name
    assert regen.received[main] == [2, 2, 2, 2]  # halved once, then kept at 2 for the rest of that run
    assert len(first.done) == N_IMAGES and not first.failed

    regen.oom_above = None  # the memory is back
    regen.received.clear()
    views = msr.retrospect([np.full((20, 24, 3), 0.5, np.float32)] * N_IMAGES)
    assert regen.received[main] == [BATCH_SIZE, BATCH_SIZE] and len(views) == N_IMAGES

    regen.received.clear()
    second = msr.run(src, tmp_path / "second")
    assert regen.received[main] == [BATCH_SIZE, BATCH_SIZE]
    assert len(second.done) == N_IMAGES and not second.failed
    assert msr.batch_size == BATCH_SIZE
    assert _tree(tmp_path / "first") == _tree(tmp_path / "second")


def test_concurrent_runs_keep_their_own_batch_size(tmp_path: Path) -> None:
    src = _folder(tmp_path / "src")
    b_in_first_call, a_backed_off = threading.Event(), threading.Event()

    class Paced(OOMAbove):
        """B holds its first call open until A has run out of memory and lowered its batch size."""

        def regenerate(self, images: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
            thread = threading.current_thread().name
            out = super().regenerate(images, seeds)
            if thread == "B" and not b_in_first_call.is_set():
                b_in_first_call.set()
                assert a_backed_off.wait(60)
            if thread == "A":
                a_backed_off.set()  # a call that got through comes after the backoff
            return out

    regen = Paced(oom_above=2, oom_thread="A")
    msr = _msr(regen)
    reports: dict[str, object] = {}
    threads = {
        name: threading.Thread(target=lambda n=name: reports.update({n: msr.run(src, tmp_path / n)}), name=name)
        for name in ("A", "B")
    }
    threads["B"].start()
    assert b_in_first_call.wait(60)
    threads["A"].start()
    for t in threads.values():
        t.join(120)
    assert not any(t.is_alive() for t in threads.values())
    assert regen.received["A"] == [2, 2, 2, 2]
    assert regen.received["B"] == [BATCH_SIZE, BATCH_SIZE]  # A's backoff did not shrink B's second batch
    assert set(reports) == {"A", "B"}
    assert _tree(tmp_path / "A") == _tree(tmp_path / "B")
