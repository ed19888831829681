"""The prediction-file contract: round trips, atomic writes, one-line errors naming file and id."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from aflw_occ.errors import PredictionError
from aflw_occ.predictions import FORMAT_VERSION, Predictions, match_ids, read_predictions, write_predictions


def _ids(n: int) -> np.ndarray:
    return np.array([f"image{i:05d}" for i in range(2, 2 + 2 * n, 2)])


def _arrays(n: int = 6, dims: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return _ids(n), rng.uniform(0, 450, size=(n, 68, dims)), rng.uniform(-90, 90, size=(n, 3))


def _one_line(exc: pytest.ExceptionInfo, *parts: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    for p in parts:
        assert p in msg, msg


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".hdf5", ".csv"])
@pytest.mark.parametrize("dims", [2, 3])
def test_round_trip(tmp_path: Path, suffix: str, dims: int) -> None:
    ids, lm, ang = _arrays(dims=dims)
    path = write_predictions(tmp_path / f"p{suffix}", ids, lm, angles_deg=ang)
    p = read_predictions(path)
    assert p.ids.tolist() == ids.tolist()
    np.testing.assert_array_equal(p.landmarks, lm)
    np.testing.assert_array_equal(p.angles_deg, ang)
    assert p.dims == dims and len(p) == 6 and len(p.sha256) == 64
    assert [f.name for f in tmp_path.iterdir()] == [f"p{suffix}"]  # no temporary file left behind


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_dense_and_angles_only(tmp_path: Path, suffix: str) -> None:
    ids, _, ang = _arrays()
    dense = np.random.default_rng(1).uniform(size=(6, 40, 3))
    p = read_predictions(write_predictions(tmp_path / f"d{suffix}", ids, None, dense=dense))
    np.testing.assert_array_equal(p.dense, dense)
    assert p.landmarks is None
    p = read_predictions(write_predictions(tmp_path / f"a{suffix}", ids, None, angles_deg=ang))
    np.testing.assert_array_equal(p.angles_deg, ang)


def test_versioned_files(tmp_path: Path) -> None:
    ids, lm, _ = _arrays()
    write_predictions(tmp_path / "p.npz", ids, lm)
    write_predictions(tmp_path / "p.h5", ids, lm)
    with np.load(tmp_path / "p.npz") as z:
        assert int(z["format_version"]) == FORMAT_VERSION
    with h5py.File(tmp_path / "p.h5") as f:
        assert int(f.attrs["format_version"]) == FORMAT_VERSION


def test_hand_written_hdf5_with_byte_ids(tmp_path: Path) -> None:
    ids, lm, ang = _arrays(dims=3)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.attrs["format_version"] = "1"
        f["ids"] = ids.astype("S")
        f["landmarks"] = lm.astype(np.float32)
    p = read_predictions(tmp_path / "x.h5")
    assert p.ids.tolist() == ids.tolist() and p.landmarks.dtype == np.float64
    np.testing.assert_array_equal(p.landmarks, lm.astype(np.float32))


def test_writer_is_atomic_and_validates_first(tmp_path: Path) -> None:
    ids, lm, _ = _arrays()
    target = tmp_path / "p.npz"
    write_predictions(target, ids, lm)
    before = target.read_bytes()
    bad = lm.copy()
    bad[3, 5, 0] = np.nan
    with pytest.raises(PredictionError) as exc:
        write_predictions(target, ids, bad)
    _one_line(exc, str(target), ids[3], "NaN")
    assert target.read_bytes() == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["p.npz"]


@pytest.mark.parametrize(
    ("mutate", "parts"),
    [
        (
            lambda ids, lm, a: (np.array([*ids[:3], ids[1], *ids[4:]]), lm, a),
            ["duplicate id image00004", "rows 1 and 3"],
        ),
        (lambda ids, lm, a: (ids, lm[:, :67], a), ["landmarks have shape (6, 67, 2)"]),
        (lambda ids, lm, a: (ids, lm[:5], a), ["landmarks have shape (5, 68, 2)", "N = 6"]),
        (lambda ids, lm, a: (ids, lm, a[:, :2]), ["angles_deg have shape (6, 2)"]),
        (lambda ids, lm, a: (ids, np.where(np.arange(6)[:, None, None] == 4, np.inf, lm), a), ["image00010", "inf"]),
        (lambda ids, lm, a: (ids, lm, np.where(np.arange(6)[:, None] == 2, np.nan, a)), ["angles_deg", "image00006"]),
        (lambda ids, lm, a: (np.array([*ids[:5], ""]), lm, a), ["empty id at row 5"]),
        (lambda ids, lm, a: (ids, np.where(np.arange(6)[:, None, None] == 2, 1e300, lm), a), ["image00006", "±1e+06"]),
        (lambda ids, lm, a: (ids, lm.astype(str), a), ["landmarks is not numeric"]),
    ],
)
def test_invalid_arrays(tmp_path: Path, mutate, parts: list[str]) -> None:
    ids, lm, ang = mutate(*_arrays())
    with pytest.raises(PredictionError) as exc:
        write_predictions(tmp_path / "p.npz", ids, lm, angles_deg=ang)
    _one_line(exc, str(tmp_path / "p.npz"), *parts)
    assert not any(tmp_path.iterdir())


def test_nothing_given_and_unknown_suffix(tmp_path: Path) -> None:
    ids, lm, _ = _arrays()
    with pytest.raises(PredictionError, match="none of landmarks"):
        write_predictions(tmp_path / "p.npz", ids, None)
    with pytest.raises(PredictionError, match="unknown prediction file type '.txt'"):
        write_predictions(tmp_path / "p.txt", ids, lm)
    (tmp_path / "q.txt").write_text("x")
    with pytest.raises(PredictionError, match="unknown prediction file type"):
        read_predictions(tmp_path / "q.txt")
    with pytest.raises(PredictionError, match="does not exist"):
        read_predictions(tmp_path / "missing.npz")


def test_bad_npz_files(tmp_path: Path) -> None:
    ids, lm, _ = _arrays()
    np.savez(tmp_path / "nover.npz", ids=ids, landmarks=lm)  # plain np.savez: version 1 implied, and said so
    plain = read_predictions(tmp_path / "nover.npz")
    np.testing.assert_array_equal(plain.landmarks, lm)
    assert plain.notes == ("no format_version: version 1 implied",) and not plain.implied_ids
    np.savez(tmp_path / "v2.npz", ids=ids, landmarks=lm, format_version=2)
    with pytest.raises(PredictionError, match="format_version 2 is not supported"):
        read_predictions(tmp_path / "v2.npz")
    np.savez(tmp_path / "obj.npz", ids=np.array(ids.tolist(), dtype=object), landmarks=lm, format_version=1)
    with pytest.raises(PredictionError, match="stored as Python objects"):
        read_predictions(tmp_path / "obj.npz")
    np.savez(tmp_path / "extra.npz", ids=ids, landmarks=lm, format_version=1, scores=np.ones(6))
    with pytest.raises(PredictionError, match="unknown array"):
        read_predictions(tmp_path / "extra.npz")
    np.savez(tmp_path / "noids.npz", landmarks=lm, format_version=1)  # no ids: the release's sorted order
    noids = read_predictions(tmp_path / "noids.npz")
    assert noids.implied_ids and len(noids) == 6 and "sorted order" in noids.notes[0]
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "v2.npz").read_bytes()[:100])
    with pytest.raises(PredictionError, match="not a readable .npz"):
        read_predictions(tmp_path / "trunc.npz")
    (tmp_path / "trunc.h5").write_bytes(b"\x89HDF\r\n" + b"0" * 50)
    with pytest.raises(PredictionError, match="not a readable HDF5"):
        read_predictions(tmp_path / "trunc.h5")


def test_bad_csv_files(tmp_path: Path) -> None:
    ids, lm, _ = _arrays()
    good = write_predictions(tmp_path / "p.csv", ids, lm).read_text().splitlines()
    cases = {
        "header": (["id,a,b", *good[1:]], "is not id,x0,y0"),
        "short": ([good[0], good[1], good[2].rsplit(",", 1)[0], *good[3:]], "row of id image00004 has 136 columns"),
        "text": (
            [good[0], good[1], good[2], good[3].replace(",", ",abc,", 1).rsplit(",", 1)[0], *good[4:]],
            "row of id image00006 holds a non-numeric value",
        ),
        "nan": (
            [good[0], good[1], good[2].replace(",", ",nan,", 1).rsplit(",", 1)[0], *good[3:]],
            "landmarks of id image00004 hold NaN",
        ),
        "empty": ([], "empty CSV"),
    }
    for name, (lines, part) in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_text("\n".join(lines) + ("\n" if lines else ""))
        with pytest.raises(PredictionError) as exc:
            read_predictions(path)
        _one_line(exc, str(path), part)
    with pytest.raises(PredictionError, match="cannot be written to CSV"):
        write_predictions(tmp_path / "c.csv", np.array(["a,b", *ids[1:]]), lm)


def test_in_memory_predictions_hash() -> None:
    ids, lm, _ = _arrays()
    a = Predictions(ids=ids, landmarks=lm)
    b = Predictions(ids=ids, landmarks=lm.copy())
    c = Predictions(ids=ids, landmarks=lm + 1e-9)
    assert a.sha256 == b.sha256 != c.sha256
    assert a.sha256.startswith("in-memory:")


def test_match_ids() -> None:
    gt_ids = _ids(6)
    pred_ids = gt_ids[[5, 3, 1, 0, 2, 4]]
    m = match_ids(pred_ids, gt_ids, allow_missing=False, source="f.npz")
    assert m.gt_rows.tolist() == list(range(6))
    assert pred_ids[m.pred_rows].tolist() == gt_ids.tolist()
    with pytest.raises(PredictionError) as exc:
        match_ids(np.array([*gt_ids[:5], "image99999"]), gt_ids, allow_missing=True, source="f.npz")
    _one_line(exc, "f.npz", "id image99999 is not in the ground truth", "1 unknown")
    with pytest.raises(PredictionError) as exc:
        match_ids(gt_ids[[0, 2, 4]], gt_ids, allow_missing=False, source="f.npz")
    _one_line(exc, "f.npz", "3 id(s)", "first: image00004", "--allow-missing")
    m = match_ids(gt_ids[[4, 0, 2]], gt_ids, allow_missing=True, source="f.npz")
    assert m.missing == ["image00004", "image00008", "image00012"]
    assert m.gt_rows.tolist() == [0, 2, 4] and m.pred_rows.tolist() == [1, 2, 0]


# The contract for 3DDFA / SynergyNet users --------------------------------------------------------------------


@pytest.mark.parametrize("dims", [2, 3])
def test_both_axis_orders_and_bare_npy(tmp_path: Path, dims: int) -> None:
    ids, lm, _ = _arrays(dims=dims)
    tddfa = lm.transpose(0, 2, 1)  # (N, 2|3, 68), 3DDFA's layout
    np.savez(tmp_path / "t.npz", ids=ids, landmarks=tddfa)
    p = read_predictions(tmp_path / "t.npz")
    np.testing.assert_array_equal(p.landmarks, lm)
    assert any(f"(N, {dims}, 68)" in n for n in p.notes)
    np.save(tmp_path / "t.npy", tddfa)
    q = read_predictions(tmp_path / "t.npy")
    np.testing.assert_array_equal(q.landmarks, lm)
    assert q.implied_ids and len(q) == 6 and len(q.sha256) == 64  # the file's sha256
    np.save(tmp_path / "same.npy", lm)
    np.testing.assert_array_equal(read_predictions(tmp_path / "same.npy").landmarks, lm)


def test_bad_npy_files(tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.zeros((6, 136)))
    with pytest.raises(PredictionError) as exc:
        read_predictions(tmp_path / "flat.npy")
    _one_line(exc, "flat.npy", "(N, 68, 2|3) or (N, 2|3, 68)", "got shape (6, 136)")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(PredictionError, match="obj.npy: holds Python objects"):
        read_predictions(tmp_path / "obj.npy")
    lm = np.zeros((6, 68, 2))
    lm[3, 5, 0] = np.nan
    np.save(tmp_path / "nan.npy", lm)
    with pytest.raises(PredictionError, match="landmarks of row 3 hold NaN"):
        read_predictions(tmp_path / "nan.npy")
    with pytest.raises(PredictionError, match="a .npy holds no ids"):
        write_predictions(tmp_path / "w.npy", _ids(6), lm)


def test_rotation_and_pose_decoding_round_trip(tmp_path: Path) -> None:
    ids, lm, ang = _arrays()
    rot = np.broadcast_to(np.eye(3), (6, 3, 3)).copy()
    for suffix in (".npz", ".h5"):
        path = write_predictions(tmp_path / f"r{suffix}", ids, lm, ang, rotation=rot, pose_decoding="synergynet")
        p = read_predictions(path)
        np.testing.assert_array_equal(p.rotation, rot)
        assert p.pose_decoding == "synergynet"
    with pytest.raises(PredictionError, match="pose_decoding 'euler' is unknown"):
        write_predictions(tmp_path / "x.npz", ids, lm, ang, pose_decoding="euler")
    with pytest.raises(PredictionError, match=r"rotation have shape \(6, 3, 4\)"):
        write_predictions(tmp_path / "x.npz", ids, lm, rotation=np.zeros((6, 3, 4)))
    with pytest.raises(PredictionError, match="CSV prediction files cannot hold"):
        write_predictions(tmp_path / "x.csv", ids, lm, rotation=rot)


def test_crop_frame(tmp_path: Path) -> None:
    from aflw_occ.predictions import CropFrame

    ids, lm, _ = _arrays(dims=3)
    boxes = np.stack([np.arange(6) * 10.0, np.arange(6) * 5.0, np.arange(6) * 10.0 + 240, np.arange(6) * 5.0 + 240], 1)
    np.save(tmp_path / "AFLW2000-3D_crop.roi_box.npy", boxes)
    (tmp_path / "AFLW2000-3D_crop.list").write_text("".join(f"{i}.jpg\n" for i in ids))
    frame = CropFrame.load(tmp_path / "AFLW2000-3D_crop.roi_box.npy")
    crop = lm / 4.0  # 0..112 in a 120 crop
    # 3DDFA's _predict_vertices, point by point
    want = np.empty_like(crop)
    for i in range(6):
        sx, sy, ex, ey = boxes[i]
        kx, ky = (ex - sx) / 120, (ey - sy) / 120
        for k in range(68):
            want[i, k] = [crop[i, k, 0] * kx + sx, crop[i, k, 1] * ky + sy, crop[i, k, 2] * (kx + ky) / 2]
    shuffled = Predictions(ids=ids[::-1], landmarks=crop[::-1])
    np.testing.assert_allclose(frame.to_image(shuffled).landmarks, want[::-1], rtol=1e-12)
    implied = Predictions(ids=None, landmarks=crop)
    np.testing.assert_allclose(frame.to_image(implied).landmarks, want, rtol=1e-12)
    with pytest.raises(PredictionError, match="id image99999 has no crop box"):
        frame.to_image(Predictions(ids=np.array(["image99999"]), landmarks=crop[:1]))
    with pytest.raises(PredictionError, match="5 rows in the release's order, but"):
        frame.to_image(Predictions(ids=None, landmarks=crop[:5]))
    with pytest.raises(PredictionError, match="name list of the crop boxes does not exist"):
        CropFrame.load(tmp_path / "AFLW2000-3D_crop.roi_box.npy", tmp_path / "none.list")
