"""numba, set up for the pixel kernels: the cache folder, and :data:`kernel`, the one decorator every kernel uses.

Kernels are compiled once per machine and CPU name and cached (``cache=True``): next to their module when its
``__pycache__`` is writable (an editable install), else under ``$NUMBA_CACHE_DIR``, ``$XDG_CACHE_HOME/aflw-occ/numba``
(``~/.cache`` by default; a read-only site-packages) or the temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _choose_cache_dir() -> None:
    """Point numba's cache at a writable folder when this package's ``__pycache__`` is not writable and the user set
    none (numba reads ``NUMBA_CACHE_DIR`` when it is imported, and refuses to cache without a writable folder):
    ``$XDG_CACHE_HOME`` or ``~/.cache``, then the system's temporary folder, each under ``aflw-occ/numba``."""
    if os.environ.get("NUMBA_CACHE_DIR") or _writable(Path(__file__).resolve().parent / "__pycache__"):
        return
    candidates = []
    with contextlib.suppress(RuntimeError):  # no home folder
        candidates.append(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aflw-occ" / "numba")
    candidates.append(Path(tempfile.gettempdir()) / f"aflw-occ-numba-{os.getuid()}")
    for folder in candidates:
        if _writable(folder):
            os.environ["NUMBA_CACHE_DIR"] = str(folder)
            return


_choose_cache_dir()

import numba  # noqa: E402  (after the cache folder is chosen)

if os.environ.get("NUMBA_CACHE_DIR") and not numba.config.CACHE_DIR:  # numba was imported before this module
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]

#: every kernel: no GIL (callers may thread), cached, no fast-math (integer code anyway: nothing for it to change),
#: numpy's error model (no exception paths in the loops; the callers check every bound first)
kernel = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

#: the CPU the kernels are compiled for (``NUMBA_CPU_NAME``; None: this machine's)
CPU_NAME = numba.config.CPU_NAME
VERSION = numba.__version__
