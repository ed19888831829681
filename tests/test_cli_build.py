"""The build / verify / show / demo commands, end to end in subprocesses (as a user runs them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aflw_occ.demo import make_source

EXE = str(Path(sys.executable).parent / "aflw-occ")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("src"), n=5)


def test_build_verify_show(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run("build", "--source", str(src), "--out", str(out), "--workers", "2", "--quiet", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "data version 2.0.0, seed 3" in r.stdout and "csod-column 5" in r.stdout
    r = run("verify", str(out))
    assert r.returncode == 0 and "20 samples checked, 0 mismatch(es)" in r.stdout
    sheet = tmp_path / "sheet.png"
    r = run("show", str(out), "--split", "csod-column", "--n", "4", "--out", str(sheet))
    assert r.returncode == 0 and sheet.stat().st_size > 10_000
    r = run("show", str(out), "--split", "nope", "--out", str(sheet))
    assert r.returncode == 2 and "no split 'nope'" in r.stderr


def test_build_errors_are_one_line(src: Path, tmp_path: Path) -> None:
    r = run("build", "--source", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "source folder does not exist" in r.stderr
    r = run("build", "--source", str(src), "--out", str(tmp_path / "o"), "--subset", "csod,bogus")
    assert r.returncode == 2 and "unknown subset(s) bogus" in r.stderr
    r = run("build", "--source", str(src), "--out", str(tmp_path / "o"), "--shard", "3/2")
    assert r.returncode == 2 and "1 ≤ k ≤ n" in r.stderr
    r = run("verify", str(tmp_path))
    assert r.returncode == 2 and "no aflw-occ-*.h5" in r.stderr


def test_demo_runs_everything(tmp_path: Path) -> None:
    r = run("demo", "--out", str(tmp_path / "demo"), "--n", "8")
    assert r.returncode == 0, r.stderr
    assert "protocol=sparse-2d" in r.stdout and "data=2.0.0" in r.stdout and "manifest_sha256=" in r.stdout
    assert len(r.stdout.splitlines()) <= 15  # one screen: the build line, one summary table, the sheet
    assert any(line.startswith("csod-double ") for line in r.stdout.splitlines())
    assert (tmp_path / "demo" / "sheet.png").is_file()
    assert run("demo", "--out", str(tmp_path / "demo"), "--n", "8").returncode == 0  # replaces its own folder
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    r = run("demo", "--out", str(mine), "--n", "8")
    assert r.returncode == 2 and "is not an earlier demo folder" in r.stderr and (mine / "keep.txt").is_file()
