"""Fault injection on `aflw-occ build` (issue 13): killed drivers and workers, Ctrl-C, SIGTERM, concurrent builds,
read-only and full disks, overwrite refusal, `--subset all`, resume identity, data discovery.

Every build runs as a user runs it (the console script, in its own session so that the test can find and kill every
process it started). Each case asserts, where it applies: no process of the build is left, no temporary file is left,
and a resumed build gives a manifest folder identical, byte for byte, to an uninterrupted build.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from aflw_occ.demo import make_source

#: the command under test (AFLW_OCC_TEST_EXE: another build of it, e.g. to show these cases fail on an older one)
EXE = os.environ.get("AFLW_OCC_TEST_EXE") or str(Path(sys.executable).parent / "aflw-occ")
N_IMAGES = 200  # 5 journal blocks of 40: a build stopped after its first block has blocks left to do
SUBSETS = "nsod"  # a block takes ≈0.3 s: the build is stopped (SIGSTOP) to be caught in the middle
STORE = "aflw-occ-2.0.0.h5"
MANIFEST = "manifest-2.0.0"


# --------------------------------------------------------------------------------------------------------------
# helpers
def build_cmd(src: Path, out: Path, *extra: str) -> list[str]:
    return [EXE, "build", "--source", str(src), "--out", str(out), "--subset", SUBSETS, "--workers", "2", "--quiet",
            *extra]  # fmt: skip


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout)


def session_members(sid: int) -> list[tuple[int, int, str]]:
    """(pid, ppid, cmdline) of the live (not zombie) processes of session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid, session = stat[0], int(stat[1]), int(stat[3])
        if session == sid and state not in ("Z", "X"):
            found.append((int(entry.name), ppid, cmd))
    return found


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def assert_no_orphans(sid: int, timeout: float = 10) -> None:
    """Every process of the build's session ends (workers, forkserver, resource tracker)."""
    end = time.monotonic() + timeout
    while (left := session_members(sid)) and time.monotonic() < end:
        time.sleep(0.1)
    assert not left, f"processes of the build still running: {left}"


#: how a terminal starts a command: SIGINT handled by default and not blocked, whatever this test process inherited
#: (a job a non-interactive shell starts in the background ignores SIGINT, and so would every build it starts)
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); os.execv(sys.argv[1], sys.argv[1:])"
)


@contextlib.contextmanager
def started(cmd: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A build in its own session, started as from a terminal (:data:`AS_FROM_A_TERMINAL`: the same pid); every
    process of that session is killed when the test leaves."""
    env = {**os.environ, **(env or {})}
    cmd = [sys.executable, "-c", AS_FROM_A_TERMINAL, *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        yield proc
    finally:
        for pid, _, _ in session_members(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=10)


def blocks_done(out: Path) -> int:
    return len(list((out / ".journal-2.0.0").glob("block-*.pkl")))


def first_block_then(proc: subprocess.Popen[bytes], out: Path) -> None:
    """Wait until the build has finished its first journal block (and not yet written its store: the journal's
    blocks are removed one by one after the commit), then stop the whole build (SIGSTOP to its process group), so that
    the fault a test makes next lands while blocks remain, however fast they run (an NSOD block of these images takes
    about 0.1 s); the test then lets it run on (:func:`go_on`)."""
    committed = (out / STORE).exists
    wait_for(lambda: (blocks_done(out) >= 1 and not committed()) or proc.poll() is not None, 60, "the first block")
    stop(proc)
    assert proc.poll() is None and not committed(), "the build ended before it could be interrupted"
    assert blocks_done(out) < 3


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop every process of the build (its own process group: driver, forkserver, workers, resource tracker)."""
    os.killpg(proc.pid, signal.SIGSTOP)


def go_on(proc: subprocess.Popen[bytes]) -> None:
    """Let a stopped build run on: signals sent while it was stopped are delivered first."""
    with contextlib.suppress(ProcessLookupError):  # every process of the group already ended
        os.killpg(proc.pid, signal.SIGCONT)


def temp_files(out: Path) -> list[str]:
    """Temporary files of a build anywhere under ``out``."""
    names = [p.relative_to(out).as_posix() for p in out.rglob("*")] if out.is_dir() else []
    return sorted(n for n in names if ".tmp" in n or "/.manifest-" in f"/{n}" or n.endswith(".old"))


def manifest_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / MANIFEST).iterdir())}


def assert_resumes_identically(src: Path, out: Path, reference: Path) -> None:
    r = subprocess.run(build_cmd(src, out, "--resume"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [STORE, MANIFEST]  # no journal, lock or temporary file
    assert manifest_bytes(out) == manifest_bytes(reference)


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


# --------------------------------------------------------------------------------------------------------------
# fixtures
@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("src"), n=N_IMAGES)


@pytest.fixture(scope="module")
def reference(src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted build (the output every interrupted-and-resumed build must reproduce)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    r = subprocess.run(build_cmd(src, out), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out


# --------------------------------------------------------------------------------------------------------------
# the driver dies, is stopped or interrupted
@pytest.mark.parametrize(
    ("sig", "env"),
    [
        (signal.SIGKILL, {}),
        (signal.SIGTERM, {}),
        (signal.SIGKILL, {"OMP_NUM_THREADS": "2"}),  # multi-threaded BLAS: the forkserver preloads (and arms) nothing
    ],
    ids=["sigkill", "sigterm", "sigkill-blas-threads"],
)
def test_killed_driver_leaves_no_process(
    src: Path, reference: Path, tmp_path: Path, sig: int, env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    with started(build_cmd(src, out), env) as proc:
        first_block_then(proc, out)
        assert len(session_members(proc.pid)) >= 4  # driver, forkserver, 2 workers (and the resource tracker)
        os.kill(proc.pid, sig)  # the driver only, as `kill PID` or the OOM killer does
        go_on(proc)
        _, err = proc.communicate(timeout=15)  # returns: nothing else holds the build's stdout (`| cat` ends)
        assert_no_orphans(proc.pid)
    if sig == signal.SIGTERM:  # cleans up like Ctrl-C
        assert proc.returncode == 143
        line = one_error_line(err.decode())
        assert "interrupted" in line and "--resume" in line
        assert temp_files(out) == [] and not (out / ".aflw-occ.lock").exists()
    else:
        assert proc.returncode == -signal.SIGKILL
    assert_resumes_identically(src, out, reference)  # also removes what the SIGKILLed build left


def test_ctrl_c(src: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with started(build_cmd(src, out)) as proc:
        first_block_then(proc, out)
        os.killpg(proc.pid, signal.SIGINT)  # a terminal sends Ctrl-C to the whole foreground process group
        go_on(proc)
        _, err = proc.communicate(timeout=15)
        assert_no_orphans(proc.pid)
    assert proc.returncode == 130
    line = one_error_line(err.decode())
    assert "interrupted" in line and "re-run the same command with --resume" in line
    assert temp_files(out) == [] and not list(out.glob("*.h5"))
    assert_resumes_identically(src, out, reference)


def test_killed_worker(src: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with started(build_cmd(src, out)) as proc:

        def workers() -> list[int]:
            members = session_members(proc.pid)
            servers = {pid for pid, ppid, cmd in members if ppid == proc.pid and "forkserver" in cmd}
            return [pid for pid, ppid, _ in members if ppid in servers]

        wait_for(lambda: len(workers()) == 2, 30, "two workers")
        first_block_then(proc, out)
        os.kill(workers()[0], signal.SIGKILL)
        go_on(proc)
        _, err = proc.communicate(timeout=30)
        assert_no_orphans(proc.pid)
    assert proc.returncode == 1
    line = one_error_line(err.decode())
    assert "worker process died" in line and "--resume" in line
    assert temp_files(out) == []
    assert_resumes_identically(src, out, reference)


# --------------------------------------------------------------------------------------------------------------
# who owns --out
def test_concurrent_builds_into_one_folder(src: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with started(build_cmd(src, out)) as first:
        wait_for(lambda: (out / ".journal-2.0.0").is_dir() or first.poll() is not None, 30, "the first build")
        stop(first)  # still running, whatever the speed of its blocks, while the second one starts
        second = subprocess.run(build_cmd(src, out), capture_output=True, text=True, timeout=60)
        go_on(first)
        assert second.returncode == 2
        line = one_error_line(second.stderr)
        assert f"another aflw-occ build (pid {first.pid})" in line and str(out) in line
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err  # the second build disturbed nothing
    assert sorted(p.name for p in out.iterdir()) == [STORE, MANIFEST]
    assert manifest_bytes(out) == manifest_bytes(reference)


def test_overwrite_is_refused_without_the_flag(src: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in out.rglob("*")}
    r = subprocess.run(build_cmd(src, out, "--ids", "image00002"), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    line = one_error_line(r.stderr)
    assert f"{out}: already holds {STORE}" in line and "--overwrite" in line
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in out.rglob("*")} == before  # nothing touched
    r = subprocess.run(build_cmd(src, out, "--ids", "image00002", "--overwrite"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "clean 1" in r.stdout and sorted(p.name for p in out.iterdir()) == [STORE, MANIFEST]


def test_leftovers_include_the_atomic_temporaries_of_a_journal(tmp_path: Path) -> None:
    from aflw_occ.outdir import leftovers

    journal = tmp_path / ".journal-2.0.0"
    journal.mkdir()
    partial = [".block-00001.x1y2.tmp", ".block-00002.pkl.0123456789ab.tmp.pkl", ".identity.json.0123456789ab.tmp.json"]
    for name in [*partial, "block-00000.pkl", "identity.json"]:
        (journal / name).write_bytes(b"x")
    assert sorted(p.name for p in leftovers(tmp_path, "2.0.0")) == sorted(partial)


def test_leftovers_are_removed_by_the_next_build(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    journal = out / ".journal-2.0.0"
    first = subprocess.run(build_cmd(src, out, "--shard", "1/2", "--ids", "@" + str(_ids(tmp_path, 90))))
    assert first.returncode == 0 and journal.is_dir()
    # what killed builds leave: a store and a manifest being written, a journal block being written
    (out / f".{STORE}.0123456789ab.tmp.h5").write_bytes(b"partial")
    (out / ".manifest-2.0.0.k3j2h1").mkdir()
    (out / ".manifest-2.0.0.k3j2h1" / "base.jsonl").write_text("{}\n")
    (out / f"{MANIFEST}.old").mkdir()
    (journal / ".block-00001.x1y2.tmp").write_bytes(b"partial")
    done = subprocess.run(build_cmd(src, out, "--shard", "2/2", "--ids", "@" + str(_ids(tmp_path, 90))))
    assert done.returncode == 0
    assert sorted(p.name for p in out.iterdir()) == [STORE, MANIFEST]  # the shard that assembled cleaned up


def test_shards_at_the_same_time(src: Path, reference: Path, tmp_path: Path) -> None:
    """Shards of one build share the folder; exactly one assembles the store, and no journal or lock is left."""
    out = tmp_path / "out"
    with started(build_cmd(src, out, "--shard", "1/2")) as one, started(build_cmd(src, out, "--shard", "2/2")) as two:
        results = [p.communicate(timeout=90) for p in (one, two)]
        assert [one.returncode, two.returncode] == [0, 0], [e.decode() for _, e in results]
        assert_no_orphans(one.pid)
        assert_no_orphans(two.pid)
    said = " ".join(o.decode() for o, _ in results)
    assert said.count(f"built {out / STORE}") == 1
    assert sorted(p.name for p in out.iterdir()) == [STORE, MANIFEST]
    assert manifest_bytes(out) == manifest_bytes(reference)


def _ids(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text("".join(f"image{2 * i + 2:05d}\n" for i in range(n)))
    return path


# --------------------------------------------------------------------------------------------------------------
# file-system faults
def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def mounted(point: Path, *args: str) -> Iterator[Path]:
    point.mkdir(parents=True, exist_ok=True)
    if not _mount(*args, str(point)):
        pytest.skip("cannot mount a file system here (needs root)")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_disk_full_then_resume(src: Path, reference: Path, tmp_path: Path) -> None:
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=1200k", "tmpfs") as fs:
        out = fs / "out"
        r = subprocess.run(build_cmd(src, out), capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        line = one_error_line(r.stderr)
        assert "No space left on device" in line and "--resume" in line
        assert temp_files(out) == [] and not list(out.glob("*.h5")) and not (out / ".aflw-occ.lock").exists()
        subprocess.run(["mount", "-o", "remount,size=64m", str(fs)], check=True)  # the user frees space
        assert_resumes_identically(src, out, reference)


def test_disk_full_for_written_files(tmp_path: Path) -> None:
    """`score --out`, `report --out` and every other file the package writes go through atomic_path."""
    from aflw_occ.atomic import write_text_atomic
    from aflw_occ.errors import AflwOccError

    with mounted(tmp_path / "tiny", "-t", "tmpfs", "-o", "size=64k", "tmpfs") as fs:
        with pytest.raises(AflwOccError, match=r"report\.html: cannot be written: No space left on device"):
            write_text_atomic(fs / "report.html", "x" * (1 << 20))
        with pytest.raises(AflwOccError, match=r"cannot create its folder: .*No space left|File exists|Not a dir"):
            (fs / "afile").write_text("")
            write_text_atomic(fs / "afile" / "r.html", "x", make_parent=True)
        assert sorted(p.name for p in fs.iterdir()) == ["afile"]


def test_read_only_out(src: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "inside").mkdir()
    with mounted(tmp_path / "ro-view", "--bind", "-o", "ro", str(ro)) as view:
        for out in (view, view / "inside", view / "new" / "out"):
            r = subprocess.run(build_cmd(src, out), capture_output=True, text=True, timeout=60)
            assert r.returncode == 2, r.stderr
            line = one_error_line(r.stderr)
            assert "not writable" in line or "Read-only file system" in line
        pred = tmp_path / "pred.npz"
        _prediction(src, pred)
        r = run("score", str(pred), "--source", str(src), "--out", str(view / "x.csv"), "--n-boot", "10")
        assert r.returncode == 2 and "x.csv: cannot be written: Read-only file system" in one_error_line(r.stderr)
    assert sorted(p.name for p in ro.iterdir()) == ["inside"]


def _prediction(src: Path, out: Path) -> None:
    from aflw_occ.groundtruth import GroundTruth

    gt = GroundTruth.from_source(src)
    np.savez(out, ids=gt.ids, landmarks=gt.landmarks, format_version=1)


def test_out_is_a_file(src: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "below"):
        r = subprocess.run(build_cmd(src, out), capture_output=True, text=True, timeout=60)
        line = one_error_line(r.stderr)
        assert r.returncode == 2 and ("not a folder" in line or "not a directory" in line)
    pred = tmp_path / "pred.npz"
    _prediction(src, pred)
    r = run("score", str(pred), "--source", str(src), "--out", str(afile / "x.csv"), "--n-boot", "10")
    assert r.returncode == 2 and "afile" in one_error_line(r.stderr)
    assert afile.read_text() == "x"


# --------------------------------------------------------------------------------------------------------------
# options
def test_subsets_all_is_every_subset_of_the_version() -> None:
    import click

    from aflw_occ.builders import SUBSETS
    from aflw_occ.cli.build import parse_subsets
    from aflw_occ.store.versions import DATA_VERSIONS

    for version, dv in DATA_VERSIONS.items():
        assert set(parse_subsets("all", version)) == set(dv.builders)
    assert parse_subsets("all") == tuple(SUBSETS) and "randocc" in parse_subsets("all")
    assert parse_subsets("randocc,base,csod") == ("csod", "randocc")
    for bad, why in [("all,randocc", "give it alone"), ("csod,csod", "more than once"), ("bogus", "unknown"),
                     (",", "empty")]:  # fmt: skip
        with pytest.raises(click.BadParameter, match=why):
            parse_subsets(bad)


def test_subsets_errors_on_the_command_line(src: Path, tmp_path: Path) -> None:
    for bad, why in [("all,randocc", "give it alone"), ("nsod,nsod", "nsod given more than once")]:
        r = run("build", "--source", str(src), "--out", str(tmp_path / "o"), "--subset", bad)
        assert r.returncode == 2 and why in one_error_line(r.stderr) and "--subset" in r.stderr
    assert not (tmp_path / "o").exists()


def _eval_dir(path: Path, src: Path, shift: float) -> Path:
    ids = sorted(p.stem for p in src.glob("*.jpg"))
    path.mkdir()
    (path / "AFLW2000-3D_crop.list").write_text("".join(f"{i}.jpg\n" for i in ids))
    np.save(path / "AFLW2000-3D-Reannotated.pts68.npy", np.full((len(ids), 2, 68), 100.0 + shift))
    np.save(path / "AFLW2000-3D_crop.roi_box.npy", np.tile([10.0, 10.0, 200.0, 200.0], (len(ids), 1)))
    return path


def test_resume_identity_covers_eval_dir_and_input_files(src: Path, tmp_path: Path) -> None:
    ids = "@" + str(_ids(tmp_path, 50))
    eval_a, eval_b = _eval_dir(tmp_path / "eval-a", src, 0.0), _eval_dir(tmp_path / "eval-b", src, 0.5)
    out = tmp_path / "out"
    first = subprocess.run(build_cmd(src, out, "--ids", ids, "--shard", "1/2", "--eval-dir", str(eval_a)))
    assert first.returncode == 0
    r = subprocess.run(build_cmd(src, out, "--ids", ids, "--resume", "--eval-dir", str(eval_b)),
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "other options (inputs.eval_dir)" in one_error_line(r.stderr)
    # the same folder with other contents counts as another input as well
    np.save(eval_a / "AFLW2000-3D-Reannotated.pts68.npy", np.full((N_IMAGES, 2, 68), 1.0))
    r = subprocess.run(build_cmd(src, out, "--ids", ids, "--resume", "--eval-dir", str(eval_a)),
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "inputs.eval_dir" in r.stderr


def test_identity_fingerprints_occluders_and_segmenter(src: Path, tmp_path: Path) -> None:
    from aflw_occ.builders import BuildOptions
    from aflw_occ.pipeline import BuildPlan

    occ = tmp_path / "occ"
    occ.mkdir()
    (occ / "a.png").write_bytes(b"one")
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights-1")
    opts = BuildOptions(occluders=(f"folder:{occ}",), skin=f"bisenet:{weights}")
    plan = BuildPlan(source=src, out=tmp_path / "o", version="2.0.0", subsets=("nod", "nsod"), options=opts)
    before = plan.identity(["image00002"])
    assert plan.identity(["image00002"]) == before
    weights.write_bytes(b"weights-2")
    after_weights = plan.identity(["image00002"])
    assert after_weights["inputs"]["segmenter"] != before["inputs"]["segmenter"]
    (occ / "b.png").write_bytes(b"two")
    assert plan.identity(["image00002"])["inputs"]["occluders"] != after_weights["inputs"]["occluders"]


# --------------------------------------------------------------------------------------------------------------
# one data-discovery rule
def test_data_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aflw_occ.paths import find_data

    def tree(root: Path) -> Path:
        for rel in ("data/aflw2000-3d", "data/aflw2000-3d-eval", "models"):
            (root / rel).mkdir(parents=True)
        return root

    env, beside, config = tree(tmp_path / "env"), tree(tmp_path / "beside"), tree(tmp_path / "config")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'shared = "{config}"\n')
    monkeypatch.setenv("AFLW_OCC_CONFIG", str(cfg))
    monkeypatch.setenv("AFLW_OCC_SHARED", str(env))
    monkeypatch.chdir(tmp_path)  # a ../shared or ./shared here must never count
    (tmp_path / "shared").mkdir()
    source = beside / "data" / "aflw2000-3d"
    assert find_data("models", explicit=tmp_path / "x", source=source) == tmp_path / "x"  # 1. explicit
    assert find_data("models", source=source) == env / "models"  # 2. environment
    # the shared eval files belong to the shared release: another --source uses the folder beside it
    assert find_data("eval_dir", source=source) == beside / "data" / "aflw2000-3d-eval"
    assert find_data("eval_dir", source=env / "data" / "aflw2000-3d") == env / "data" / "aflw2000-3d-eval"
    monkeypatch.delenv("AFLW_OCC_SHARED")
    assert find_data("models", source=source) == beside / "models"  # 3. beside --source
    assert find_data("models") == config / "models"  # 4. user configuration
    cfg.write_text("")
    assert find_data("models") is None and find_data("eval_dir") is None  # never the current directory


def test_score_finds_the_eval_dir_beside_the_source(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(src, root / "aflw2000-3d")
    _eval_dir(root / "aflw2000-3d-eval", src, 0.0)
    pred = tmp_path / "pred.npz"
    _prediction(src, pred)
    env = {k: v for k, v in os.environ.items() if k != "AFLW_OCC_SHARED"}
    env["AFLW_OCC_CONFIG"] = str(tmp_path / "none.toml")
    r = subprocess.run([EXE, "score", str(pred), "--source", str(root / "aflw2000-3d"), "--gt", "reannotated",
                        "--json", "--n-boot", "10"], capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert str(root / "aflw2000-3d-eval") in r.stdout


# --------------------------------------------------------------------------------------------------------------
# exit codes of the console entry point
def test_internal_error_is_one_line_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import click

    from aflw_occ import cli

    @click.command()
    def boom() -> None:
        raise RuntimeError("unexpected\nsecond line")

    module = type(sys)("aflw_occ_test_boom")
    module.boom = boom  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aflw_occ_test_boom", module)
    monkeypatch.setitem(cli.COMMANDS, "boom", "aflw_occ_test_boom:boom")
    monkeypatch.setattr(sys, "argv", ["aflw-occ", "boom"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: internal error: RuntimeError: unexpected")


def test_manifest_is_json(reference: Path) -> None:
    """The reference build is a complete store (guards the fixture every resume is compared with)."""
    head = json.loads((reference / MANIFEST / "manifest.json").read_text())
    assert head["data_version"] == "2.0.0" and sorted(p.name for p in reference.iterdir()) == [STORE, MANIFEST]


@pytest.mark.real
def test_subsets_all_builds_every_subset_on_real_data(real_source: Path, tmp_path: Path) -> None:
    from aflw_occ.store import open_store
    from aflw_occ.store.versions import get_version

    out = tmp_path / "out"
    r = run("build", "--source", str(real_source), "--out", str(out), "--subset", "all", "--ids",
            "image00002,image00004", "--workers", "1", "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "randocc 2" in r.stdout and "nsod 2" in r.stdout and "nod " in r.stdout
    with open_store(out) as st:
        subsets = {name.split("-")[0] for name in st.splits if name != "clean"}
    assert subsets == set(get_version("2.0.0").builders)
