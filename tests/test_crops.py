"""Crop rules and crop geometry, against independent reference computations written here."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from aflw_occ.crops import (
    CropError,
    crop_batch,
    crop_boxes,
    crop_resize,
    crop_to_image,
    image_to_crop,
    landmark_box,
    scaled_box,
    tddfa_v2_box,
)


def test_landmark_box_is_xy_extent() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 400, size=(3, 68, 3))
    box = landmark_box(pts)
    for i in range(3):
        assert box[i].tolist() == [pts[i, :, 0].min(), pts[i, :, 1].min(), pts[i, :, 0].max(), pts[i, :, 1].max()]


def test_tddfa_v2_box_by_hand() -> None:
    # face box l=100, t=120, r=200, b=260: s = (100 + 140)/2 = 120; centre (150, 190 + 16.8); side 189.6
    box = tddfa_v2_box(np.array([[100.0, 120.0, 200.0, 260.0]]))[0]
    np.testing.assert_allclose(box, [150 - 94.8, 206.8 - 94.8, 150 + 94.8, 206.8 + 94.8])


def test_scaled_box_sadrnet_rule() -> None:
    # tight box 10..110 × 20..100: w=100, h=80, side = int(1.5·90) = 135, centre (60, 60)
    box = scaled_box(np.array([[10.0, 20.0, 110.0, 100.0]]))[0]
    np.testing.assert_allclose(box, [60 - 67.5, 60 - 67.5, 60 + 67.5, 60 + 67.5])
    exact = scaled_box(np.array([[0.0, 0.0, 11.0, 10.0]]), integer_side=False)[0]
    np.testing.assert_allclose(exact[2] - exact[0], 15.75)


def test_crop_boxes_rules_and_errors() -> None:
    roi = np.array([[1.0, 2.0, 3.0, 4.0]])
    face = np.array([[100.0, 120.0, 200.0, 260.0]])
    np.testing.assert_array_equal(crop_boxes("3ddfa", roi_boxes=roi, face_boxes=None), roi)
    np.testing.assert_array_equal(crop_boxes("3ddfa-v2", roi_boxes=None, face_boxes=face), tddfa_v2_box(face))
    np.testing.assert_array_equal(crop_boxes("landmarks-1.5", roi_boxes=None, face_boxes=face), scaled_box(face))
    with pytest.raises(CropError, match="roi boxes"):
        crop_boxes("3ddfa", roi_boxes=None, face_boxes=face)
    with pytest.raises(CropError, match="unknown crop rule 'square'"):
        crop_boxes("square", roi_boxes=roi, face_boxes=face)


def _reference_3ddfa_crop(img: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Pad the image by a wide zero border, slice the rounded box, resize: the 3DDFA crop, written differently."""
    pad = 600
    big = np.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    sx, sy, ex, ey = (int(round(v)) for v in box)
    return cv2.resize(big[sy + pad : ey + pad, sx + pad : ex + pad], (size, size), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize(
    "box",
    [[40.0, 50.0, 160.0, 170.0], [-30.4, -12.6, 150.2, 167.9], [100.0, 90.0, 260.0, 250.0], [-5.0, -5.0, 300, 300]],
)
def test_crop_3ddfa_matches_reference(box: list[float]) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(200, 220, 3), dtype=np.uint8)
    b = np.array(box)
    got = crop_resize(img, b, 120)
    np.testing.assert_array_equal(got, _reference_3ddfa_crop(img, b, 120))


def test_crop_outside_is_zero() -> None:
    img = np.full((100, 100, 3), 200, np.uint8)
    out = crop_resize(img, np.array([-100.0, -100.0, 100.0, 100.0]), 100)
    assert out[:45, :45].max() == 0  # top-left quarter is outside the image
    assert out[55:, 55:].min() == 200


def test_affine_crop_samples_linear_image_exactly() -> None:
    # image value = x column index (0..199): bilinear sampling of a linear function is exact
    ramp = np.tile(np.arange(200, dtype=np.float32), (200, 1))
    img = np.dstack([ramp, ramp, ramp])
    box = np.array([20.0, 30.0, 140.0, 150.0])  # 120 px → 60 px: scale 2
    out = crop_resize(img, box, 60, method="affine")
    j = np.arange(60)
    expected = box[0] + (j + 0.5) * 2.0 - 0.5
    np.testing.assert_allclose(out[10, :, 0], expected, atol=0.05)


def test_crop_to_image_round_trip_and_formula() -> None:
    rng = np.random.default_rng(2)
    pts = rng.uniform(0, 120, size=(4, 68, 3))
    boxes = np.array([[10, 20, 130, 140], [-5, -5, 235, 235], [0, 0, 120, 120], [50.5, 60.25, 170.5, 200.25]])
    img_pts = crop_to_image(pts, boxes, 120)
    sx = (boxes[3, 2] - boxes[3, 0]) / 120
    sy = (boxes[3, 3] - boxes[3, 1]) / 120
    np.testing.assert_allclose(img_pts[3, :, 0], pts[3, :, 0] * sx + boxes[3, 0])
    np.testing.assert_allclose(img_pts[3, :, 1], pts[3, :, 1] * sy + boxes[3, 1])
    np.testing.assert_allclose(img_pts[3, :, 2], pts[3, :, 2] * (sx + sy) / 2)
    np.testing.assert_allclose(image_to_crop(img_pts, boxes, 120), pts, atol=1e-9)


def test_bad_boxes_name_the_sample() -> None:
    img = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(CropError, match="image00042: invalid crop box"):
        crop_batch([img], np.array([[np.nan, 0, 10, 10]]), 16, ids=["image00042"])
    with pytest.raises(CropError, match="sample 0: invalid crop box"):
        crop_batch([img], np.array([[10.0, 0, 5, 10]]), 16)
    with pytest.raises(CropError, match="2 images but 1 crop boxes"):
        crop_batch([img, img], np.array([[0.0, 0, 5, 10]]), 16)
    with pytest.raises(CropError, match="unknown crop method"):
        crop_resize(img, np.array([0.0, 0, 5, 10]), 16, method="nearest")
