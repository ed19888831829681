"""P, the NOD visible rates, skin masks, ITA and the CSOD draws have the same bits at every emulated CPU level.

Runs 20 real images in three subprocesses: native (AVX-512 on a Zen 4 / Xeon), AVX2 and SSE4.2 only, set as in
``docs/reproducibility.md`` (numpy ``NPY_DISABLE_CPU_FEATURES``, OpenCV ``OPENCV_CPU_DISABLE``, OpenBLAS
``OPENBLAS_CORETYPE``), with different OpenBLAS and OpenCV thread counts (1 / 2), and asserts (1) that each
emulation took effect (numpy's runtime features, ``cv2.checkHardwareSupport``, OpenBLAS's core name) and (2) identical
bits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.repro import ISA_LEVELS

# the emulation environments of the reproducibility harness (every AVX-512 feature and group spelled as each library
# release expects it), plus different OpenBLAS and OpenCV thread counts (CV_THREADS: set by the subprocess)
LEVELS: dict[str, dict[str, str]] = {
    "native": {"OPENBLAS_NUM_THREADS": "2", "CV_THREADS": "2"},
    "avx2": {**ISA_LEVELS["avx2"].env, "OPENBLAS_NUM_THREADS": "1", "CV_THREADS": "1"},
    "sse42": {**ISA_LEVELS["sse42"].env, "OPENBLAS_NUM_THREADS": "2", "CV_THREADS": "2"},
}

SCRIPT = r"""
import ctypes, hashlib, json, os, re, sys
import numpy as np, cv2
cv2.setNumThreads(int(os.environ["CV_THREADS"]))

def corename():
    np.ones((64, 64)) @ np.ones((64, 64))  # make sure numpy's OpenBLAS is loaded and initialised
    names = []
    for path in sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", open("/proc/self/maps").read()))):
        lib = ctypes.CDLL(path)
        for fn in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
                   "openblas_get_corename"):
            f = getattr(lib, fn, None)
            if f is not None:
                f.restype = ctypes.c_char_p
                names.append(f().decode())
                break
    return names

feats = np._core._multiarray_umath.__cpu_features__
def has(*names):  # the first name numpy knows: the level group (numpy >= 2.4), else the feature (older releases)
    return next((bool(feats[n]) for n in names if n in feats), None)

from aflw_occ.source import AFLW2000_3D
from aflw_occ.face_mesh import load_face_mesh
from aflw_occ.face_region import face_geometries
from aflw_occ.geometry import PIXEL_OFFSET
from aflw_occ.skin import get_segmenter, is_grayscale, ita_degrees
from aflw_occ.skin.gmm import skin_posterior
from aflw_occ.landmark_patches import central_face_mask
from aflw_occ.visibility import visible_rate
from aflw_occ.builders.base import BuildOptions, SourceSample
from aflw_occ.builders.csod import CSOD

def h(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]

root = sys.argv[1]
ids = json.loads(sys.argv[2])
ds = AFLW2000_3D(root, ids=ids)
mesh = load_face_mesh(root).prepare()
seg = get_segmenter("adaptive")
samples = [ds[i] for i in ids]
images = [s.read_image() for s in samples]
geos = face_geometries(samples, mesh, [im.shape[:2] for im in images])
csod = CSOD(BuildOptions())
rows = {}
for s, im, g in zip(samples, images, geos):
    r = visible_rate(im, s, None, seg, g)
    seed = central_face_mask(s.landmarks[:, :2] - PIXEL_OFFSET, im.shape[:2])
    src = SourceSample(s.id, 0, im, s.pt3d_68.T.copy(), s.pose_para, None)
    draws = [csod.draw(src, v, np.random.Generator(np.random.PCG64(7))) for v in ("single", "double", "column")]
    rows[s.id] = {
        "P": h(g.region), "outside": float(g.outside_fraction).hex(), "v": float(r.v).hex(), "F": h(r.skin),
        "flags": h(r.landmark_occluded), "grey": bool(is_grayscale(im)),
        "ita": float(ita_degrees(im, seed, check_grey=False)).hex(), "gmm": h(skin_posterior(im[::8, ::8])),
        "csod": json.dumps(draws, sort_keys=True),
    }
print(json.dumps({
    "cpu": {"avx512": has("X86_V4", "AVX512_SKX"), "avx2": has("X86_V3", "AVX2"),
            "cv_avx512": bool(cv2.checkHardwareSupport(13) or cv2.checkHardwareSupport(256)),
            "cv_avx2": bool(cv2.checkHardwareSupport(11)),
            "openblas": corename()},
    "spread": h(mesh.spread), "rows": rows,
}))
"""


def _run(level: str, source: Path, ids: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NPY_DISABLE_CPU_FEATURES", "OPENCV_CPU_DISABLE")}
    env.pop("OPENBLAS_CORETYPE", None)
    env.update(LEVELS[level])
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(source), json.dumps(ids)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.real
def test_p_nod_and_csod_bits_do_not_depend_on_the_cpu_level(real_source, real_dataset) -> None:
    n = len(real_dataset)
    ids = [real_dataset[i].id for i in range(0, n, max(1, n // 20))][:20]
    runs = {level: _run(level, real_source, ids) for level in LEVELS}
    # the emulations took effect (an emulation that silently did nothing would test nothing)
    for level, want_blas in (("avx2", "Haswell"), ("sse42", "Nehalem")):
        cpu = runs[level]["cpu"]
        assert cpu["avx512"] is False and cpu["cv_avx512"] is False, (level, cpu)
        assert cpu["openblas"] and all(name == want_blas for name in cpu["openblas"]), (level, cpu)
    assert runs["sse42"]["cpu"]["avx2"] is False and runs["sse42"]["cpu"]["cv_avx2"] is False, runs["sse42"]["cpu"]
    assert runs["avx2"]["cpu"]["cv_avx2"] is runs["native"]["cpu"]["cv_avx2"]
    native = runs["native"]
    assert len(native["rows"]) == len(ids)
    for level in ("avx2", "sse42"):
        assert runs[level]["spread"] == native["spread"], level
        for sid, row in native["rows"].items():
            assert runs[level]["rows"][sid] == row, (level, sid)
