"""The AFLW2000-3D reader: the real release, and every kind of bad input on fabricated files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from aflw_occ.demo import make_source
from aflw_occ.errors import SourceError
from aflw_occ.source import AFLW2000_3D, wrap_degrees


@pytest.mark.real
def test_real_release_loads_completely(real_dataset: AFLW2000_3D, real_eval_dir: Path) -> None:
    ds = real_dataset
    assert len(ds) == 2000 and not ds.skipped
    assert ds.ids[0] == "image00002" and ds.ids[-1] == "image04375"
    names = [Path(n).stem for n in (real_eval_dir / "AFLW2000-3D_crop.list").read_text().split()]
    assert ds.ids == names
    pts = np.load(real_eval_dir / "AFLW2000-3D.pts68.npy")
    for i, sample in enumerate(ds):  # row by row; 3DDFA stored float32 (3 .mat files hold float64 values)
        np.testing.assert_array_equal(sample.pt3d_68.astype(np.float32), pts[i])
        assert sample.pose_para.dtype == np.float64 and sample.exp_para.dtype == np.float64
    reann = np.load(real_eval_dir / "AFLW2000-3D-Reannotated.pts68.npy")
    np.testing.assert_array_equal(ds.reannotated(), np.transpose(reann, (0, 2, 1)))
    np.testing.assert_array_equal(ds.roi_boxes(), np.load(real_eval_dir / "AFLW2000-3D_crop.roi_box.npy"))
    pose = np.load(real_eval_dir / "AFLW2000-3D.pose.npy")
    np.testing.assert_allclose(ds.angles_deg()[:, 1], pose, rtol=1e-5, atol=1e-4)


@pytest.mark.real
def test_real_yaw_bins_and_pose_exclusion(real_dataset: AFLW2000_3D) -> None:
    yaw = np.abs(np.array([s.yaw_deg for s in real_dataset]))
    counts = [(yaw <= 30).sum(), ((yaw > 30) & (yaw <= 60)).sum(), (yaw > 60).sum()]
    assert counts == [1312, 383, 305]
    angles = real_dataset.angles_deg()
    kept = np.all(np.abs(angles) <= 99, axis=1)
    assert kept.sum() == 1969 and (~kept).sum() == 31


@pytest.mark.real
def test_real_quirks(real_dataset: AFLW2000_3D) -> None:
    big = sorted(s.id for s in real_dataset if s.pt2d.shape == (2, 23))
    assert big == ["image01198", "image02899", "image03189"]
    s = real_dataset["image03123"]
    assert s.yaw_deg == pytest.approx(-351.2, abs=0.05)  # raw, unwrapped
    assert s.angles_deg_wrapped[1] == pytest.approx(8.8, abs=0.05)
    assert (np.abs(real_dataset.angles_deg()[:, 1]) > 90).sum() == 7
    img = s.read_image()
    assert img.shape == (450, 450, 3) and img.dtype == np.uint8


def test_wrap_degrees() -> None:
    np.testing.assert_allclose(wrap_degrees([-351.2, 180, -180, 540, 0, 359]), [8.8, 180, 180, 180, 0, -1], atol=1e-9)


@pytest.fixture()
def fake(tmp_path: Path) -> Path:
    return make_source(tmp_path / "src", n=4)


def _ids(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.jpg"))


def test_fake_source_loads(fake: Path) -> None:
    ds = AFLW2000_3D(fake)
    assert ds.ids == _ids(fake) and len(ds) == 4
    assert ds["image00002"].landmarks.shape == (68, 3)
    with pytest.raises(KeyError, match="image99999"):
        ds["image99999"]


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        AFLW2000_3D(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no imageXXXXX"):
        AFLW2000_3D(tmp_path / "empty")


def test_missing_mat_and_missing_image(fake: Path) -> None:
    (fake / "image00002.mat").unlink()
    (fake / "image00004.jpg").unlink()
    with pytest.raises(SourceError, match=r"1 image\(s\) without \.mat, 1 \.mat without image"):
        AFLW2000_3D(fake)
    ds = AFLW2000_3D(fake, strict=False)
    assert len(ds) == 2
    reasons = dict(ds.skipped)
    assert reasons[str(fake / "image00002.jpg")] == "has no matching .mat annotation"
    assert reasons[str(fake / "image00004.mat")] == "has no matching .jpg image"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "image00006.mat").write_bytes((d / "image00006.mat").read_bytes()[:200]),
            "corrupt or truncated",
        ),
        (lambda d: (d / "image00006.mat").write_bytes(b"not a mat file at all" * 10), "corrupt or truncated"),
        (lambda d: (d / "image00006.jpg").write_bytes((d / "image00006.jpg").read_bytes()[:500]), "truncated JPEG"),
        (lambda d: (d / "image00006.jpg").write_bytes(b"GIF89a" + b"\0" * 100), "not a JPEG"),
        (lambda d: (d / "image00006.jpg").write_bytes(b""), "empty or truncated"),
    ],
)
def test_corrupt_files(fake: Path, damage, message: str) -> None:
    damage(fake)
    with pytest.raises(SourceError, match=message) as err:
        AFLW2000_3D(fake)
    assert "image00006" in str(err.value) and "\n" not in str(err.value)
    ds = AFLW2000_3D(fake, strict=False)
    assert "image00006" not in ds and len(ds) == 3 and message in ds.report()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pt3d_68", np.zeros((2, 68)), r"pt3d_68 has shape \(2, 68\), expected \(3, 68\)"),
        ("Pose_Para", np.zeros((1, 6)), r"Pose_Para has shape \(1, 6\)"),
        ("pt2d", np.zeros((2, 5)), r"pt2d has shape \(2, 5\), expected \(2, 21\) or \(2, 23\)"),
        ("pt3d_68", np.full((3, 68), np.nan), "NaN or inf"),
    ],
)
def test_wrong_shapes(fake: Path, field: str, value: np.ndarray, message: str) -> None:
    path = fake / "image00004.mat"
    mat = scipy.io.loadmat(str(path))
    mat[field] = value
    scipy.io.savemat(str(path), {k: v for k, v in mat.items() if not k.startswith("__")})
    with pytest.raises(SourceError, match=message):
        AFLW2000_3D(fake)


def test_missing_field(fake: Path) -> None:
    path = fake / "image00004.mat"
    mat = scipy.io.loadmat(str(path))
    scipy.io.savemat(str(path), {k: v for k, v in mat.items() if not k.startswith("__") and k != "Exp_Para"})
    with pytest.raises(SourceError, match="image00004.mat: field Exp_Para is missing"):
        AFLW2000_3D(fake)


def test_mixed_dtypes_are_cast(fake: Path) -> None:
    path = fake / "image00008.mat"
    mat = scipy.io.loadmat(str(path))
    mat["Exp_Para"] = np.arange(29, dtype=np.uint8)[:, None]
    mat["pt2d"] = np.full((2, 23), -1, dtype=np.int16)
    scipy.io.savemat(str(path), {k: v for k, v in mat.items() if not k.startswith("__")})
    s = AFLW2000_3D(fake)["image00008"]
    assert s.exp_para.dtype == np.float64 and s.exp_para[3] == 3.0
    assert s.pt2d.shape == (2, 23) and s.pt2d.dtype == np.float64


def test_eval_dir_alignment(fake: Path, tmp_path: Path) -> None:
    ev = tmp_path / "eval"
    ev.mkdir()
    ids = _ids(fake)
    (ev / "AFLW2000-3D_crop.list").write_text("".join(f"{i}.jpg\n" for i in ids))
    reann = np.arange(len(ids) * 2 * 68, dtype=np.float32).reshape(len(ids), 2, 68)
    np.save(ev / "AFLW2000-3D-Reannotated.pts68.npy", reann)
    np.save(ev / "AFLW2000-3D_crop.roi_box.npy", np.zeros((len(ids), 3)))
    with pytest.raises(SourceError, match=r"roi_box.npy: shape \(4, 3\), expected \(4, 4\)"):
        AFLW2000_3D(fake, ev)
    np.save(ev / "AFLW2000-3D_crop.roi_box.npy", np.ones((len(ids), 4)))
    ds = AFLW2000_3D(fake, ev)
    np.testing.assert_array_equal(ds[ids[1]].reannotated_68, reann[1])
    shutil.rmtree(ev)
    ev.mkdir()
    with pytest.raises(SourceError, match="name list is missing"):
        AFLW2000_3D(fake, ev)
