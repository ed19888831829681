"""Heap settings for a build's worker processes: memory freed by one temporary array is reused by the next.

The pixel path (:mod:`aflw_occ.builders.exact_image`, :mod:`aflw_occ.builders.exact_jpeg`, the NOD segmenter) makes
and drops hundreds of temporary numpy arrays of 0.1–2 MB per image. With glibc's defaults, a block above the mmap
threshold gets freshly mapped pages and the heap's free top above the trim threshold goes back to the kernel, so
many such arrays start with page faults on pages the kernel has to zero again (glibc raises both thresholds by
itself after the first large blocks are freed, which removes most but not all of them). Keeping up to
:data:`TRIM_THRESHOLD` of freed memory in the heap (and serving blocks below :data:`MMAP_THRESHOLD` from it) from the
start: measured on a 286-image build of every subset, 22 % fewer page faults and ≈ 0.3 s (≈ 2 %) less system time,
the same peak memory. It changes where memory comes from, never a computed value.
"""

from __future__ import annotations

import ctypes
import sys

#: glibc's ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
#: blocks below this come from the heap (glibc's own dynamic threshold stops at the same 32 MiB)
MMAP_THRESHOLD = 32 << 20
#: free memory at the heap's top kept for the next arrays before any is returned to the kernel
TRIM_THRESHOLD = 128 << 20
#: extra memory asked for whenever the heap grows (fewer ``brk`` calls)
TOP_PAD = 16 << 20


def keep_freed_memory() -> bool:
    """Apply the settings above to this process's C heap; True when they took effect (glibc on Linux), False where
    there is no ``mallopt`` to call (other C libraries and systems keep their defaults)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD))
    return all(mallopt(param, value) == 1 for param, value in settings)
