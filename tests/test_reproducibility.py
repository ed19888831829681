"""The build is the same on every supported machine: every subset of the current data version, built from a fixed
100-id subset of the real AFLW2000-3D under three emulated instruction-set levels (AVX-512, AVX2, SSE4.2) and with
the lowest supported numpy / OpenCV (a second cached venv, ``.venv-low/``), verifies against the committed manifest.

Every build runs through ``benchmarks/cpu_probe.py`` and fails when its emulation did not take effect in the build's
own process (numpy's dispatch targets, OpenCV's CPU features, OpenBLAS's kernel set, the library releases). The
harness is ``benchmarks/repro.py``; ``docs/reproducibility.md`` says how to run it by hand and at full size.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import repro

VERSION = repro.current_version()
SUBSETS = repro.subsets_of(VERSION)  # every subset of the data version, from the code
CONFIGS = tuple(repro.CONFIGS)  # avx512, avx2, sse42, low

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def builds() -> dict[str, repro.Build]:
    """Builds made so far in this module, by configuration (each made once, on first use)."""
    return {}


def _build(config: str, builds: dict[str, repro.Build], real_source: Path, tmp: Path) -> repro.Build:
    if config not in builds:
        cfg = repro.CONFIGS[config]
        if repro.ISA_LEVELS[cfg.level].needs_avx512 and not repro.native_has_avx512():
            pytest.skip(f"this CPU has no AVX-512: level {cfg.level} cannot run here (the emulated levels still do)")
        out = tmp / config
        builds[config] = repro.build(cfg, real_source, out, subsets=SUBSETS, ids_file=repro.IDS_FILE, timeout=240)
    b = builds[config]
    assert not b.problems, f"{config}: the emulation did not take effect:\n" + "\n".join(b.problems)
    return b


def test_repro_ids_are_the_committed_list(real_source: Path) -> None:
    """The 100 ids are recomputed from the data (even spread over the three yaw bins) and equal the committed list."""
    import numpy as np

    from aflw_occ.metrics import yaw_bins
    from aflw_occ.source import AFLW2000_3D

    ids = repro.read_ids()
    assert ids == repro.select_repro_ids(real_source)
    ds = AFLW2000_3D(real_source, ids=ids)
    assert np.bincount(yaw_bins(ds.angles_deg()[:, 1]), minlength=3).tolist() == [34, 33, 33]


@pytest.mark.parametrize("config", CONFIGS)
def test_emulation_took_effect(
    config: str, builds: dict[str, repro.Build], real_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The build's own process ran at the configuration's level and library releases (asserted in ``_build``)."""
    b = _build(config, builds, real_source, tmp_path_factory.getbasetemp() / "repro")
    level = repro.ISA_LEVELS[b.config.level]
    found = b.probe["numpy"]["found"]
    numba_regs = b.probe["numba"]["registers"]  # of an integer loop numba compiled in the build's process
    assert b.probe["numba"]["backend"] == "numba"  # the compiled kernels run the pixel path
    if level.numpy_allowed is not None:  # spelled out here too, so the test reads as what it proves
        assert set(found) <= level.numpy_allowed
        assert repro.CV_AVX512F not in b.probe["opencv"]["supported"]
        assert {r["architecture"] for r in b.probe["openblas"]} == {level.openblas}
        assert numba_regs["zmm"] == 0
    if config == "sse42":
        assert repro.CV_AVX2 not in b.probe["opencv"]["supported"]
        assert numba_regs["ymm"] == 0
    if config == "avx512":
        assert numba_regs["zmm"] > 0
    if config == "low":
        pins = repro.pinned_versions(repro.CONSTRAINTS_LOW)
        assert b.probe["numpy"]["version"] == pins["numpy"]
        assert pins["opencv-python-headless"].startswith(b.probe["opencv"]["version"] + ".")
        assert b.probe["numba"]["version"] == pins["numba"]


@pytest.mark.parametrize("subset", SUBSETS)
@pytest.mark.parametrize("config", CONFIGS)
def test_subset_verifies_against_the_committed_manifest(
    config: str,
    subset: str,
    builds: dict[str, repro.Build],
    real_source: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``aflw-occ verify OUT --manifest manifests/<version> --partial --split …``: 0 mismatches, in the build's own
    configuration. Subsets listed in ``repro.KNOWN_INEXACT`` for this data version are expected failures."""
    b = _build(config, builds, real_source, tmp_path_factory.getbasetemp() / "repro")
    splits = repro.splits_of(subset)
    proc = repro.verify(b, splits=splits, version=VERSION)
    known = repro.known_inexact(VERSION, config, subset)
    if known and proc.returncode != 0:
        pytest.xfail(f"{known}; {proc.stdout.splitlines()[0] if proc.stdout else proc.stderr[-200:]}")
    assert proc.returncode == 0, f"{config} {subset}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"


def test_a_partial_emulation_is_caught(tmp_path: Path) -> None:
    """The check is not a formality: the first-guess environment (numpy's pre-2.4 feature name, OpenCV's AVX512F
    alone, which leaves the AVX512-SKX group its kernels dispatch on) is reported as not in effect."""
    import json
    import subprocess
    import sys

    if not repro.native_has_avx512():
        pytest.skip("this CPU has no AVX-512: nothing to disable")
    env = repro.level_env("native")
    env.update({"NPY_DISABLE_CPU_FEATURES": "AVX512F", "OPENCV_CPU_DISABLE": "AVX512F", "OPENBLAS_CORETYPE": "Haswell"})
    out = tmp_path / "probe.json"
    subprocess.run([sys.executable, str(repro.PROBE), str(out)], env=env, check=True)
    problems = repro.emulation_problems("avx2", json.loads(out.read_text()))
    assert any(p.startswith("OpenCV") and str(repro.CV_AVX512_SKX) in p for p in problems), problems
    import numpy as np

    if np.lib.NumpyVersion(np.__version__) >= "2.4.0":  # X86_V4 is the name; AVX512F is silently ignored
        assert any(p.startswith("numpy") and "X86_V4" in p for p in problems), problems


PIXEL_PATH = ("numpy", "opencv-python-headless", "h5py", "scipy", "scikit-image", "numba")


def test_constraints_files_are_the_ends_of_the_declared_ranges() -> None:
    """The low constraints pin exactly the floor of every pixel-path range in pyproject.toml and every other runtime
    dependency at its floor; the high constraints lie inside every range. Widening a range without moving the tested
    end fails here."""
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement
    from packaging.version import Version

    project = tomllib.loads((repro.ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["fast"]  # the compiled pixel kernels' numba
    reqs = {Requirement(d).name.lower(): Requirement(d).specifier for d in deps}
    low, high = repro.pinned_versions(repro.CONSTRAINTS_LOW), repro.pinned_versions(repro.CONSTRAINTS_HIGH)
    for name in PIXEL_PATH:
        assert any(s.operator == "<" for s in reqs[name]), f"{name}: no upper bound in pyproject.toml"
    for name, spec in reqs.items():
        floors = [s.version for s in spec if s.operator == ">="]
        assert floors, f"{name}: no floor in pyproject.toml"
        assert Version(low[name]) == Version(floors[0]), f"{name}: constraints-low pins {low[name]}, floor {floors[0]}"
        assert high[name] in spec, f"{name}: constraints-high pins {high[name]}, outside {spec}"
