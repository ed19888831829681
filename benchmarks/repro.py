"""The CPU / library emulation harness: build under other instruction sets and library releases, on one machine.

A *configuration* is an environment in which ``aflw-occ build`` runs:

* an ISA level, emulated by environment variables that hold numpy, OpenCV and OpenBLAS to that vector width
  (:data:`ISA_LEVELS`; the table of ``docs/reproducibility.md``), and
* a Python environment: this one (the highest supported releases, ``.ci/constraints-high.txt``) or a second venv
  with the lowest supported releases (``.venv-low/``, ``.ci/constraints-low.txt``, see :func:`ensure_low_venv`).

Every build runs through ``benchmarks/cpu_probe.py``, which records in the build process itself which SIMD targets
numpy and OpenCV dispatch to and which kernel set OpenBLAS uses; :func:`emulation_problems` compares that record with
the level and names every way the emulation did not take effect. A wrong feature name is silently ignored by numpy
and only warned about by OpenCV, so without this check an emulated build may test nothing.

Used by ``tests/test_reproducibility.py`` (100 ids, every subset, in CI) and ``benchmarks/repro_full.py`` (all 2000
ids, run by hand); both verify each build with ``aflw-occ verify --partial`` against the committed manifest of the
current data version.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "cpu_probe.py"
IDS_FILE = ROOT / "tests" / "data" / "repro_ids.txt"
CONSTRAINTS_LOW = ROOT / ".ci" / "constraints-low.txt"
CONSTRAINTS_HIGH = ROOT / ".ci" / "constraints-high.txt"
LOW_VENV = ROOT / ".venv-low"

# Every variable that changes what numpy / OpenCV / OpenBLAS dispatch to: removed from a build's environment before the
# level's own values are set, so that nothing inherited from the caller leaks into a configuration.
EMULATION_VARS = (
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "OPENCV_CPU_DISABLE",
    "OPENBLAS_CORETYPE",
    "NUMBA_CPU_NAME",
    "NUMBA_CPU_FEATURES",
    "AFLW_OCC_KERNELS",
)

# numpy: the dispatch targets above each level. numpy 2.4 dispatches on the levels X86_V3 / X86_V4 (+ AVX512_ICL,
# AVX512_SPR); numpy 2.0-2.3 on single features (AVX2, AVX512F, AVX512_SKX, ...). An unknown name is silently
# ignored, so the list names both generations and the probe checks what was actually left enabled.
_NPY_AVX512 = "X86_V4 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"
_NPY_AVX2 = "X86_V3 AVX F16C FMA3 AVX2"
# OpenCV: disabling AVX512F alone leaves the AVX512-SKX group (id 256) on, and OpenCV's AVX-512 kernels dispatch on
# that group: every AVX-512 feature and group is named (OpenCV's spelling, "AVX512-SKX", not "AVX512_SKX").
_CV_AVX512 = (
    "AVX512F,AVX512BW,AVX512CD,AVX512DQ,AVX512VL,AVX512IFMA,AVX512VBMI,AVX512VBMI2,AVX512VNNI,AVX512BITALG,"
    "AVX512VPOPCNTDQ,AVX512-SKX,AVX512-COMMON,AVX512-CLX,AVX512-CNL,AVX512-ICL"
)
_CV_AVX2 = "FP16,AVX,AVX2,FMA3"
# numba (the compiled pixel kernels): the CPU LLVM compiles for, with its features named explicitly (NUMBA_CPU_NAME
# alone keeps this machine's features, AVX-512 included); the probe compiles a loop and reads its registers
_NUMBA_AVX2 = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "+avx2,+fma,+bmi2,+popcnt"}
_NUMBA_SSE42 = {"NUMBA_CPU_NAME": "nehalem", "NUMBA_CPU_FEATURES": "+sse4.2,+popcnt"}

# numpy dispatch targets allowed at a level (every other one must be off); the baseline is always on
_NPY_SSE42_OK = frozenset({"SSSE3", "SSE41", "POPCNT", "SSE42", "X86_V2"})
_NPY_AVX2_OK = _NPY_SSE42_OK | {"AVX", "F16C", "FMA3", "AVX2", "X86_V3"}
# OpenCV feature ids allowed at a level: 1-8 MMX … POPCNT, 9 FP16, 10 AVX, 11 AVX2, 12 FMA3 (core/cvdef.h)
_CV_SSE42_OK = frozenset(range(1, 9))
_CV_AVX2_OK = _CV_SSE42_OK | {9, 10, 11, 12}
CV_AVX2, CV_AVX512F, CV_AVX512_SKX = 11, 13, 256


@dataclass(frozen=True)
class IsaLevel:
    """One instruction-set level: the environment that emulates it and what the probe must then report."""

    name: str
    env: dict[str, str]
    numpy_allowed: frozenset[str] | None  # None: not emulated (the machine's own)
    opencv_allowed: frozenset[int] | None
    openblas: str | None  # OpenBLAS kernel set (OPENBLAS_CORETYPE), as threadpoolctl reports it
    numba_widest: str | None = None  # the widest vector register numba's compiled loop may use (None: not emulated)
    needs_avx512: bool = False  # not emulated, and the machine must have AVX-512 (else the level cannot run here)


ISA_LEVELS: dict[str, IsaLevel] = {
    "native": IsaLevel("native", {}, None, None, None),
    "avx512": IsaLevel("avx512", {}, None, None, None, needs_avx512=True),
    "avx2": IsaLevel(
        "avx2",
        {
            "NPY_DISABLE_CPU_FEATURES": _NPY_AVX512,
            "OPENCV_CPU_DISABLE": _CV_AVX512,
            "OPENBLAS_CORETYPE": "Haswell",
            **_NUMBA_AVX2,
        },
        _NPY_AVX2_OK,
        frozenset(_CV_AVX2_OK),
        "Haswell",
        numba_widest="ymm",
    ),
    "sse42": IsaLevel(
        "sse42",
        {
            "NPY_DISABLE_CPU_FEATURES": f"{_NPY_AVX2} {_NPY_AVX512}",
            "OPENCV_CPU_DISABLE": f"{_CV_AVX2},{_CV_AVX512}",
            "OPENBLAS_CORETYPE": "Nehalem",
            **_NUMBA_SSE42,
        },
        _NPY_SSE42_OK,
        _CV_SSE42_OK,
        "Nehalem",
        numba_widest="xmm",
    ),
}


@dataclass(frozen=True)
class Config:
    """Where a build runs: an ISA level in this Python environment ("high") or in the lowest-releases venv ("low")."""

    name: str
    level: str
    venv: str = "high"


CONFIGS: dict[str, Config] = {
    "avx512": Config("avx512", "avx512"),
    "avx2": Config("avx2", "avx2"),
    "sse42": Config("sse42", "sse42"),
    "low": Config("low", "native", venv="low"),
}

# Subsets that a build is known NOT to reproduce against the committed manifest of a data version, with the reason:
# {data version: {configuration or "*": {subset: reason}}}. The tests mark these expected failures (and still run
# them); a data version built by the exact pixel path has no entry, so every subset of it must verify.
KNOWN_INEXACT: dict[str, dict[str, dict[str, str]]] = {
    "1.0.0": {
        "*": {
            "nsod": "issue 12: NSOD's float32 statistics and OpenCV 5.1 pixels differ from the manifest's machine",
            "randocc": "issue 12: RandOcc's pixels differ with OpenCV 5.1 / another vector width",
        },
        "low": {
            "nod": "issue 12: NOD's float visible rate / covered fraction differ in the last bits with OpenCV 4.10 "
            "(numpy 2.0.0 with OpenCV 5.1 verifies; the exact NOD path lands with data version 2.0.0)",
        },
    },
}


def known_inexact(version: str, config: str, subset: str) -> str | None:
    """The reason a subset is known not to reproduce ``version`` in ``config``, or None when it must verify."""
    table = KNOWN_INEXACT.get(version, {})
    return table.get(config, {}).get(subset) or table.get("*", {}).get(subset)


# --------------------------------------------------------------------------------------------------------------------
# subsets and ids


def current_version() -> str:
    from aflw_occ.store.versions import CURRENT_VERSION

    return CURRENT_VERSION


def subsets_of(version: str) -> tuple[str, ...]:
    """Every subset of a data version, read from the code: the base split and each builder the version pins."""
    from aflw_occ.store.versions import get_version

    return ("base", *get_version(version).builders)


def splits_of(subset: str) -> list[str]:
    """The public split names a subset writes ("base" is the clean split)."""
    if subset == "base":
        return ["clean"]
    from aflw_occ.builders import get_builder

    cls = get_builder(subset)
    return [cls.split_name(c) for c in cls.CONFIGS]


def manifest_dir(version: str) -> Path:
    return ROOT / "manifests" / version


def select_repro_ids(source: Path, n: int = 100) -> list[str]:
    """``n`` ids spread evenly over the three yaw bins of the benchmark (by raw |yaw|), deterministic.

    Bin b gets ``n // 3`` ids (bin 0 also the remainder), evenly spaced in id order over the bin's ids, so every bin
    (frontal, half profile, profile) and the whole id range are covered.
    """
    import numpy as np

    from aflw_occ.metrics import yaw_bins
    from aflw_occ.source import AFLW2000_3D

    ds = AFLW2000_3D(source)
    ids = np.array(ds.ids)
    bins = yaw_bins(ds.angles_deg()[:, 1])
    chosen: list[str] = []
    for b in range(3):
        members = ids[bins == b]
        k = n // 3 + (n % 3 if b == 0 else 0)
        if len(members) < k:
            raise ValueError(f"yaw bin {b} has {len(members)} ids, fewer than the {k} wanted")
        chosen += [str(members[i]) for i in np.linspace(0, len(members) - 1, k).round().astype(int)]
    return sorted(chosen)


def read_ids(path: Path = IDS_FILE) -> list[str]:
    return [t for t in path.read_text().split() if t]


# --------------------------------------------------------------------------------------------------------------------
# environments


def level_env(level: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a build at ``level``: ``base`` (default: this process's) without any inherited emulation
    variable, plus the level's own."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in EMULATION_VARS}
    env.update(ISA_LEVELS[level].env)
    env.pop("PYTHONPATH", None)  # the venv under test imports its own install, nothing else
    return env


def config_env(config: Config) -> dict[str, str]:
    """The environment of a build or verify in ``config``: :func:`level_env`, and for the low venv its own numba cache
    folder (a numba cache index holds one numba release's entries: sharing the source tree's ``__pycache__``, the
    low venv's numba and this one's would each discard the other's compiled kernels and compile them again)."""
    env = level_env(config.level)
    if config.venv == "low":
        env["NUMBA_CACHE_DIR"] = str(LOW_VENV / "numba-cache")
    return env


def emulation_problems(level: str, probe: dict[str, Any], stderr: str = "") -> list[str]:
    """Every way the probe of a build at ``level`` shows that the emulation did not take effect (empty: it did)."""
    spec = ISA_LEVELS[level]
    problems: list[str] = []
    npy, cv, blas = probe["numpy"], probe["opencv"], probe["openblas"]
    if "unknown CPU feature" in stderr:
        problems.append("OpenCV ignored an unknown feature name in OPENCV_CPU_DISABLE: " + stderr.strip()[:300])
    problems += numba_problems(spec, probe.get("numba"))
    if spec.numpy_allowed is None:  # not emulated; "avx512" must really run AVX-512
        if not spec.needs_avx512:
            return problems
        if not any(d.startswith(("AVX512", "X86_V4")) for d in npy["found"]):
            problems.append(f"numpy {npy['version']} finds no AVX-512 target at run time (found {npy['found']})")
        if CV_AVX512F not in cv["supported"] or CV_AVX512_SKX not in cv["supported"]:
            problems.append(f"OpenCV {cv['version']} has no AVX-512 at run time: {cv['features_line']}")
        return problems
    extra = [d for d in npy["found"] if d not in spec.numpy_allowed]
    if extra:
        problems.append(f"numpy {npy['version']} still dispatches to {extra} at level {level}")
    cv_extra = [i for i in cv["supported"] if i not in (spec.opencv_allowed or ())]
    if cv_extra:
        problems.append(
            f"OpenCV {cv['version']} still reports CPU feature ids {cv_extra} at level {level}: {cv['features_line']}"
        )
    if blas is None:
        problems.append("threadpoolctl is not installed in the build's environment: OpenBLAS cannot be checked")
    elif not blas:
        problems.append("no OpenBLAS found by threadpoolctl in the build's process")
    else:
        wrong = [row for row in blas if str(row.get("architecture", "")).lower() != str(spec.openblas).lower()]
        if wrong:
            problems.append(f"OpenBLAS runs {[r.get('architecture') for r in wrong]}, not {spec.openblas}")
    return problems


_WIDER = {"xmm": ("ymm", "zmm"), "ymm": ("zmm",)}


def numba_problems(spec: IsaLevel, nb: dict[str, Any] | None) -> list[str]:
    """Where the build's compiled kernels would not run, or not for ``spec``'s CPU: numba missing, another backend
    chosen, or the probe's compiled loop using vector registers wider than the level has (on the ``avx512`` level:
    none of AVX-512's)."""
    if nb is None:
        return ["numba cannot be imported in the build's environment: the compiled kernels would not run"]
    problems = [] if nb["backend"] == "numba" else [f"the build would run the {nb['backend']} kernels, not numba's"]
    regs = nb["registers"]
    if spec.numba_widest is not None:
        want = spec.env["NUMBA_CPU_NAME"]  # the CPU the level's environment makes numba compile for
        if nb["cpu_name"] != want:
            problems.append(f"numba compiles for {nb['cpu_name']}, not {want}")
        wide = [r for r in _WIDER[spec.numba_widest] if regs.get(r)]
        if wide:
            problems.append(f"numba's compiled loop uses {wide} registers at level {spec.name} ({nb['cpu_features']})")
    elif spec.needs_avx512 and not regs.get("zmm"):
        problems.append(f"numba's compiled loop uses no AVX-512 register on the avx512 level ({regs})")
    return problems


def native_has_avx512(python: str | Path = sys.executable) -> bool:
    """Whether this machine can run the AVX-512 level (numpy and OpenCV both find it, probed in a clean environment)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "probe.json"
        subprocess.run([str(python), str(PROBE), str(out)], env=level_env("native"), check=True)
        return not emulation_problems("avx512", json.loads(out.read_text()))


def pinned_versions(constraints: Path) -> dict[str, str]:
    """``name == version`` lines of a constraints file, names lower-cased."""
    pins = {}
    for line in constraints.read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[name.strip().lower()] = version.strip()
    return pins


def version_problems(config: Config, probe: dict[str, Any]) -> list[str]:
    """Where numpy / OpenCV in the build's process are not the releases the configuration's constraints file pins
    (the low venv must really run the lowest supported releases, this one the highest)."""
    pins = pinned_versions(CONSTRAINTS_LOW if config.venv == "low" else CONSTRAINTS_HIGH)
    problems = []
    for lib, pkg in (("numpy", "numpy"), ("opencv", "opencv-python-headless"), ("numba", "numba")):
        if probe.get(lib) is None:
            problems.append(f"{lib} cannot be imported in the {config.venv} environment")
            continue
        want, got = pins.get(pkg, "?"), probe[lib]["version"]
        if not (want == got or want.startswith(got + ".")):  # OpenCV reports 4.10.0 for the wheel 4.10.0.84
            problems.append(f"{lib} {got} in the {config.venv} environment, not the pinned {want}")
    return problems


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pip(python: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed in {python}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def cached_venv(path: Path, key_files: Sequence[Path], install: Sequence[Sequence[str]]) -> tuple[Path, bool]:
    """A venv at ``path``, (re)created with the pip commands ``install`` unless one made from the same ``key_files``
    is already there. Returns (its python, whether it was created now). Safe against concurrent callers."""
    h = hashlib.sha256(sys.version.encode())
    for f in key_files:
        h.update(f.read_bytes())
    for args in install:
        h.update("\0".join(args).encode())
    key = h.hexdigest()
    python = path / "bin" / "python"
    stamp = path / ".aflw-occ-venv-key"
    with _locked(path.with_name(path.name + ".lock")):
        if python.exists() and stamp.exists() and stamp.read_text() == key:
            return python, False
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        for args in install:
            _pip(python, *args)
        stamp.write_text(key)
        return python, True


# what a build and a verify import (with their dependencies), installed in the low venv at the pinned floors
LOW_BUILD_PACKAGES = ("numpy", "opencv-python-headless", "h5py", "scipy", "scikit-image", "click", "tqdm", "numba")


def ensure_low_venv(path: Path = LOW_VENV) -> tuple[Path, bool]:
    """The second venv with the lowest supported releases and this source tree installed (editable).

    Holds what the build and verify import, at the pins of ``.ci/constraints-low.txt``, plus threadpoolctl for the
    probe; then ``pip install --dry-run -c .ci/constraints-low.txt -e .`` resolves the project's full dependency list
    against the low pins, so a floor in pyproject.toml that the low environment does not satisfy fails here, loudly
    (without installing pandas, onnxruntime and matplotlib, which the build does not use: half the creation time).
    """
    low = str(CONSTRAINTS_LOW)
    return cached_venv(
        path,
        [CONSTRAINTS_LOW, ROOT / "pyproject.toml"],
        [
            ["install", "-q", "-c", low, *LOW_BUILD_PACKAGES, "threadpoolctl"],
            ["install", "-q", "--no-deps", "-e", str(ROOT)],
            ["install", "-q", "--dry-run", "-c", low, "-e", str(ROOT)],
        ],
    )


def python_of(config: Config) -> Path:
    if config.venv == "low":
        return ensure_low_venv()[0]
    return Path(sys.executable)


# --------------------------------------------------------------------------------------------------------------------
# build and verify


@dataclass
class Build:
    """One build in one configuration: where it is, what the probe saw, how long it took."""

    config: Config
    out: Path
    probe: dict[str, Any]
    stderr: str
    seconds: float
    problems: list[str] = field(default_factory=list)


def build(
    config: Config,
    source: Path,
    out: Path,
    *,
    subsets: Sequence[str],
    ids_file: Path | None = None,
    workers: int = 2,
    version: str | None = None,
    python: Path | None = None,
    timeout: float | None = None,
) -> Build:
    """``aflw-occ build`` in ``config`` (through the probe); raises with its output when the build fails."""
    py = python or python_of(config)
    version = version or current_version()
    out.mkdir(parents=True, exist_ok=True)
    probe_file = out.parent / f"{out.name}.probe.json"
    cmd = [str(py), str(PROBE), str(probe_file), "build", "--source", str(source), "--out", str(out)]
    cmd += ["--subset", ",".join(s for s in subsets if s != "base") or "base", "--version", version]
    cmd += ["--workers", str(workers), "--quiet"]
    if ids_file is not None:
        cmd += ["--ids", f"@{ids_file}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=config_env(config), capture_output=True, text=True, cwd=out.parent, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"build in {config.name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    probe = json.loads(probe_file.read_text())
    problems = emulation_problems(config.level, probe, proc.stderr) + version_problems(config, probe)
    return Build(config, out, probe, proc.stderr, seconds, problems)


def verify(
    b: Build, *, splits: Sequence[str] | None = None, version: str | None = None, workers: int = 2
) -> subprocess.CompletedProcess[str]:
    """``aflw-occ verify OUT --manifest manifests/<version> --partial [--split …]`` in the build's own configuration."""
    version = version or current_version()
    py = python_of(b.config)
    cmd = [str(py), str(PROBE), str(b.out.parent / f"{b.out.name}.verify-probe.json"), "verify", str(b.out)]
    cmd += ["--manifest", str(manifest_dir(version)), "--partial", "--workers", str(workers)]
    for s in splits or ():
        cmd += ["--split", s]
    return subprocess.run(cmd, env=config_env(b.config), capture_output=True, text=True, cwd=b.out.parent)
