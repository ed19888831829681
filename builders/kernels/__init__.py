"""Which implementation runs the exact integer pixel operations of NSOD and RandOcc.

Each operation is *defined* by its numpy reference (:mod:`..exact_warp`, :mod:`..exact_image`, :mod:`..exact_filter`,
:mod:`..exact_jpeg`, :mod:`..compositing`); the package :mod:`.jit` holds numba kernels of the same integer
arithmetic, which give the same bytes faster (``docs/benchmarks.md``). Choose with ``AFLW_OCC_KERNELS``:

* ``auto`` (default): the compiled kernels when numba is installed in the tested range (:data:`NUMBA_RANGE`, the
  ``fast`` extra: ``pip install 'aflw-occ[fast]'``), else the numpy references;
* ``numba``: the compiled kernels (an error when numba is missing or outside the tested range);
* ``numpy``: the numpy references.

Either way the pixels are the same (tests compare the two on edge cases and on real composites, and the committed
manifest verifies builds made with the kernels compiled for other CPUs). Nothing here imports numba: the kernels are
compiled (or loaded from numba's cache) on first use, in the process that composites.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from types import ModuleType
from typing import Any

from aflw_occ.errors import AflwOccError

#: the environment variable that chooses the backend, and its values
ENV = "AFLW_OCC_KERNELS"
CHOICES = ("auto", "numba", "numpy")
#: the numba releases proven to give the reference bytes (the ``fast`` extra of pyproject.toml: lowest and highest
#: tested in CI): [first, stop) as (major, minor)
NUMBA_RANGE = ((0, 60), (0, 69))

_STATE: dict[str, Any] = {"override": None, "module": None, "for": None}


class KernelsError(AflwOccError):
    """The requested backend cannot run here (one ``error:`` line naming what to do; exit code 2)."""


def requested() -> str:
    """The backend asked for: :data:`ENV` or ``auto`` (a :func:`use` block overrides it)."""
    choice = _STATE["override"] or os.environ.get(ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise KernelsError(f"{ENV}={choice!r} is not one of {', '.join(CHOICES)}")
    return choice


def _numba_version() -> str | None:
    """The installed numba's version, from its distribution's metadata (None when it has none)."""
    try:
        return metadata.version("numba")
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def _numba_problem() -> str | None:
    """Why numba cannot run the kernels here (not installed, or a release outside :data:`NUMBA_RANGE`), or None;
    from the installed distribution's metadata, without importing numba (read once per process)."""
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed"
    version = _numba_version()
    if version is None:
        return "numba's version cannot be read"
    release = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    (lo, hi) = NUMBA_RANGE
    if not lo <= release < hi:
        return f"numba {version} is outside the tested range {lo[0]}.{lo[1]} to <{hi[0]}.{hi[1]}"
    return None


def backend() -> str:
    """The backend that runs: ``numba`` or ``numpy`` (``auto`` resolved without importing numba); :class:`KernelsError`
    when ``numba`` is asked for and cannot run."""
    choice = requested()
    if choice == "numpy":
        return choice
    problem = _numba_problem()
    if problem is None:
        return "numba"
    if choice == "numba":
        raise KernelsError(f"{ENV}=numba but {problem}: pip install 'aflw-occ[fast]', or set {ENV}=numpy")
    return "numpy"


def compiled() -> ModuleType | None:
    """The compiled kernels (:mod:`.jit`) when the numba backend runs, else None (use the numpy reference).
    The first call imports numba; :class:`KernelsError` when it cannot run (:func:`backend`)."""
    name = backend()
    if _STATE["for"] != name:
        module = None
        if name == "numba":
            try:
                from . import jit as module  # noqa: PLC0415  (numba: heavy, only where compositing runs)
            except ImportError as exc:
                raise KernelsError(f"numba cannot be imported ({exc}); reinstall it, or set {ENV}=numpy") from None
        _STATE["module"], _STATE["for"] = module, name
    return _STATE["module"]


def load() -> None:
    """Load the backend that runs now (a worker does it once, before its first sample, so that a missing numba is
    one :class:`KernelsError` at start-up): numba is imported; each kernel is compiled for this machine's CPU, or
    read from numba's cache, on its first call."""
    compiled()


@contextmanager
def use(name: str) -> Iterator[None]:
    """Run the block with backend ``name`` (``numba``, ``numpy`` or ``auto``) in this process (tests, benchmarks)."""
    if name not in CHOICES:
        raise KernelsError(f"unknown kernels backend {name!r}; one of {', '.join(CHOICES)}")
    before = _STATE["override"]
    _STATE["override"] = name
    try:
        yield
    finally:
        _STATE["override"] = before


def describe() -> dict[str, str]:
    """What a build's workers run (for the manifest's informational environment): the backend, numba's version and
    the CPU numba compiles for (``NUMBA_CPU_NAME``, ``host`` when unset); numba is not imported."""
    out = {"backend": backend()}
    if out["backend"] == "numba":
        out["numba"] = _numba_version() or "?"
        out["numba_cpu_name"] = os.environ.get("NUMBA_CPU_NAME") or "host"
    return out
