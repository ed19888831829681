"""The compiled kernels (numba backend, :mod:`aflw_occ.builders.kernels`) give the numpy references' bytes: on
fabricated edge cases, on real composites (every pixel step's arguments captured from composites of real images and
stamps, then whole composites under both backends), and compiled for other CPUs (generic x86-64, SSE4.2-only
``nehalem``) in fresh processes, with the setting and the compiled code checked there (integer code: the same result
on every instruction set)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aflw_occ.builders import exact_filter as xf
from aflw_occ.builders import exact_image as xi
from aflw_occ.builders import exact_jpeg as xj
from aflw_occ.builders import exact_warp as xw
from aflw_occ.builders import kernels
from aflw_occ.builders.compositing import blend as bl
from aflw_occ.builders.compositing import colour as co

pytest.importorskip("numba", reason="numba is a runtime dependency; the suite installs it")


def _same(fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """``fn`` gives the same result (arrays, tuples of arrays or values) under both backends, and the numba one ran."""
    with kernels.use("numba"):
        assert kernels.compiled() is not None
        fast = fn(*args, **kw)
    with kernels.use("numpy"):
        assert kernels.compiled() is None
        ref = fn(*args, **kw)
    if isinstance(ref, tuple) and not hasattr(ref, "_fields"):
        assert len(fast) == len(ref)
        for a, b in zip(fast, ref, strict=True):
            np.testing.assert_array_equal(a, b)
    elif isinstance(ref, np.ndarray):
        assert fast.dtype == ref.dtype and fast.shape == ref.shape
        np.testing.assert_array_equal(fast, ref)
    else:
        assert fast == ref


RNG = np.random.default_rng(5)


def _rgba(h: int, w: int, sparse: bool = True) -> np.ndarray:
    """Premultiplied RGBA with α of every kind (0, partial, 128 boundary, 255) and a zero border."""
    img = RNG.integers(0, 256, (h, w, 4), np.uint8)
    if sparse:
        img[..., 3] = RNG.choice(np.array([0, 0, 1, 127, 128, 200, 254, 255], np.uint8), (h, w))
    return xi.premultiply(img)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 5), (31, 40)])
@pytest.mark.parametrize("sparse", [False, True])  # True: transparent pixels inside (taps all zero: skipped)
def test_warp_equals_reference_on_edge_maps(shape: tuple[int, int], sparse: bool) -> None:
    src = _rgba(*shape, sparse=sparse)
    maps = [
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],  # identity
        [[0.37, -0.91, 3.2], [0.88, 0.41, -2.7]],  # rotation, partly outside
        [[-1.0, 0.0, shape[1] - 0.5], [0.0, -1.0, shape[0] - 0.5]],  # negative steps, half-pixel
        [[2.5, 0.3, -1.0], [0.0, 0.0, 0.5]],  # zero y step: one source row
        [[0.0, 0.0, -3.0], [0.0, 0.0, -3.0]],  # everything outside
    ]
    for m in maps:
        for origin in ((0, 0), (3, -2)):
            size = (shape[1] + 7, shape[0] + 5)
            _same(xw.warp_bilinear, src, m, size, origin)


def test_premultiply_equals_reference() -> None:
    for shape in ((1, 1), (1, 9), (9, 1), (23, 17)):
        img = RNG.integers(0, 256, (*shape, 4), np.uint8)
        img[..., 3] = RNG.choice(np.array([0, 1, 127, 128, 254, 255], np.uint8), shape)
        _same(xi.premultiply, img)
        _same(xi.premultiply, img[:, ::-1])  # a non-contiguous view


def test_straight_colour_equals_reference() -> None:
    for shape in ((1, 1), (1, 9), (9, 1), (23, 17)):
        _same(bl.straight_colour, _rgba(*shape))


def test_colour_matrix_and_blend_equal_reference() -> None:
    rgb = RNG.integers(0, 256, (19, 13, 3), np.uint8)
    rgb[0] = 0
    rgb[1] = 255
    for m in (
        np.array([[4096, 0, 0, 0], [0, 4096, 0, 0], [0, 0, 4096, 0]]),
        RNG.integers(-(1 << 17), 1 << 17, (3, 4)),
        np.array([[(1 << 18) - 1, 0, 0, (1 << 28) - 1], [-(1 << 18) + 1, 0, 0, -(1 << 28) + 1], [1, 1, 1, -2048]]),
    ):
        _same(xi.apply_colour_matrix, rgb, m, 12)
    with kernels.use("numba"), pytest.raises(ValueError):
        xi.apply_colour_matrix(rgb, np.full((3, 4), 1 << 18), 12)
    back = RNG.integers(0, 256, rgb.shape, np.uint8)
    alpha = RNG.integers(0, 256, rgb.shape[:2], np.uint8)
    alpha[:2] = [[0], [255]]
    _same(xi.blend, rgb, back, alpha)


@pytest.mark.parametrize("shape", [(1, 1), (2, 9), (5, 3, 4), (40, 33, 3)])
def test_separable_filter_equals_reference(shape: tuple[int, ...]) -> None:
    img = RNG.integers(0, 256, shape, np.uint8)
    for taps in (np.array([1, 2, 1]), np.array([1, 4, 6, 4, 1]), xf.gaussian_taps(0.5), xf.gaussian_taps(1.5)):
        _same(xf.separable_filter, img, taps)


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (17, 33), (48, 40)])
def test_jpeg_equals_reference(shape: tuple[int, int]) -> None:
    rgb = RNG.integers(0, 256, (*shape, 3), np.uint8)
    rgb[: shape[0] // 2] //= 8  # flat dark half: small coefficients, rounding ties at 0
    where = RNG.random(shape) < 0.3
    for q in (1, 49, 50, 70, 100):
        _same(xj.jpeg_roundtrip, rgb, q, where)
    _same(xj.jpeg_roundtrip, rgb, 70, np.zeros(shape, bool))  # no block selected


@pytest.mark.parametrize(
    ("shape", "size"), [((1, 1, 1), (1, 1)), ((7, 5, 4), (2, 3)), ((150, 200, 4), (97, 61)), ((96, 96, 1), (192, 192))]
)
def test_area_resize_equals_reference(shape: tuple[int, int, int], size: tuple[int, int]) -> None:
    img = RNG.integers(0, 256, shape, np.uint8)
    img[0] = 255  # the largest sums
    _same(xi.area_resize, img, size)


@pytest.mark.parametrize("shape", [(1, 1), (3, 8), (40, 33)])
def test_blur_equals_reference(shape: tuple[int, int]) -> None:
    colour = RNG.integers(0, 256, (*shape, 3), np.uint8)
    alpha = RNG.choice(np.array([0, 0, 0, 1, 128, 254, 255, 255], np.uint8), shape)
    alpha[: shape[0] // 2] = 0  # a blank half: blurred α 0, 1–254 and 255 all occur
    for sigma in (0.5, 1.2, 1.5):
        _same(bl.blur, colour, alpha, sigma)


def test_fill_polygon_and_blobs_equal_reference() -> None:
    """RandOcc's polygon fill on random polygons (self-crossing, partly outside, degenerate) and 60 whole blobs."""
    from aflw_occ.builders.occluders import randocc

    for n in (3, 5, 40, 360):
        xy16 = RNG.integers(-200, 16 * 64 + 200, (n, 2))
        _same(randocc.fill_polygon, xy16, 64)
    _same(randocc.fill_polygon, np.array([[0, 16], [160, 16], [320, 16]]), 32)  # flat: nothing inside
    for seed in range(60):
        with kernels.use("numba"):
            fast = randocc.random_blob(np.random.default_rng(seed))
        with kernels.use("numpy"):
            ref = randocc.random_blob(np.random.default_rng(seed))
        np.testing.assert_array_equal(fast[0], ref[0])
        assert fast[1] == ref[1]


def test_moments_equal_reference() -> None:
    rgb = RNG.integers(0, 256, (30, 21, 3), np.uint8)
    mask = RNG.random((30, 21)) < 0.4
    _same(co.rgb_moments, rgb, mask)
    _same(co.rgb_moments, rgb[::2, ::3], mask[::2, ::3])
    _same(co.rgb_moments, rgb)


def _composite(image: np.ndarray, region: np.ndarray, occluder: Any, seed: int) -> Any:
    """One NSOD (``occluder`` a library cut-out) or RandOcc (``occluder`` None: a random blob) composite."""
    from aflw_occ.builders.compositing import composite
    from aflw_occ.builders.occluders.randocc import random_blob

    rng = np.random.default_rng(seed)
    rgba, points = (occluder.rgba(), occluder.points_at_face) if occluder is not None else (random_blob(rng)[0], False)
    return composite(image, region, rgba, rng, points_at_face=points)


def test_whole_composites_are_the_same_under_both_backends(real_dataset, shared: Path) -> None:  # noqa: ANN001
    """40 NSOD and 40 RandOcc composites of real images (every 50th, the landmark-hull region) and real stamps:
    image, mask and every recorded value equal under the numba and numpy backends."""
    from aflw_occ.builders.occluders.registry import load_library
    from aflw_occ.face_region import landmark_hull_region

    lib = load_library([f"tuxpaint:{shared / 'occluders' / 'tuxpaint-stamps-default'}"])
    checked = 0
    for i in range(0, 2000, 50):
        s = real_dataset[i]
        img = s.read_image()

        class _S:
            landmarks = s.pt3d_68.T - np.array([1.0, 1.0, 0.0])
            shape = img.shape[:2]

        region = landmark_hull_region(_S)  # type: ignore[arg-type]
        for occ in (lib.draw(np.random.default_rng(i)), None):
            with kernels.use("numba"):
                fast = _composite(img, region, occ, i)
            with kernels.use("numpy"):
                ref = _composite(img, region, occ, i)
            np.testing.assert_array_equal(fast.image, ref.image)
            np.testing.assert_array_equal(fast.mask, ref.mask)
            assert fast.params == ref.params
            checked += int(ref.mask.any())
    assert checked >= 70  # composites that changed pixels (a few fall outside the photo)


_OTHER_CPU = """
import sys, numba, pytest
name, features, test_file = sys.argv[1], sys.argv[2] or None, sys.argv[3]
assert (numba.config.CPU_NAME, numba.config.CPU_FEATURES or None) == (name, features), numba.config.CPU_FEATURES
args = ["-q", "-x", "-p", "no:randomly", "-p", "no:cacheprovider", test_file]
args += ["-k", "warp or colour_matrix_and_blend or separable"]
rc = pytest.main(args)
from aflw_occ.builders.kernels import jit as c
asm = "".join(a for f in (c.warp_bilinear, c.blend, c.separable_filter) for a in f.inspect_asm().values())
wide = sorted({r for r in ("ymm", "zmm") if r in asm})
assert not wide, f"kernels compiled for {name} use {wide} registers"
sys.exit(rc)
"""


@pytest.mark.parametrize(("cpu", "features"), [("nehalem", "+sse4.2,+popcnt")])
def test_kernels_compiled_for_another_cpu_give_the_same_bytes(cpu: str, features: str, tmp_path: Path) -> None:
    """The edge-case comparisons of the warp, colour matrix, blend and separable filter again in a fresh process whose
    kernels numba compiles (empty cache) for another CPU, ``nehalem`` (SSE4.2, no AVX; ``generic`` x86-64 passed too;
    every kernel, the JPEG step's included, is compiled for ``haswell`` and ``nehalem`` by the emulated AVX2 and
    SSE4.2 builds of ``test_reproducibility.py``, which verify against the manifest). The process asserts that numba
    took the setting and that the compiled kernels use no AVX register (ymm / zmm). ``NUMBA_CPU_NAME`` alone is not
    enough: numba then keeps this machine's features (AVX-512 here), so ``nehalem`` needs ``NUMBA_CPU_FEATURES``."""
    env = {**os.environ, "NUMBA_CPU_NAME": cpu, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), kernels.ENV: "numba"}
    env.pop("NUMBA_CPU_FEATURES", None)
    if features:
        env["NUMBA_CPU_FEATURES"] = features
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_CPU, cpu, features, __file__],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """``AFLW_OCC_KERNELS`` picks the backend; ``auto`` takes numba only inside the tested range; an unknown value, or
    ``numba`` where it cannot run, is one clear error."""
    with kernels.use("numpy"):
        assert kernels.backend() == "numpy" and kernels.describe() == {"backend": "numpy"}
    with kernels.use("numba"):
        d = kernels.describe()
        assert d["backend"] == "numba" and d["numba"] and d["numba_cpu_name"]
    with pytest.raises(kernels.KernelsError, match="one of auto, numba, numpy"), kernels.use("fast"):
        pass
    try:
        monkeypatch.setattr(kernels.metadata, "version", lambda _: "0.70.1")  # a numba nobody has tested
        kernels._numba_problem.cache_clear()  # read once per process: forget this machine's numba
        with kernels.use("auto"):
            assert kernels.backend() == "numpy"
        with kernels.use("numba"), pytest.raises(kernels.KernelsError, match=r"0\.70\.1 is outside the tested range"):
            kernels.backend()
        monkeypatch.setattr(kernels.importlib.util, "find_spec", lambda _: None)  # no numba at all
        kernels._numba_problem.cache_clear()
        with kernels.use("auto"):
            assert kernels.backend() == "numpy"
        with kernels.use("numba"), pytest.raises(kernels.KernelsError, match=r"not installed: pip install 'aflw-occ"):
            kernels.backend()
    finally:  # this machine's numba again for the next tests
        monkeypatch.undo()
        kernels._numba_problem.cache_clear()


def test_unknown_backend_is_one_error_line(real_source: Path, tmp_path: Path) -> None:
    """A build that composites with ``AFLW_OCC_KERNELS`` misspelt stops with one ``error:`` line naming the variable,
    exit code 2, and leaves no store."""
    env = {**os.environ, kernels.ENV: "fastest"}
    out = tmp_path / "out"
    cmd = [str(Path(sys.executable).parent / "aflw-occ"), "build", "--source", str(real_source), "--out", str(out)]
    done = subprocess.run(
        [*cmd, "--ids", "image00002", "--subset", "randocc", "--workers", "1", "--quiet"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and kernels.ENV in lines[0], done.stderr
    assert not list(out.glob("*.h5"))


def test_jpeg_kernel_quotient_without_division() -> None:
    """The JPEG kernel's ⌊m/q⌋ = ⌊m·M/2²⁴⌋ with M = ⌊2²⁴/q⌋ + 1, for every m < 2¹⁴ and every table entry q
    (1–255), and the DCT table's symmetry cos[u, 7 − j] = (−1)ᵘ·cos[u, j] its even/odd sums rely on."""
    m = np.arange(1 << 14, dtype=np.int64)
    for q in range(1, 256):
        assert np.array_equal((m * ((1 << 24) // q + 1)) >> 24, m // q), q
    u = np.arange(8)[:, None]
    np.testing.assert_array_equal(xj.COS[:, ::-1], xj.COS * (-1) ** u)


def test_warm_loads_every_kernel_in_a_fresh_process() -> None:
    """Importing ``kernels.warm`` (what a multi-worker build's forkserver does before forking) leaves every compiled
    kernel that Python calls (the JPEG step's included; the private steps are compiled inside their callers) with a
    compiled signature, so the workers it forks start with them loaded."""
    code = (
        "import numba\n"
        "import aflw_occ.builders.kernels.warm\n"
        "from aflw_occ.builders.kernels.jit import fill, jpeg, pixel\n"
        "every = [(m.__name__, n, d) for m in (fill, jpeg, pixel) for n, d in vars(m).items()\n"
        "         if isinstance(d, numba.core.dispatcher.Dispatcher) and not n.startswith('_')]\n"
        "assert len(every) >= 15, len(every)\n"
        "cold = [(m, n) for m, n, d in every if not d.signatures]\n"
        "assert not cold, cold\n"
    )
    env = {**os.environ, kernels.ENV: "numba"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]


def test_cache_folder_when_the_package_is_read_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A read-only install (site-packages owned by root) caches under ``$XDG_CACHE_HOME/aflw-occ/numba``, else the
    temporary folder; a folder the user chose is kept."""
    from aflw_occ.builders.kernels.jit import _numba

    package = Path(_numba.__file__).resolve().parent / "__pycache__"
    real = _numba._writable
    monkeypatch.setattr(_numba, "_writable", lambda folder: folder != package and real(folder))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _numba._choose_cache_dir()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "xdg" / "aflw-occ" / "numba")
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-folder")  # not writable: the temporary folder
    _numba._choose_cache_dir()
    assert os.environ["NUMBA_CACHE_DIR"].startswith(tempfile.gettempdir())
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    _numba._choose_cache_dir()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")
