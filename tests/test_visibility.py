"""Visible rate v, NOD selection, landmark flags, and the fairness of the default segmenter on the real data."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from aflw_occ.errors import AflwOccError
from aflw_occ.face_mesh import load_face_mesh
from aflw_occ.landmark_patches import landmarks_under
from aflw_occ.visibility import (
    PAPER_NOD_COUNT,
    VisibilityWarning,
    compute_all,
    fairness_shares,
    select_nod,
    visible_fraction,
    visible_rate,
)


class _Const:
    """A fabricated segmenter: every pixel skin (or none), or a fixed mask."""

    def __init__(self, value: bool | np.ndarray) -> None:
        self.name = "const"
        self.value = value

    def __call__(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        if isinstance(self.value, np.ndarray):
            return self.value
        return np.full(image.shape[:2], self.value, dtype=bool)


def test_visible_fraction_and_flags() -> None:
    p = np.zeros((10, 10), bool)
    p[2:8, 2:8] = True  # 36 px
    f = np.zeros((10, 10), bool)
    f[2:8, 2:5] = True  # 18 of them
    f[0, 0] = True  # skin outside P does not count
    assert visible_fraction(p, f) == pytest.approx(0.5)
    assert np.isnan(visible_fraction(np.zeros((3, 3), bool), f[:3, :3]))
    lm = np.zeros((68, 2))
    lm[:] = [3 + 1, 3 + 1]  # release coords → pixel (3, 3): in P and in F → not occluded
    lm[1] = [6 + 1, 6 + 1]  # in P, not in F → occluded
    lm[2] = [0 + 1, 9 + 1]  # outside P
    lm[3] = [-50, 4]  # outside the image
    fl = landmarks_under(p & ~f, lm)  # inside P, outside F
    assert fl.shape == (68,) and fl.dtype == bool
    assert fl[1] and not fl[0] and not fl[2] and not fl[3] and fl.sum() == 1


def test_select_nod_rule() -> None:
    v = np.array([0.5, 0.59, 0.6, 0.3, np.nan, 0.2, 0.1])
    yaw = np.array([0.0, 60.0, 10.0, 61.0, 0.0, -351.2, -60.0])  # -351.2° wraps to 8.8°
    np.testing.assert_array_equal(select_nod(v, yaw), [True, True, False, False, False, True, True])
    np.testing.assert_array_equal(select_nod(v, yaw, max_visible=0.55), [True, False, False, False, False, True, True])


@pytest.fixture(scope="module")
def mesh(real_source):
    return load_face_mesh(real_source).prepare()


@pytest.mark.real
def test_visible_rate_extremes_and_outside_warning(mesh, real_dataset) -> None:
    s = real_dataset["image00002"]
    img = s.read_image()
    full = visible_rate(img, s, mesh, _Const(True))
    none = visible_rate(img, s, mesh, _Const(False))
    assert full.v == 1.0 and none.v == 0.0 and not full.warnings
    assert full.region.sum() > 5000 and not full.landmark_occluded.any()
    # landmarks inside P are all flagged when nothing is skin
    assert none.landmark_occluded.sum() >= 60
    half = full.region.copy()
    half[:, : 225] = False
    r = visible_rate(img, s, mesh, _Const(half))
    assert r.v == pytest.approx(half.sum() / full.region.sum())
    # shift the face 150 px to the left (pose and landmarks together): part of it leaves the image
    shifted = dataclasses.replace(
        s,
        pose_para=s.pose_para + np.array([0, 0, 0, -150.0, 0, 0, 0]),
        pt3d_68=s.pt3d_68 - np.array([[150.0], [0.0], [0.0]]),
    )
    out = visible_rate(img, shifted, mesh, _Const(True))
    assert out.outside_fraction > 0.05 and out.v == 1.0
    assert len(out.warnings) == 1 and "image00002" in out.warnings[0] and "outside" in out.warnings[0]
    assert 0 < out.region.sum() < full.region.sum()
    gone = dataclasses.replace(
        s,
        pose_para=s.pose_para + np.array([0, 0, 0, 2000.0, 0, 0, 0]),
        pt3d_68=s.pt3d_68 + np.array([[2000.0], [0.0], [0.0]]),
    )
    res = visible_rate(img, gone, mesh, _Const(True))
    assert np.isnan(res.v) and any("undefined" in m for m in res.warnings)
    # bad inputs: a grey 2-D image, a segmenter answering with a mask of the wrong size
    with pytest.raises(AflwOccError, match="image00002.*image must be"):
        visible_rate(img[..., 0], s, mesh, _Const(True))
    with pytest.raises(AflwOccError, match="image00002.*returned a"):
        visible_rate(img, s, mesh, _Const(np.zeros((10, 10), bool)))


@pytest.mark.real
def test_compute_all_is_independent_of_worker_count(mesh, real_dataset) -> None:
    subset = [real_dataset[i] for i in range(0, 2000, 100)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VisibilityWarning)
        one = compute_all(subset, mesh, "adaptive", workers=1)
        two = compute_all(subset, mesh, "adaptive", workers=2, chunk=3)
    np.testing.assert_array_equal(one.v, two.v)
    np.testing.assert_array_equal(one.landmark_occluded, two.landmark_occluded)
    np.testing.assert_array_equal(one.ita, two.ita)
    assert one.ids == two.ids and len(one.v) == 20
    frame = one.to_frame()
    assert list(frame["id"]) == one.ids and frame["selected"].dtype == bool


# --- the whole release with the default segmenter: computed once, shared by the checks below -------------
@pytest.fixture(scope="module")
def table(mesh, real_dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VisibilityWarning)
        return compute_all(real_dataset, mesh, "adaptive", workers=2)


@pytest.mark.real
def test_all_images_have_a_visible_rate(table) -> None:
    assert len(table.v) == 2000
    assert np.isfinite(table.v).all() and (table.v >= 0).all() and (table.v <= 1).all()
    assert table.grayscale.sum() == 327
    assert np.isnan(table.ita[table.grayscale]).all() and np.isfinite(table.ita[~table.grayscale]).all()
    # unoccluded near-frontal faces dominate AFLW2000-3D: the median visible rate is high
    assert np.median(table.v) > 0.7


@pytest.mark.real
def test_nod_count_is_near_the_paper(table) -> None:
    n = int(table.selected.sum())
    assert 0.75 * PAPER_NOD_COUNT <= n <= 1.25 * PAPER_NOD_COUNT, n


@pytest.mark.real
def test_selection_is_fair_to_grey_and_dark_faces(table) -> None:
    sh = fairness_shares(table)
    assert sh["grey_all"] == pytest.approx(327 / 2000)
    assert sh["grey_nod"] <= 1.5 * sh["grey_all"], sh
    assert sh["dark_all"] == pytest.approx(0.2, abs=0.01)
    assert sh["dark_nod"] <= 1.5 * sh["dark_all"], sh
    # independent recomputation of the dark-fifth share
    colour = ~table.grayscale
    cut = np.percentile(table.ita[colour], 20)
    dark = colour & (table.ita <= cut)
    sel = table.selected
    assert sh["dark_nod"] == pytest.approx((sel & dark).sum() / (sel & colour).sum())
