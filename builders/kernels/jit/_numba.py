"""numba, set up for the pixel kernels: the cache folder, and :data:`kernel`, the one decorator every kernel uses.

Kernels are compiled once per machine and CPU name and cached (``cache=True``): next to their module when its
``__pycache__`` is writable (an editable install), else under ``$NUMBA_CACHE_DIR`` or ``$XDG_CACHE_HOME/aflw-occ/numba``
(``~/.cache`` by default; a read-only site-packages).
"""

from __future__ import annotations

import os
from pathlib import Path


def _choose_cache_dir() -> None:
    """Point numba's cache at a writable folder when this package's ``__pycache__`` is not writable and the user set
    none (numba reads ``NUMBA_CACHE_DIR`` when it is imported)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    pycache = Path(__file__).resolve().parent / "__pycache__"
    try:
        pycache.mkdir(exist_ok=True)
        writable = os.access(pycache, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        os.environ["NUMBA_CACHE_DIR"] = str(base / "aflw-occ" / "numba")


_choose_cache_dir()

import numba  # noqa: E402  (after the cache folder is chosen)

#: every kernel: no GIL (callers may thread), cached, no fast-math (integer code anyway: nothing for it to change),
#: numpy's error model (no exception paths in the loops; the callers check every bound first)
kernel = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

#: the CPU the kernels are compiled for (``NUMBA_CPU_NAME``; None: this machine's)
CPU_NAME = numba.config.CPU_NAME
VERSION = numba.__version__
