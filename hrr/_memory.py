"""Keep glibc from hoarding freed chunk buffers while a fit streams over large data.

Streaming passes allocate and free many chunk-sized temporaries (tens of MiB). glibc raises its mmap
threshold each time such a block is freed, after which same-sized blocks come from the heap and are kept
after ``free``: on a 1e6 x 64 fit the resident size grew by ~3 GB although no more than ~250 MB was ever
live at once (measured with ``benchmarks/bench_memory.py``). Pinning the threshold makes large temporaries
mmap-backed again, so freed memory goes back to the operating system at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
_THRESHOLD_BYTES = 4 * 2**20


@functools.cache
def pin_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold to 4 MiB (once per process); a no-op returning False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
