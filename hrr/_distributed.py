"""Multi-process training (``torchrun``, ``accelerate launch``): rank, device and the collectives the loop needs.

Kept apart from :mod:`hrr._training` so the skeleton reads as the loop it is; a single process is the default
:class:`Distributed` and never touches ``torch.distributed``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hrr._device import resolve_device


@dataclasses.dataclass(frozen=True)
class Distributed:
    """This process's place in a multi-process launch (``torchrun``, ``accelerate launch``); one rank otherwise.

    Attributes
    ----------
    rank, world : int
        Rank of this process and number of processes.
    device : torch.device
        The rank's device; the collectives' tensors live there.
    """

    rank: int = 0
    world: int = 1
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @classmethod
    def launch(cls, device: str | torch.device = "auto") -> Distributed:
        """Rank, world size and device; initialises the process group (through accelerate) when launched.

        ``device`` is used by a single process; under a multi-process launch each rank takes its local GPU (or
        the CPU), whatever ``device`` says.
        """
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls(0, 1, resolve_device(device))
        import torch.distributed as dist

        if not dist.is_initialized():
            from accelerate import PartialState

            PartialState()
        rank, world = dist.get_rank(), dist.get_world_size()
        return cls(rank, world, resolve_device("auto" if world > 1 else device))

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the one that writes files and shows progress."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in ``DistributedDataParallel`` under a multi-process launch; ``model`` itself otherwise."""
        if self.world == 1:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def all_have(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank (all ranks get the same answer)."""
        if self.world == 1:
            return flag
        import torch.distributed as dist

        tensor = torch.tensor([1 if flag else 0], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
        return bool(tensor.item())

    def average_gradients(self, model: nn.Module) -> None:
        """What DDP's backward does for the batch that closes an accumulation window: average the grads."""
        import torch.distributed as dist

        for param in model.parameters():
            if param.grad is not None:
                dist.all_reduce(param.grad)
                param.grad.div_(self.world)

    def merge(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """Union of every rank's ``mapping`` (the first value by rank order wins), the same on all ranks."""
        if self.world == 1:
            return dict(mapping)
        import torch.distributed as dist

        gathered: list[Mapping[str, Any] | None] = [None] * self.world
        dist.all_gather_object(gathered, dict(mapping))
        merged: dict[str, Any] = {}
        for part in gathered:
            for key, value in (part or {}).items():
                merged.setdefault(key, value)
        return merged

    def barrier(self) -> None:
        """Wait for every rank (nothing to wait for with one)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
