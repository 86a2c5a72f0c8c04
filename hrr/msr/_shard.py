"""Splitting work across processes: explicit ``(rank, world_size)`` or from the launcher's environment.

``accelerate launch``, ``torchrun`` / ``python -m torch.distributed.run`` and most cluster wrappers export ``RANK``
and ``WORLD_SIZE``; reading them needs no process group, so MSR ranks never wait on each other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal, TypeVar

__all__ = ["ShardSpec", "resolve_shard", "split_contiguous"]

T = TypeVar("T")
ShardSpec = tuple[int, int] | Literal["auto"] | None


def resolve_shard(shard: ShardSpec = "auto") -> tuple[int, int]:
    """Return ``(rank, world_size)``.

    Parameters
    ----------
    shard : (int, int), "auto" or None
        ``(rank, world_size)`` as given; ``"auto"``: ``RANK``/``WORLD_SIZE`` from the environment (set by
        ``accelerate launch`` and ``torchrun``), else a single process; ``None``: a single process.

    Examples
    --------
    >>> resolve_shard((1, 4))
    (1, 4)
    >>> resolve_shard(None)
    (0, 1)
    """
    if shard is None:
        return 0, 1
    if shard == "auto":
        world = os.environ.get("WORLD_SIZE")
        if world is None or int(world) <= 1:
            return 0, 1
        rank = os.environ.get("RANK")
        if rank is None:
            raise ValueError(f"WORLD_SIZE={world} is set but RANK is not; set both, or pass shard=(rank, world_size)")
        return resolve_shard((int(rank), int(world)))
    if (
        not isinstance(shard, tuple)
        or len(shard) != 2
        or not all(isinstance(v, int) for v in shard)
        or not 0 <= shard[0] < shard[1]
    ):
        raise ValueError(f"shard must be (rank, world_size) with 0 <= rank < world_size, 'auto' or None, got {shard!r}")
    return shard


def split_contiguous(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Contiguous share of ``items`` for ``rank``; the first ``len % world_size`` ranks get one extra item.

    The same split as ``accelerate.PartialState.split_between_processes``.

    Examples
    --------
    >>> [split_contiguous(list(range(7)), r, 3) for r in range(3)]
    [[0, 1, 2], [3, 4], [5, 6]]
    """
    base, extra = divmod(len(items), world_size)
    start = rank * base + min(rank, extra)
    stop = start + base + (1 if rank < extra else 0)
    return list(items[start:stop])
