"""``aflw-occ verify`` guards everything a score depends on: on a small real build (base, CSOD, NOD; built once per
module, copied per test), tampering with any one value gives a non-zero exit naming the sample, or one ``error:``
line, never a traceback. And ``build`` checks the source files against the data version's checksums."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from aflw_occ.builders import BuildOptions
from aflw_occ.cli import main
from aflw_occ.hashing import sha256_bytes
from aflw_occ.pipeline import BuildPlan, build
from aflw_occ.store import codec

pytestmark = pytest.mark.real
N_IDS = 12
ROW = 3  # the tampered row


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(*args: str) -> Run:
    """The ``aflw-occ`` entry point in this process (exit code, stdout, stderr), as a user runs it."""
    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["aflw-occ", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        sys.argv = argv
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def built(real_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ids = tuple(sorted(p.stem for p in real_source.glob("image*.jpg"))[:: 2000 // N_IDS][:N_IDS])
    plan = BuildPlan(
        source=real_source,
        out=tmp_path_factory.mktemp("tamper"),
        version="2.0.0",
        subsets=("csod", "nod"),
        options=BuildOptions(seed=0),
        progress=False,
        ids=ids,
    )
    res = build(plan)
    assert res.path is not None
    return res.path


@pytest.fixture
def store(built: Path, tmp_path: Path) -> Path:
    """A copy of the built store and its manifest folder, to tamper with."""
    shutil.copytree(built.parent, tmp_path / "out")
    return tmp_path / "out" / built.name


def verify(store: Path, *extra: str) -> Run:
    res = run("verify", str(store), "--workers", "1", *extra)
    assert "Traceback" not in res.err + res.out
    return res


def _row_id(f: h5py.File, group: str) -> str:
    return str(f[group]["ids"].asstr()[ROW])


def _nudge(ds: h5py.Dataset, index: tuple[int, ...], delta: float) -> None:
    row = np.array(ds[ROW])
    row[index] += delta
    ds[ROW] = row


def _flip_flag(f: h5py.File) -> None:
    row = f["csod/double/occluded"][ROW]
    row[30] = not row[30]
    f["csod/double/occluded"][ROW] = row


def _flip_mask_bit(f: h5py.File) -> None:
    mask = codec.decode_png(f["csod/single/mask_png"][ROW], color=False)
    mask[1, 1] = not mask[1, 1]  # inside the box: the box (hence the pixels) stays the same
    f["csod/single/mask_png"][ROW] = codec.encode_png(mask)


def _flip_extra_mask_bit(f: h5py.File) -> None:
    mask = codec.decode_png(f["nod/natural/mask_region_png"][ROW], color=False)
    mask[200, 200] = not mask[200, 200]
    f["nod/natural/mask_region_png"][ROW] = codec.encode_png(mask)


def _flip_patch_byte(f: h5py.File) -> None:
    data = f["csod/column/patch_png"][ROW].copy()
    data[len(data) // 2] ^= 0x01
    f["csod/column/patch_png"][ROW] = data


def _change_param(f: h5py.File) -> None:
    params = json.loads(f["csod/single/params"].asstr()[ROW])
    params["occluders"][0]["color"][0] ^= 1
    f["csod/single/params"][ROW] = json.dumps(params, sort_keys=True, separators=(",", ":"))


def _garble_jpeg(f: h5py.File) -> None:
    data = f["base/jpeg"][ROW].copy()
    data[600:] = 0x55  # markers at the start survive, the entropy-coded data does not
    f["base/jpeg"][ROW] = data


def _relink(f: h5py.File) -> None:
    f["csod/single/source_index"][ROW] = f["csod/single/source_index"][ROW] + 1


#: what is tampered with → (group whose row is named, tamper, words the mismatch says)
TAMPER: dict[str, tuple[str, Callable[[h5py.File], None], str]] = {
    "landmark": ("base", lambda f: _nudge(f["base/landmarks"], (30, 0), 10.0), "ground truth"),
    "pose value": ("base", lambda f: _nudge(f["base/pose_para"], (1,), 1e-12), "ground truth"),
    "angle": ("base", lambda f: _nudge(f["base/angles_deg"], (0,), 1e-9), "ground truth"),
    "roi box": ("base", lambda f: _nudge(f["base/roi_box"], (0,), 1.0), "ground truth"),
    "re-annotation": ("base", lambda f: _nudge(f["base/reannotated"], (10, 1), 0.5), "ground truth"),
    "mat hash": ("base", lambda f: f["base/mat_sha256"].__setitem__(ROW, "0" * 64), "source .mat"),
    "undecodable jpeg": ("base", _garble_jpeg, "cannot be decoded"),
    "mask": ("csod/single", _flip_mask_bit, "occluder mask"),
    "flag": ("csod/double", _flip_flag, "occlusion flags"),
    "field": ("nod/natural", lambda f: _nudge(f["nod/natural/field_visible_rate"], (), 1e-12), "ground truth"),
    "extra mask": ("nod/natural", _flip_extra_mask_bit, "extra masks"),
    "patch byte": ("csod/column", _flip_patch_byte, "cannot be decoded"),
    "params value": ("csod/single", _change_param, "drawn parameters"),
    "seed": ("csod/single", lambda f: f["csod/single/seed"].__setitem__(ROW, 1), "seed"),
    "source link": ("csod/single", _relink, "cannot be decoded or checked"),
    "selection": (
        "nod/natural",
        lambda f: f["nod/natural/selected"].__setitem__(ROW, not f["nod/natural/selected"][ROW]),
        "sel",
    ),
}


def _tamper(store: Path, fn: Callable[[h5py.File], Any], group: str) -> str:
    with h5py.File(store, "r+") as f:
        victim = _row_id(f, group)
        fn(f)
    return victim


def test_untouched_store_verifies(store: Path) -> None:
    assert verify(store).code == 0
    res = verify(store, "--manifest", str(store.parent / "manifest-2.0.0"))
    assert res.code == 0 and "0 mismatch(es)" in res.out


@pytest.mark.parametrize("what", sorted(TAMPER))
def test_tampered_value_is_a_named_mismatch(store: Path, what: str) -> None:
    group, fn, words = TAMPER[what]
    victim = _tamper(store, fn, group)
    for extra in ((), ("--manifest", str(store.parent / "manifest-2.0.0"))):
        res = verify(store, *extra)
        assert res.code == 1, res.out + res.err
        lines = [m for m in res.out.splitlines() if "MISMATCH" in m and f"/{victim}:" in m]
        assert lines and words in lines[0], res.out


def test_diagnostics_never_decide(store: Path) -> None:
    def add_diagnostics(f: h5py.File) -> None:
        params = json.loads(f["csod/single/params"].asstr()[ROW])
        params["diagnostics"] = {"image_chroma_spread": 13.526223433429605}
        f["csod/single/params"][ROW] = json.dumps(params)

    _tamper(store, add_diagnostics, "csod/single")
    assert verify(store).code == 0


def test_manifest_hash_attribute(store: Path) -> None:
    with h5py.File(store, "r+") as f:
        f.attrs["manifest_sha256"] = "0" * 64
    res = verify(store)
    assert res.code == 1 and "manifest_sha256" in res.out


@pytest.mark.parametrize(
    ("dataset", "words"),
    [
        ("base/roi_box", "dataset 'roi_box' is missing"),
        ("csod/double/occluded", "dataset 'occluded' is missing"),
        ("nod/natural/field_visible_rate", "fields, ground truth (row_sha256) differ"),  # a field: per row
    ],
)
def test_deleted_dataset(store: Path, dataset: str, words: str) -> None:
    with h5py.File(store, "r+") as f:
        del f[dataset]
    res = verify(store)
    assert res.code == 1 and words in res.out


def test_undeclared_dataset(store: Path) -> None:
    with h5py.File(store, "r+") as f:
        f["csod/single"].create_dataset("sneaky", data=np.zeros(N_IDS))
    res = verify(store)
    assert res.code == 1 and "'sneaky' is not in the row schema" in res.out


@pytest.mark.parametrize("attr", ["builders", "manifest_sha256", "environment"])
def test_deleted_attribute(store: Path, attr: str) -> None:
    with h5py.File(store, "r+") as f:
        del f.attrs[attr]
    res = verify(store)
    assert res.code == 1 and f"attribute {attr!r} is missing" in res.out


def test_deleted_version_attribute_is_one_error_line(store: Path) -> None:
    with h5py.File(store, "r+") as f:
        del f.attrs["data_version"]
    res = verify(store)
    assert res.code == 2 and res.err.startswith("error:") and res.err.count("\n") == 1


def test_deleted_embedded_manifest(store: Path) -> None:
    with h5py.File(store, "r+") as f:
        del f["manifest"]
    res = verify(store)
    assert res.code == 2 and res.err.startswith("error:") and res.err.count("\n") == 1
    assert "embedded manifest" in res.err and "--manifest" in res.err
    res = verify(store, "--manifest", str(store.parent / "manifest-2.0.0"))
    assert res.code == 1 and "embedded manifest unusable" in res.out


def _rewrite_split(folder: Path, split: str, edit: Callable[[list[str]], list[str]]) -> None:
    """Change a split file of a manifest folder and re-pin it in manifest.json (a consistent but different
    manifest)."""
    path = folder / f"{split}.jsonl"
    text = "".join(f"{t}\n" for t in edit(path.read_text().splitlines()))
    path.write_text(text)
    head = json.loads((folder / "manifest.json").read_text())
    head["splits"][split]["sha256"] = sha256_bytes(text.encode())
    (folder / "manifest.json").write_text(json.dumps(head))


@pytest.mark.parametrize(
    ("edit", "code", "words"),
    [
        (lambda lines: [*lines, lines[ROW]], 1, "listed twice in the given manifest"),
        (lambda lines: lines[:ROW] + lines[ROW + 1 :], 1, "absent from the given manifest"),
        (lambda lines: [*lines[:ROW], "{broken", *lines[ROW + 1 :]], 2, f"line {ROW + 1} is not valid JSON"),
    ],
    ids=["duplicated line", "missing line", "invalid line"],
)
def test_manifest_folder_rows(store: Path, edit: Callable[[list[str]], list[str]], code: int, words: str) -> None:
    folder = store.parent / "manifest-2.0.0"
    _rewrite_split(folder, "csod-single", edit)
    res = verify(store, "--manifest", str(folder))
    assert res.code == code and words in res.out + res.err


def test_bad_manifest_json_is_one_error_line(store: Path) -> None:
    folder = store.parent / "manifest-2.0.0"
    (folder / "manifest.json").write_text("{not json")
    res = verify(store, "--manifest", str(folder))
    assert res.code == 2 and res.err.startswith("error:") and "not valid JSON" in res.err
    assert res.err.count("\n") == 1


@pytest.mark.parametrize("partial", [False, True])
def test_row_stored_twice(store: Path, partial: bool) -> None:
    with h5py.File(store, "r+") as f:
        twin = str(f["csod/single/ids"].asstr()[ROW - 1])
        f["csod/single/ids"][ROW] = twin
    extra = ("--manifest", str(store.parent / "manifest-2.0.0"), *(("--partial",) if partial else ()))
    res = verify(store, *extra)
    assert res.code == 1 and f"csod-single/{twin}: " in res.out and "stored twice" in res.out


def test_missing_row_only_with_partial(built: Path, real_source: Path, tmp_path: Path) -> None:
    few = tmp_path / "few"
    ids = [str(i) for i in h5py.File(built)["base/ids"].asstr()[: N_IDS // 2]]
    plan = BuildPlan(real_source, few, "2.0.0", ("csod",), BuildOptions(seed=0), progress=False, ids=tuple(ids))
    path = build(plan).path
    assert path is not None
    folder = str(built.parent / "manifest-2.0.0")
    res = verify(path, "--manifest", folder)
    assert res.code == 1 and "absent from the store" in res.out
    assert verify(path, "--manifest", folder, "--partial").code == 0


# --------------------------------------------------------------------------------------------------------------
# source checksums
@pytest.fixture
def small_source(real_source: Path, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for p in sorted(real_source.glob("image*"))[:8]:  # 4 ids: .jpg + .mat
        shutil.copy(p, src / p.name)
    return src


def _corrupt_body(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # SOI and EOI markers untouched
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", [".jpg", ".mat"])
def test_build_checks_source_checksums(small_source: Path, tmp_path: Path, suffix: str) -> None:
    victim = sorted(small_source.glob(f"image*{suffix}"))[1]
    _corrupt_body(victim)
    out = tmp_path / "out"
    res = run("build", "--source", str(small_source), "--out", str(out), "--subset", "base", "--quiet")
    assert res.code == 2 and res.err.count("\n") == 1 and res.err.startswith(f"error: {victim}: sha256")
    assert not out.exists()  # nothing built
    ids = ",".join(sorted({p.stem for p in small_source.glob("image*")} - {victim.stem}))
    res = run("build", "--source", str(small_source), "--out", str(out), "--ids", ids, "--quiet", "--subset", "base")
    assert res.code == 0, res.err  # only the requested ids' files are checked
    res = run("build", "--source", str(small_source), "--out", str(tmp_path / "l"), "--lenient", "--quiet")
    left_out = f"1 source image left out (--lenient), first: {victim.stem} ({victim.name}: sha256"
    assert res.code == 0 and left_out in res.err
    head = json.loads((tmp_path / "l" / "manifest-2.0.0" / "manifest.json").read_text())
    assert head["source"]["checksums"] == "aflw2000-3d.tsv" and head["source"]["count"] == 3
    skip = head["source"]["skipped"][0]
    assert skip["id"] == victim.stem and skip["file"] == victim.name and skip["reason"].startswith("sha256")
