"""`build --lenient` and the build's notes (issue 13).

A source image that passes the driver's check but cannot be decoded in a worker is left out with `--lenient` (an
error naming the file otherwise); what was left out is recorded in the store (attribute ``skipped``), in the manifest
(``source.skipped``, so a store with skips has another manifest hash) and in ``manifest-<v>/build-notes.txt``, printed
once as a count; ``verify`` against the full manifest names every absent row and why; ``--lenient`` is part of the
resume identity. Builder warnings (NOD's "posed face falls outside the image") are printed once as a count too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aflw_occ.demo import make_source
from aflw_occ.store import open_store
from aflw_occ.store.schema import Skip

EXE = str(Path(sys.executable).parent / "aflw-occ")
N = 50  # two journal blocks of 40: the undecodable image sits in the second
BAD = "image00090"  # the 45th image: block 1
#: starts and ends like a JPEG (the driver's cheap check passes), but OpenCV cannot decode it
UNDECODABLE = b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=180)


def build(src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("build", "--source", str(src), "--out", str(out), "--subset", "csod", "--quiet", *extra)


def error_line(stderr: str) -> str:
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(an intact synthetic source, the same files with one undecodable JPEG)."""
    good = make_source(tmp_path_factory.mktemp("good") / "src", n=N)
    bad = tmp_path_factory.mktemp("bad") / "src"
    shutil.copytree(good, bad)
    (bad / f"{BAD}.jpg").write_bytes(UNDECODABLE)
    return good, bad


@pytest.fixture(scope="module")
def full(sources: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build of the intact source: its manifest is "the full manifest"."""
    out = tmp_path_factory.mktemp("full") / "out"
    r = build(sources[0], out)
    assert r.returncode == 0, r.stderr
    return out


def test_undecodable_image_in_a_worker(sources: tuple[Path, Path], full: Path, tmp_path: Path) -> None:
    bad, out = sources[1], tmp_path / "out"
    # strict (the default): one error line naming the file and --lenient; the finished block is kept for --resume
    r = build(bad, out, "--workers", "1")
    line = error_line(r.stderr)
    assert r.returncode == 2 and f"{BAD}.jpg: cannot be decoded" in line and "--lenient" in line, r.stderr
    assert "1 finished block(s) kept" in line and "--resume" in line
    # --lenient is part of the resume identity: the strict build's journal is not continued by a lenient one
    r = build(bad, out, "--workers", "1", "--resume", "--lenient")
    assert r.returncode == 2 and "other options (lenient)" in error_line(r.stderr), r.stderr
    # --lenient: the image is left out, and said so once, with where the list is
    r = build(bad, out, "--workers", "2", "--lenient")
    assert r.returncode == 0, r.stderr
    notes = out / "manifest-2.0.0" / "build-notes.txt"
    assert r.stderr.splitlines() == [
        f"warning: 1 source image left out (--lenient), first: {BAD} ({BAD}.jpg: cannot be decoded (JPEG cannot be "
        f"decoded)); all listed in {notes}"
    ]
    assert f"clean {N - 1}, csod-single {N - 1}" in r.stdout
    # recorded in the store, the manifest (hashed) and the notes file
    want = Skip(BAD, f"{BAD}.jpg", "cannot be decoded (JPEG cannot be decoded)")
    with open_store(out) as st:
        assert st.skipped == [want]
        assert BAD not in set(st.base_ids) and len(st.split("csod-double")) == N - 1
    header = json.loads((out / "manifest-2.0.0" / "manifest.json").read_text())
    assert header["source"]["skipped"] == [want.to_json()]
    assert f"skipped {want}" in notes.read_text()
    # the store verifies against its own (embedded) manifest, with a note: every split row after the gap points at
    # the right /base row
    r = run("verify", str(out), "--workers", "1")
    assert r.returncode == 0 and "left out of every split" in r.stdout and BAD in r.stdout, r.stdout + r.stderr
    # ... but not silently as the full build: every absent row is named, with the reason
    r = run("verify", str(out), "--manifest", str(full / "manifest-2.0.0"), "--workers", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    absent = [ln for ln in r.stdout.splitlines() if "MISMATCH" in ln]
    assert len(absent) == 4 and all("left out its source image with --lenient" in ln for ln in absent), r.stdout
    assert f"MISMATCH base/{BAD}: listed in the given manifest, absent from the store" in r.stdout
    assert f"MISMATCH csod-column/{BAD}.csod-column:" in r.stdout
    # with --partial the absent rows are allowed; the note still says which and why
    r = run("verify", str(out), "--manifest", str(full / "manifest-2.0.0"), "--partial", "--workers", "1")
    assert r.returncode == 0 and f"{BAD} ({BAD}.jpg" in r.stdout, r.stdout + r.stderr


def test_a_tampered_skip_record_is_a_mismatch(sources: tuple[Path, Path], tmp_path: Path) -> None:
    import h5py

    out = tmp_path / "out"
    assert build(sources[1], out, "--lenient").returncode == 0
    with h5py.File(out / "aflw-occ-2.0.0.h5", "r+") as f:
        f.attrs["skipped"] = "[]"
    r = run("verify", str(out), "--workers", "1")
    assert r.returncode == 1 and "attribute 'skipped'" in r.stdout and "source.skipped" in r.stdout, r.stdout


def test_every_image_left_out(sources: tuple[Path, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(sources[0], src)
    for jpg in src.glob("*.jpg"):
        jpg.write_bytes(UNDECODABLE)
    r = build(src, tmp_path / "out", "--lenient")
    assert r.returncode == 2 and "no usable samples" in error_line(r.stderr), r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.real
def test_builder_warnings_are_summarised_once(real_source: Path, tmp_path: Path) -> None:
    """NOD warns for faces partly outside the image: one line with the count and the file that lists them."""
    ids = "image00175,image01720,image02156,image00002"  # the first three have such a warning (manifests/2.0.0)
    out = tmp_path / "out"
    r = run("build", "--source", str(real_source), "--out", str(out), "--subset", "nod", "--ids", ids, "--quiet",
            "--workers", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    notes = out / "manifest-2.0.0" / "build-notes.txt"
    assert r.stderr.splitlines() == [
        "warning: 3 builder warnings (nod 3), first: nod/image00175: 1.6% of the posed face falls outside the 450x450 "
        f"image; v computed on the visible part; all listed in {notes}"
    ]
    listed = [ln for ln in notes.read_text().splitlines() if ln.startswith("warning ")]
    assert [ln.split(":")[0] for ln in listed] == [f"warning nod/{i}" for i in ids.split(",")[:3]]


@pytest.mark.real
def test_lenient_build_of_the_real_data_against_the_committed_manifest(
    real_source: Path, real_eval_dir: Path, tmp_path: Path
) -> None:
    """A corrupt copy of a real image: left out by the driver's checksum check, recorded, and named by `verify`
    against manifests/2.0.0 (which lists it)."""
    ids = ["image00002", "image00004", "image00006", "image00008"]
    src = tmp_path / "src"
    src.mkdir()
    (src / "Code").symlink_to(real_source / "Code")  # the face mesh of the face region
    for i in ids:
        for suffix in (".jpg", ".mat"):
            (src / f"{i}{suffix}").symlink_to(real_source / f"{i}{suffix}")
    bad = src / "image00006.jpg"
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF  # markers intact: only the checksum sees it
    bad.unlink()
    bad.write_bytes(bytes(data))
    out = tmp_path / "out"
    r = build(src, out, "--lenient", "--workers", "1", "--eval-dir", str(real_eval_dir))
    assert r.returncode == 0 and "first: image00006 (image00006.jpg: sha256" in r.stderr, r.stderr
    manifest = Path(__file__).resolve().parents[1] / "manifests" / "2.0.0"
    r = run("verify", str(out), "--manifest", str(manifest), "--partial", "--workers", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    note = "built with --lenient: 1 source image(s) left out of every split: image00006 (image00006.jpg: sha256"
    assert note in r.stdout
    assert "12 samples checked, 0 mismatch(es)" in r.stdout.splitlines()[0]
