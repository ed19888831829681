"""Record what numpy, OpenCV and OpenBLAS will run on, then (optionally) run ``aflw-occ`` in the same process.

    python benchmarks/cpu_probe.py OUT.json [build|verify|... ARGS]

Run as a plain script by the reproducibility harness (``benchmarks/repro.py``) with the python of the environment
under test, so it imports nothing from the source tree but ``aflw_occ.cli`` (installed there). The probe is taken in
the very process that then builds, after numpy and OpenCV are loaded, so it describes the build's own environment;
the build's worker processes inherit the same environment variables.

OUT.json holds:
* ``numpy``: version, ``baseline``, ``dispatch`` (the optional SIMD targets this numpy was compiled with) and ``found``
  (the dispatch targets enabled at run time: what ``numpy.show_runtime()`` prints as "found"),
* ``opencv``: version, ``supported`` (every CPU feature id for which ``cv2.checkHardwareSupport`` is true; 11 = AVX2,
  13 = AVX512F, 256 = the AVX512-SKX group its AVX-512 kernels dispatch on) and ``features_line``
  (``cv2.getCPUFeaturesLine()``: ``*`` marks a dispatched target, ``?`` one that is not used at run time),
* ``openblas``: ``threadpoolctl.threadpool_info()`` rows of OpenBLAS (``architecture`` is the kernel set in use), or
  ``null`` when threadpoolctl is not installed;
* ``numba`` (the compiled pixel kernels): version, ``cpu_name`` / ``cpu_features`` (``NUMBA_CPU_NAME`` /
  ``NUMBA_CPU_FEATURES`` as numba read them), ``backend`` (what ``AFLW_OCC_KERNELS`` makes the build run) and
  ``registers``: how often the machine code numba compiles here for an integer loop uses xmm / ymm / zmm registers
  (no ymm or zmm: SSE only; zmm: AVX-512), or ``null`` when numba cannot be imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# OpenCV's CPU feature ids (core/cvdef.h: CV_CPU_*), the same in OpenCV 4.x and 5.x
OPENCV_FEATURE_IDS = (*range(1, 40), *range(256, 270))


def probe() -> dict[str, Any]:
    """The SIMD targets numpy and OpenCV dispatch to, and OpenBLAS's kernel set, in this process."""
    import cv2
    import numpy as np

    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy < 2 names it numpy.core
        from numpy.core import _multiarray_umath as umath  # type: ignore[no-redef]
    features: dict[str, bool] = dict(umath.__cpu_features__)
    dispatch = list(umath.__cpu_dispatch__)
    try:
        import threadpoolctl

        blas: list[dict[str, Any]] | None = [
            {k: row.get(k) for k in ("internal_api", "version", "architecture", "filepath")}
            for row in threadpoolctl.threadpool_info()
            if row.get("internal_api") == "openblas"
        ]
    except ImportError:
        blas = None
    return {
        "python": sys.executable,
        "numpy": {
            "version": np.__version__,
            "baseline": list(umath.__cpu_baseline__),
            "dispatch": dispatch,
            "found": [d for d in dispatch if features.get(d)],
        },
        "opencv": {
            "version": cv2.__version__,
            "supported": [i for i in OPENCV_FEATURE_IDS if cv2.checkHardwareSupport(i)],
            "features_line": cv2.getCPUFeaturesLine(),
        },
        "openblas": blas,
        "numba": probe_numba(),
    }


def probe_numba() -> dict[str, Any] | None:
    """What numba compiles for in this process, checked on the machine code of a small integer loop."""
    try:
        import numba
        import numpy as np
    except ImportError:
        return None
    from aflw_occ.builders import kernels

    @numba.njit
    def loop(a: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover  (compiled)
        for i in range(a.shape[0]):
            out[i] = a[i] * 3 + (a[i] >> 2) + 7

    a = np.arange(4096, dtype=np.int64)
    loop(a, np.empty_like(a))
    asm = "".join(loop.inspect_asm().values())
    return {
        "version": numba.__version__,
        "cpu_name": numba.config.CPU_NAME,
        "cpu_features": numba.config.CPU_FEATURES,
        "backend": kernels.backend(),
        "registers": {r: asm.count(r) for r in ("xmm", "ymm", "zmm")},
    }


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: cpu_probe.py OUT.json [aflw-occ command and arguments]")
    Path(argv[0]).write_text(json.dumps(probe(), indent=1) + "\n")
    if len(argv) > 1:
        from aflw_occ.cli import main as cli

        sys.argv = ["aflw-occ", *argv[1:]]
        cli()


if __name__ == "__main__":
    main(sys.argv[1:])
