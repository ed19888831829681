"""Build pipeline + store on a fabricated mini-source: layout, invariants, determinism, verify, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from aflw_occ.builders import BuildOptions
from aflw_occ.demo import make_source
from aflw_occ.errors import AflwOccError, SourceError, StoreError
from aflw_occ.groundtruth import GroundTruth
from aflw_occ.pipeline import BuildError, BuildPlan, build
from aflw_occ.source import AFLW2000_3D
from aflw_occ.store import codec, open_store, read_ground_truth
from aflw_occ.store.schema import ROOT_ATTRS
from aflw_occ.store.verify import verify

N = 10


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("src"), n=N, seed=3)


def _plan(src: Path, out: Path, **kw) -> BuildPlan:
    defaults = dict(version="2.0.0", subsets=("csod",), options=BuildOptions(seed=7), progress=False, block_size=3)
    defaults.update(kw)
    return BuildPlan(source=src, out=out, **defaults)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def built(src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = build(_plan(src, tmp_path_factory.mktemp("out"), workers=1))
    assert res.path is not None
    return res.path


def test_layout_and_counts(built: Path) -> None:
    with h5py.File(built) as f:
        assert f.attrs["data_version"] == "2.0.0" and f.attrs["seed"] == 7
        assert set(f["csod"]) == {"single", "double", "column"}
        assert f["base/jpeg"].shape == (N,) and f["csod/single/occluded"].shape == (N, 68)
        assert set(f.attrs) == set(ROOT_ATTRS)
        env = json.loads(f.attrs["environment"])
        assert env["libraries"]["numpy"] and env["machine"] and "opencv_cpu_features" in env
        assert env["pixel_kernels"]["backend"] in ("numba", "numpy")  # which implementation ran the pixel path
        scalars: list[str] = []
        f.visititems(
            lambda name, obj: scalars.append(name) if isinstance(obj, h5py.Dataset) and not obj.shape else None
        )
        assert not scalars  # no scalar dataspace (HF datasets' hdf5 loader stops on them)
        rows: set[int] = set()
        f.visititems(lambda _, obj: rows.add(obj.shape[0]) if isinstance(obj, h5py.Dataset) else None)
        assert rows == {N}  # one row per source image everywhere: one table for generic readers
        assert isinstance(f["base/ids"].asstr()[0], str)
    with open_store(built.parent) as st:
        assert st.splits == ["clean", "csod-single", "csod-double", "csod-column"]
        assert [len(st.split(s)) for s in st.splits] == [N] * 4


def test_base_keeps_original_jpeg_bytes(built: Path, src: Path) -> None:
    with open_store(built) as st:
        ids = st.split("clean").ids
        for i, sid in enumerate(ids):
            assert st.file["base/jpeg"][i].tobytes() == (src / f"{sid}.jpg").read_bytes()


def test_pixels_outside_mask_equal_source(built: Path) -> None:
    with open_store(built) as st:
        for name in ("csod-single", "csod-double", "csod-column"):
            sp = st.split(name)
            for i in range(len(sp)):
                img, mask = sp.image(i), sp.mask(i)
                base = st.base_image(int(sp.source_index[i]))
                assert np.array_equal(img[~mask], base[~mask])
                assert mask.any() and not np.array_equal(img[mask], base[mask])


def test_recorded_parameters_reproduce_pixels(built: Path) -> None:
    with open_store(built) as st:
        sp = st.split("csod-double")
        gt = sp.ground_truth()
        for i in range(len(sp)):
            params = sp.params(i)
            img = st.base_image(int(sp.source_index[i])).copy()
            mask = np.zeros(img.shape[:2], bool)
            for occ in params["occluders"]:
                x0, y0, x1, y1 = occ["rect"]
                img[y0:y1, x0:x1] = occ["color"]
                mask[y0:y1, x0:x1] = True
            assert np.array_equal(img, sp.image(i))
            assert np.array_equal(mask, sp.mask(i))
            # occlusion flags: the landmark's pixel (1-based coordinates → 0-based index) lies in the mask
            xy = np.rint(gt.landmarks[i, :, :2] - 1).astype(int)
            inside = (xy >= 0).all(1) & (xy[:, 0] < 450) & (xy[:, 1] < 450)
            expect = np.array([inside[k] and mask[xy[k, 1], xy[k, 0]] for k in range(68)])
            assert np.array_equal(gt.occluded[i], expect)
        cov = sp.covered_fraction
        assert cov is not None and ((cov > 0) & (cov <= 1)).all()


def test_ground_truth_from_store(built: Path, src: Path) -> None:
    clean = read_ground_truth(built, "clean")
    direct = GroundTruth.from_source(src)
    assert list(clean.ids) == list(direct.ids)
    np.testing.assert_array_equal(clean.landmarks, direct.landmarks)
    occ = read_ground_truth(built, "csod-column")
    assert occ.occluded is not None and occ.occluded.shape == (N, 68)
    assert occ.ids[0].endswith(".csod-column") and occ.data_version == "2.0.0"
    assert "manifest_sha256" in occ.provenance
    np.testing.assert_array_equal(occ.landmarks, direct.landmarks)



def test_ground_truth_from_store_says_where_it_moved(built: Path) -> None:
    with pytest.raises(StoreError, match=r"GroundTruth.from_store moved; use aflw_occ.read_ground_truth\("):
        GroundTruth.from_store(built, "clean")

def test_plain_h5py_read(built: Path) -> None:
    """The README's five-line plain h5py example reconstructs exact pixels."""
    import cv2

    f = h5py.File(built, "r")
    g, i = f["csod/single"], 0
    img = cv2.imdecode(f["base/jpeg"][g["source_index"][i]], cv2.IMREAD_COLOR)[..., ::-1].copy()
    x0, y0, x1, y1 = g["patch_box"][i]
    img[y0:y1, x0:x1] = cv2.imdecode(g["patch_png"][i], cv2.IMREAD_COLOR)[..., ::-1]
    with open_store(built) as st:
        assert np.array_equal(img, st.split("csod-single").image(0))
    f.close()


def test_same_seed_same_pixels_any_workers_and_blocks(src: Path, built: Path, tmp_path: Path) -> None:
    other = build(_plan(src, tmp_path / "b2", workers=2, block_size=4)).path
    assert other is not None
    a, b = (open_store(p).manifest_texts() for p in (built, other))
    assert a[1] == b[1]  # every split file, hence every pixel hash, seed and parameter
    changed = build(_plan(src, tmp_path / "b3", options=BuildOptions(seed=8))).path
    assert open_store(changed).manifest_texts()[1]["csod-single"] != a[1]["csod-single"]
    assert open_store(changed).manifest_texts()[1]["base"] == a[1]["base"]


def test_verify_ok_and_detects_a_flipped_pixel(built: Path, tmp_path: Path) -> None:
    report = verify(built, workers=2)
    assert report.ok and report.checked == 4 * N
    copy = tmp_path / built.name
    shutil.copy(built, copy)
    with h5py.File(copy, "r+") as f:
        g = f["csod/double"]
        patch = codec.decode_png(g["patch_png"][3], color=True)
        patch[0, 0, 0] ^= 1
        g["patch_png"][3] = codec.encode_png(patch)
        victim = g["ids"].asstr()[3]
    report = verify(copy)
    assert not report.ok and len(report.mismatches) == 1
    assert report.mismatches[0].split == "csod-double" and report.mismatches[0].id == victim
    assert victim in report.summary()
    # against the original build's manifest folder as well
    report = verify(copy, built.parent / "manifest-2.0.0")
    assert [m.id for m in report.mismatches] == [victim]


def test_verify_progress_bar_only_when_asked(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(built).ok and "verify" not in capsys.readouterr().err  # stderr is no terminal here
    assert verify(built, progress=True).ok and "verify: 100%" in capsys.readouterr().err


def test_read_many_block_and_single_reads(built: Path) -> None:
    from aflw_occ.store.bulk import read_many

    with open_store(built) as st:
        ds = st.file["base/jpeg"]
        n = ds.shape[0]
        for rows in ([0, 1, 2], [1, n - 1], [], [n - 1]):  # one block read, single reads, nothing
            got = read_many(ds, rows)
            assert list(got) == rows and all(np.array_equal(got[r], ds[r]) for r in rows)


def test_verify_reads_base_jpegs_in_bulk(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The split rows' base images come from one bulk read per chunk (store.bulk.read_many), not row by row."""
    from aflw_occ.store.reader import DataStore

    def row_by_row(self: DataStore, index: int) -> np.ndarray:
        raise AssertionError(f"base image {index} read row by row")

    monkeypatch.setattr(DataStore, "base_image", row_by_row)
    assert verify(built, workers=1, progress=False).ok


def test_reader_record_follows_the_schema(built: Path) -> None:
    from aflw_occ.store import schema
    from aflw_occ.store.verify_rows import RECOMPUTE

    with open_store(built) as st:
        for name in ("clean", "csod-single"):
            sp = st.split(name)
            rec = sp.record(1)
            kind = schema.kind_of(sp.group)
            assert set(rec) == {c.key for c in schema.COLUMNS[kind]} and rec["id"] == sp.ids[1]
            columns, digests = RECOMPUTE[kind](st, rec)
            assert set(columns) == {c.key for c in schema.COLUMNS[kind] if c.recomputed}
            assert set(digests) == {d.key for d in schema.DIGESTS[kind]}


def test_format_1_layout_still_verifies(built: Path, tmp_path: Path) -> None:
    """A format-1 store (scalar manifest datasets, ``created_with`` for ``environment``) is still read and verified."""
    old = tmp_path / built.name
    shutil.copy(built, old)
    with h5py.File(old, "r+") as f:
        f.attrs["format"] = "aflw-occ/hdf5-1"
        f.attrs["created_with"] = f.attrs["environment"]
        del f.attrs["environment"]
        for name, text in list(f["manifest"].attrs.items()):
            del f["manifest"].attrs[name]
            f["manifest"].create_dataset(name, data=text, dtype=h5py.string_dtype("utf-8"))
    report = verify(old)
    assert report.ok, report.summary()
    with h5py.File(old, "r+") as f:
        f.attrs["format"] = "aflw-occ/hdf5-0"
    with pytest.raises(StoreError, match="not an aflw-occ store"):
        verify(old)


def test_verify_rejects_other_version_and_seed(built: Path, tmp_path: Path) -> None:
    man = tmp_path / "man"
    shutil.copytree(built.parent / "manifest-2.0.0", man)
    head = json.loads((man / "manifest.json").read_text())
    head["seed"] = 99
    (man / "manifest.json").write_text(json.dumps(head))
    with pytest.raises(StoreError, match="seed 99"):
        verify(built, man)
    head["seed"], head["data_version"] = 7, "3.0.0"
    (man / "manifest.json").write_text(json.dumps(head))
    with pytest.raises(StoreError, match="data version 3.0.0, the store is 2.0.0"):
        verify(built, man)
    with pytest.raises(StoreError, match="no manifest.json"):
        verify(built, tmp_path)


def test_partial_verify(src: Path, built: Path, tmp_path: Path) -> None:
    few = build(_plan(src, tmp_path / "few", subsets=())).path
    assert few is not None
    report = verify(few, built.parent / "manifest-2.0.0")
    assert not report.ok and "absent from the store" in str(report.mismatches[0])
    assert verify(few, built.parent / "manifest-2.0.0", partial=True).ok


def test_output_folder_of_another_version(src: Path, built: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "aflw-occ-0.9.0.h5").write_bytes(b"")
    with pytest.raises(BuildError, match="aflw-occ-0.9.0.h5 .another data version"):
        build(_plan(src, out))
    with pytest.raises(StoreError, match="unknown data version '9.9.9'"):
        build(_plan(src, tmp_path / "p", version="9.9.9"))


def test_bad_sources(src: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        build(_plan(tmp_path / "missing", tmp_path / "o1"))
    broken = tmp_path / "broken"
    shutil.copytree(src, broken)
    (broken / "image00004.mat").unlink()
    (broken / "image00006.mat").unlink()
    with pytest.raises(SourceError, match=r"2 image\(s\) without \.mat"):
        build(_plan(broken, tmp_path / "o2"))
    (broken / "image00008.jpg").write_bytes(b"\xff\xd8 truncated")
    res = build(_plan(broken, tmp_path / "o3", strict=False))
    assert res.path is not None and res.splits["clean"] == N - 3
    assert len(res.skipped) == 3 and any(k.file == "image00008.jpg" and k.id == "image00008" for k in res.skipped)
    assert not list((tmp_path / "o3").glob(".*tmp*")) and not list((tmp_path / "o3").glob(".journal*"))


def test_shards_assemble_to_the_same_store(src: Path, built: Path, tmp_path: Path) -> None:
    out = tmp_path / "sh"
    first = build(_plan(src, out, shard=(1, 2)))
    assert first.path is None and 0 < first.blocks_done < first.blocks_total
    assert not list(out.glob("*.h5"))
    second = build(_plan(src, out, shard=(2, 2)))
    assert second.path is not None
    assert open_store(second.path).manifest_texts() == open_store(built).manifest_texts()


def test_resume_keeps_finished_blocks(src: Path, built: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    build(_plan(src, out, shard=(1, 2)))
    journal = out / ".journal-2.0.0"
    kept = len(list(journal.glob("block-*.pkl")))
    with pytest.raises(BuildError, match="other options"):
        build(_plan(src, out, resume=True, options=BuildOptions(seed=1)))
    done = build(_plan(src, out, resume=True))
    assert done.path is not None and not journal.exists()
    assert done.computed == done.blocks_total - kept  # the first shard's blocks were reused, not recomputed
    assert open_store(done.path).manifest_texts() == open_store(built).manifest_texts()


def test_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "x.h5")
    with pytest.raises(StoreError, match="no aflw-occ"):
        open_store(tmp_path)
    bad = tmp_path / "aflw-occ-2.0.0.h5"
    bad.write_bytes(b"garbage")
    with pytest.raises(StoreError, match="cannot be opened as HDF5"):
        open_store(bad)


def test_reader_split_errors(built: Path) -> None:
    with open_store(built) as st, pytest.raises(StoreError, match="no split 'nsod'"):
        st.split("nsod")


def test_source_reader_sees_the_same_ids(built: Path, src: Path) -> None:
    with open_store(built) as st:
        assert list(st.split("clean").ids) == AFLW2000_3D(src).ids


def _datasets(path: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    with h5py.File(path) as f:

        def grab(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset) and not name.startswith("manifest"):
                out[name] = [np.asarray(v).tobytes() for v in obj[()]] if obj.shape else [obj[()]]

        f.visititems(grab)
    return out


def test_streamed_appends_equal_one_write(src: Path, built: Path, tmp_path: Path, monkeypatch) -> None:
    from aflw_occ.store import writer

    monkeypatch.setattr(writer, "FLUSH_ROWS", 1)  # every block appended on its own (the fixture: one write)
    res = build(_plan(src, tmp_path / "s", workers=2))
    assert res.path is not None
    assert _datasets(res.path) == _datasets(built)
    assert open_store(res.path).manifest_texts() == open_store(built).manifest_texts()
    with h5py.File(res.path) as f:
        assert f["base/landmarks"].chunks == (160, 68, 3) and f["csod/single/patch_png"].chunks == (4096,)


@pytest.mark.parametrize("workers", [1, 2])
def test_failed_block_leaves_no_store(src: Path, tmp_path: Path, workers: int) -> None:
    broken = tmp_path / "src"
    shutil.copytree(src, broken)
    (broken / "image00018.jpg").write_bytes(b"\xff\xd8" + b"\x00" * 64 + b"\xff\xd9")  # markers fine, data not
    out = tmp_path / "o"
    with pytest.raises(SourceError, match=r"image00018\.jpg: cannot be decoded"):
        build(_plan(broken, out, workers=workers))
    assert not list(out.glob("*.h5")) and not list(out.glob(".*tmp*")) and not (out / "manifest-2.0.0").exists()
    assert len(list((out / ".journal-2.0.0").glob("block-*.pkl"))) < 4  # the bad image's block never finished


def test_store_writer_refuses_wrong_blocks(src: Path, tmp_path: Path) -> None:
    from aflw_occ.journal import load_block
    from aflw_occ.store.writer import StoreWriter

    out = tmp_path / "w"
    first = build(_plan(src, out, shard=(1, 2)))
    assert first.path is None
    journal = out / ".journal-2.0.0"
    plan = _plan(src, out)
    identity = json.loads((journal / "identity.json").read_text())
    unfinished = r"aflw-occ-2\.0\.0\.h5: store left unfinished after 1 block\(s\)"
    with pytest.raises(StoreError, match=unfinished), StoreWriter(plan, identity) as w:
        b0 = load_block(journal, 0, w.identity_sha)
        b2 = load_block(journal, 2, w.identity_sha)
        with pytest.raises(StoreError, match="journal block 2: expected block 0"):
            w.add(b2)
        with pytest.raises(StoreError, match="journal block 0: belongs to another build"):
            w.add({**b0, "identity_sha256": "0" * 64})
        w.add(b0)
        b2["block"] = 1
        b2["provenance"] = {"occluder_fingerprint": "other"}
        with pytest.raises(StoreError, match=r"journal block 1: made with other builder resources.*fingerprint"):
            w.add(b2)
    with pytest.raises(StoreError, match="belongs to another build"):
        load_block(journal, 0, "0" * 64)
    with pytest.raises(RuntimeError, match="boom"), StoreWriter(plan, identity) as w:
        raise RuntimeError("boom")
    assert not list(out.glob("*.h5")) and not list(out.glob(".*tmp*"))


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_builder_resources_leave_nothing(src: Path, tmp_path: Path, workers: int) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "new" / "o"
    opts = BuildOptions(seed=7, occluders=(f"folder:{tmp_path / 'empty'}",))
    with pytest.raises(AflwOccError, match=r"empty: occluder folder holds no PNG file"):
        build(_plan(src, out, subsets=("nsod",), options=opts, workers=workers))
    assert not out.exists()  # no journal, no store: the output folder this build made is gone again
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(AflwOccError, match="holds no PNG file"):
        build(_plan(src, kept, subsets=("nsod",), options=opts, workers=workers))
    assert kept.is_dir() and not any(kept.iterdir())  # an existing folder stays, empty
