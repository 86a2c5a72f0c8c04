"""Two-process DDP (gloo, CPU): a D step with each regularizer runs, raises no reducer error, and syncs grads."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from hrr.gan import FGM, PGD, AdaptiveAdversarial, AdaptiveMix, gradient_penalty

pytestmark = pytest.mark.slow


class SplitD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.LeakyReLU(0.2), nn.Flatten())
        self.head = nn.Linear(8 * 4 * 4, 1)

    def forward(self, x: torch.Tensor, features_only: bool = False) -> torch.Tensor:
        h = self.features(x)
        return h if features_only else self.head(h).squeeze(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        results = {}
        for control in (False, True):
            results.update(_step(rank, control))
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _step(rank: int, control: bool) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    ddp = nn.parallel.DistributedDataParallel(SplitD(), find_unused_parameters=False)
    inner = ddp.module
    torch.manual_seed(100 + rank)  # different data per rank
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    D = inner if control else ddp  # the control bypasses the wrapper: its grads are not all-reduced
    attacks = {
        "fgm": FGM(0.5, module=ddp),
        "pgd": PGD(0.5, 0.2, 3, module=ddp),
        "adaptive": AdaptiveAdversarial(ddp, eps=0.5, step_size=0.2, steps=3, kappa=1.0),
    }
    results = {}
    for name, attack in [*attacks.items(), ("adaptivemix", None)]:
        ddp.zero_grad(set_to_none=True)
        if attack is None:
            r_in, f_in = real, fake
        else:
            r_in = attack(real, lambda z: -D(z).mean())
            f_in = attack(fake, lambda z: D(z).mean())
        loss = D(f_in).mean() - D(r_in).mean() + gradient_penalty(D, real, fake)
        if attack is None:
            loss = loss + AdaptiveMix()(lambda t: D(t, features_only=True), real, fake, module=inner,
                                        generator=torch.Generator().manual_seed(rank))
        loss.backward()
        key = ("control_" if control else "") + name
        results[key] = torch.cat([p.grad.flatten() for p in inner.parameters()])
    return results


def test_ddp_step_with_each_regularizer(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    names = ["fgm", "pgd", "adaptive", "adaptivemix"]
    assert set(r0) == set(names) | {f"control_{n}" for n in names}
    for name in names:
        assert float(r0[name].abs().sum()) > 0
        torch.testing.assert_close(r0[name], r1[name], rtol=1e-5, atol=1e-6, msg=f"{name}: grads differ")
        # control: the same step through ddp.module is not all-reduced, so the test can tell the difference
        assert not torch.allclose(r0[f"control_{name}"], r1[f"control_{name}"], rtol=1e-5, atol=1e-6), name
