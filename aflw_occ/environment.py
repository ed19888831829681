"""The environment that runs a build: library versions and the CPU features the pixel path may depend on.

Recorded in every manifest folder (``environment.json``) and store (attribute ``environment``) for information only:
it is never part of a data version's identity, and ``verify`` never compares it.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTIONS = ("aflw-occ", "numpy", "opencv-python-headless", "h5py", "scipy")


def library_versions() -> dict[str, str]:
    """Python and the installed versions of the libraries on the pixel path (those that are installed)."""
    out = {"python": platform.python_version()}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    import cv2

    out["opencv-build"] = cv2.__version__
    return out


def numpy_cpu_features() -> list[str]:
    """The SIMD features numpy dispatches to at run time (``numpy.show_runtime()``'s ``found`` list)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        except ImportError:
            return []
    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]


def openblas_architectures() -> dict[str, str]:
    """Library file name → OpenBLAS kernel architecture of each loaded OpenBLAS (numpy's, scipy's): threadpoolctl's
    when it is installed, else asked of the libraries this process mapped (Linux; empty elsewhere)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _mapped_openblas_corenames()
    infos = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
    return {Path(str(i.get("filepath"))).name: str(i.get("architecture")) for i in infos}


#: the core-name function of OpenBLAS builds: plain, 64-bit-integer, and the scipy-openblas wheels numpy bundles
_CORENAME_SYMBOLS = ("openblas_get_corename", "openblas_get_corename64_", "scipy_openblas_get_corename64_")


def _mapped_openblas_corenames() -> dict[str, str]:
    import ctypes

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return {}
    names = {}
    for lib in sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}):
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for symbol in _CORENAME_SYMBOLS:
            fn = getattr(handle, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                names[Path(lib).name] = fn().decode()
                break
    return names


def collect() -> dict[str, Any]:
    """Library versions and CPU features of this process."""
    import cv2

    return {
        "libraries": library_versions(),
        "machine": platform.machine(),
        "numpy_cpu_features": numpy_cpu_features(),
        "opencv_cpu_features": cv2.getCPUFeaturesLine(),
        "openblas_architecture": openblas_architectures(),
    }
