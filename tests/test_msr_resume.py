"""Killing runs mid-way (SIGKILL) and resuming; splitting one run across processes (plain env, accelerate launch).

``accelerate launch --multi_gpu`` starts its processes through torch's elastic launcher (``torchrun``), so that path
is covered too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from hrr.msr import item_seed

WORKER = '''
"""MSR worker for the resume/shard tests: a slow deterministic regenerator that logs every seed it regenerates."""
import json
import sys
import time

import torch

from hrr.msr import MultiScaleRetrospector


class SlowSeeded:
    size_multiple = 8

    def __init__(self, sleep, log):
        self.sleep, self.log = sleep, log

    def config(self):
        return {"backend": "slow-seeded", "size_multiple": 8}

    def regenerate(self, images, seeds):
        time.sleep(self.sleep)
        with open(self.log, "a") as fh:
            fh.write("".join(f"{s}\\n" for s in seeds))
        out = []
        for img, s in zip(images, seeds):
            g = torch.Generator().manual_seed(int(s))
            out.append(0.75 * img + 0.25 * torch.rand(img.shape, generator=g))
        return torch.stack(out)


def make(sleep, log, batch_size=2):
    return MultiScaleRetrospector(
        SlowSeeded(sleep, log), scales=(16, 32), batch_size=batch_size, num_workers=1, progress=False, shard="auto"
    )


if __name__ == "__main__":
    src, out, sleep, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    report = make(sleep, log).run(src, out)
    print(json.dumps({"done": len(report.done), "skipped": len(report.skipped), "failed": len(report.failed)}))
'''

N_IMAGES = 8
SCALES = (16, 32)


def _write_sources(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(N_IMAGES):
        h, w = ((40, 56), (48, 48))[i % 2]
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"im{i}.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ModuleType, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("resume")
    src = _write_sources(root / "src")
    script = root / "msr_worker.py"
    script.write_text(WORKER)
    spec = importlib.util.spec_from_file_location("msr_resume_worker", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.make(0.0, str(root / "ref.log"), batch_size=3).run(src, root / "reference")
    return src, script, module, _tree(root / "reference")


def _tree(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png")) if not p.name.startswith(".")
    }


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def _seed_to_item() -> dict[int, tuple[str, int]]:
    return {item_seed(0, f"im{i}", s): (f"im{i}", s) for i in range(N_IMAGES) for s in SCALES}


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 6, 13])
def test_sigkill_then_resume_matches_uninterrupted(
    setup: tuple[Path, Path, ModuleType, dict[str, bytes]], tmp_path: Path, kill_after: int
) -> None:
    src, script, module, reference = setup
    out = tmp_path / "out"
    cmd = [sys.executable, str(script), str(src), str(out), "0.15", str(tmp_path / "killed.log")]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if len(list(out.rglob("regen/*.png"))) >= kill_after or proc.poll() is not None:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()  # type: ignore[union-attr]
    # nothing partial is visible: every visible file is a complete, final file
    partial = _tree(out)
    assert partial, "the run was killed before writing anything"
    for rel, data in partial.items():
        assert data == reference[rel], rel
    complete = {(p.stem, int(p.parent.parent.name[1:])) for p in out.rglob("regen/*.png") if not p.name.startswith(".")}
    assert len(complete) < N_IMAGES * len(SCALES)
    # resume in-process and record what gets regenerated
    log = tmp_path / "resume.log"
    report = module.make(0.0, str(log), batch_size=2).run(src, out)
    redone = {_seed_to_item()[int(s)] for s in log.read_text().split()}
    assert redone.isdisjoint(complete), "work that was complete was redone"
    assert redone | complete == set(_seed_to_item().values())
    assert {(i, s) for i, s in report.done} == redone and set(report.skipped) == complete
    assert [Path(f["source"]).name for f in report.failed] == ["broken.jpg"]
    assert _tree(out) == reference
    assert not [p for p in out.rglob(".*.tmp")], "temporary files left behind"


def _check_split(out: Path, reference: dict[str, bytes], world: int = 2) -> None:
    reports = [json.loads((out / "msr_reports" / f"rank{r:05d}-of-{world:05d}.json").read_text()) for r in range(world)]
    done = [{(d["image_id"], d["scale"]) for d in rep["done"]} for rep in reports]
    assert all(done), "a rank got no work"
    assert done[0].isdisjoint(done[1])
    assert done[0] | done[1] == set(_seed_to_item().values())
    assert sum(len(rep["failed"]) for rep in reports) == 1  # broken.jpg, reported by the rank that owns it
    assert _tree(out) == reference


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_processes_by_env(setup: tuple[Path, Path, ModuleType, dict[str, bytes]], tmp_path: Path) -> None:
    src, script, _, reference = setup
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(src), str(out), "0", str(tmp_path / f"r{r}.log")],
            env=_env(RANK=str(r), WORLD_SIZE="2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for r in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
    _check_split(out, reference)


@pytest.mark.slow
def test_two_processes_by_accelerate(setup: tuple[Path, Path, ModuleType, dict[str, bytes]], tmp_path: Path) -> None:
    pytest.importorskip("accelerate")
    src, script, _, reference = setup
    out = tmp_path / "out"
    # accelerate's --cpu launcher wants MPI for several processes; --multi_gpu is its torchrun launcher, which
    # starts CPU processes just as well (the worker never touches CUDA).
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    cmd += ["--main_process_port", str(_port()), str(script), str(src), str(out), "0", str(tmp_path / "a.log")]
    res = subprocess.run(cmd, env=_env(), capture_output=True, timeout=240)
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    _check_split(out, reference)
