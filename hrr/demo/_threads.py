"""Torch's intra-op thread count for one training, the caller's setting restored afterwards (also on an error).

The demo's small networks train on a set number of threads: their weights depend on it (reduction order), and
one thread in each of several processes gets more done than two threads in one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block on ``threads`` torch threads, then restore the caller's count."""
    caller = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(caller)
