"""Large allocations straight from the OS, so the process's RSS follows the memory it holds.

glibc serves allocations under its (adaptive, up to 32 MiB) mmap threshold from the heap, and a
heap with one live block near its top cannot shrink: the 32-64 KiB pieces that stream through the
relay left a stalled stream's RSS at the high-water of everything that passed, ~2x what it held
(measured: 50 stalled SSE streams, ~350 KiB each against ~160 KiB with this). A fixed threshold of
32 KiB puts those pieces in their own mappings, returned when freed. Small objects (every token
chunk, every header) never get near it. An operator's own ``MALLOC_MMAP_THRESHOLD_`` wins; other
C libraries are left alone.
"""

from __future__ import annotations

import os
import sys
from typing import Final

#: glibc's ``M_MMAP_THRESHOLD`` parameter number (malloc.h).
_M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD: Final = 32 * 1024


def map_large_allocations() -> bool:
    """Set glibc's mmap threshold (once, at start); whether it was set."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl (Alpine) and others: no mallopt to call
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
