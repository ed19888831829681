"""The wheel works: ``pip wheel .`` builds without a setuptools warning, installs into a fresh venv (cached in
``.venv-wheel/`` with the dependencies of ``.ci/constraints-high.txt``; the wheel itself is rebuilt and reinstalled on
every run), and from a temporary working directory — where the source tree cannot be imported — ``aflw-occ demo``
runs and a real 40-id build of every subset verifies against the committed manifest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks import repro

ROOT = repro.ROOT
VENV = ROOT / ".venv-wheel"
# what the wheel is built from (pyproject.toml's packages and readme)
PACKAGE_FILES = ("pyproject.toml", "README.md", "aflw_occ", "builders", "metrics", "dsfnet_model")
# a Python warning category (SetuptoolsDeprecationWarning, BuildBackendWarning, …), setuptools' "!!" banner, or a
# distutils "warning:" line; pip's own "WARNING: Location … is ignored" lines about this machine's index are not
# setuptools'
SETUPTOOLS_WARNING = re.compile(r"[A-Z]\w*Warning\b|^\s*!!\s*$|^\s*warning:", re.MULTILINE)


@dataclass(frozen=True)
class Installed:
    python: Path
    bin: Path
    wheel: Path
    build_log: str
    install_log: str
    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "aflw-occ"), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _requirements(wheel: Path) -> list[str]:
    """The wheel's unconditional ``Requires-Dist`` (no extras): what the cached venv must hold besides the wheel."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    return sorted(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Requires-Dist:") and ";" not in ln)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    # built from a copy of what the package is made of: setuptools writes build/ and *.egg-info next to pyproject.toml,
    # and the low venv's editable install (another xdist worker) may be doing so in the source tree at the same time
    src = tmp / "src"
    src.mkdir()
    for name in PACKAGE_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV")}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(tmp / "dist"), "-v"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("aflw_occ-*.whl")
    deps = ["install", "-q", "-c", str(repro.CONSTRAINTS_HIGH), *_requirements(wheel)]
    python, _ = repro.cached_venv(VENV, [repro.CONSTRAINTS_HIGH], [deps])
    log = repro._pip(python, "install", "--no-deps", "--force-reinstall", "-v", str(wheel))
    cwd = tmp / "cwd"
    cwd.mkdir()
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return Installed(python, python.parent, wheel, build.stdout + build.stderr, log, cwd, env)


def test_wheel_builds_and_installs_without_setuptools_warnings(installed: Installed) -> None:
    for what, log in (("pip wheel", installed.build_log), ("pip install", installed.install_log)):
        hits = [m.group(0) for m in SETUPTOOLS_WARNING.finditer(log)]
        assert not hits, f"{what} printed setuptools warnings: {hits[:5]}"
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    # every file git tracks under aflw_occ/assets is shipped (a new asset folder must be declared in pyproject.toml)
    tracked = subprocess.run(
        ["git", "ls-files", "aflw_occ/assets"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked and "aflw_occ/assets/checksums/aflw2000-3d.tsv" in tracked
    missing = sorted(set(tracked) - names)
    assert not missing, f"assets missing from the wheel: {missing}"


def test_installed_package_is_the_wheel_not_the_source_tree(installed: Installed) -> None:
    code = (
        "import aflw_occ, aflw_occ.builders.occluders.cc0_pack as c, aflw_occ.builders.occluders.tuxpaint as t;"
        "print(aflw_occ.__file__); print(c.CC0_DIR); print(t.SELECTION_FILE); print(len(c.read_cc0()))"
    )
    proc = subprocess.run(
        [str(installed.python), "-c", code],
        cwd=installed.cwd,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    init, cc0, selection, n = proc.stdout.split()
    site = installed.python.parents[1] / "lib"
    for p in (init, cc0, selection):
        assert Path(p).is_relative_to(site) and not Path(p).is_relative_to(ROOT / "aflw_occ"), p
    assert Path(cc0).is_dir() and Path(selection).is_file() and int(n) >= 1


def test_demo_runs_from_the_wheel(installed: Installed) -> None:
    proc = installed.run("demo", "--out", str(installed.cwd / "demo-out"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (installed.cwd / "demo-out" / "sheet.png").is_file()


@pytest.mark.real
def test_real_build_from_the_wheel_verifies(installed: Installed, real_source: Path) -> None:
    """40 of the reproducibility ids (every yaw bin), every subset with the default occluders, then verify --partial
    against the committed manifest from the installed package (known-inexact subsets of the version left out). The
    wheel is installed without the ``fast`` extra: the build runs the numpy definitions of the pixel kernels (checked
    in the manifest's environment), the other CI builds numba's."""
    ids = [x for i, x in enumerate(repro.read_ids()) if i % 5 in (0, 2)]
    assert len(ids) == 40
    ids_file = installed.cwd / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    version = repro.current_version()
    subsets = repro.subsets_of(version)
    out = installed.cwd / "out"
    args = ["build", "--source", str(real_source), "--out", str(out), "--ids", f"@{ids_file}", "--quiet"]
    proc = installed.run(*args, "--subset", ",".join(s for s in subsets if s != "base"), "--workers", "2")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    env = json.loads((out / f"manifest-{version}" / "environment.json").read_text())
    assert env["pixel_kernels"] == {"backend": "numpy"}
    splits = [sp for s in subsets if not repro.known_inexact(version, "wheel", s) for sp in repro.splits_of(s)]
    cmd = ["verify", str(out), "--manifest", str(repro.manifest_dir(version)), "--partial", "--workers", "2"]
    proc = installed.run(*cmd, *(a for sp in splits for a in ("--split", sp)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
