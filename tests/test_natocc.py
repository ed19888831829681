"""NatOcc compositing: pixels outside the mask untouched, determinism, size / placement / pointing, colour transfer,
blending, grey sources — against references computed here; real AFLW2000-3D images with the real stamps."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from aflw_occ.builders.compositing import (
    YCC,
    NatOccConfig,
    chroma_spread,
    composite,
    content_box,
    transfer_matrix,
)

OFF = NatOccConfig(jitter_p=0.0, transfer_p=0.0, bc_p=0.0, blur_p=0.0, jpeg_p=0.0)


def face_scene(h: int = 240, w: int = 260) -> tuple[np.ndarray, np.ndarray]:
    """A textured RGB image and an elliptical face region."""
    rng = np.random.default_rng(5)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (7, 7), 0)
    region = np.zeros((h, w), np.uint8)
    cv2.ellipse(region, (130, 120), (60, 80), 0, 0, 360, 1, -1)
    return img, region.astype(bool)


def square(size: int = 40, colour: tuple[int, int, int] = (250, 10, 10)) -> np.ndarray:
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[...] = (*colour, 255)
    return rgba


def bar(length: int = 120, width: int = 12) -> np.ndarray:
    """A horizontal bar: long axis at 0°."""
    rgba = np.zeros((width, length, 4), np.uint8)
    rgba[...] = (30, 200, 30, 255)
    return rgba


def test_outside_mask_is_source_and_deterministic() -> None:
    img, region = face_scene()
    for seed in range(12):
        a = composite(img, region, square(), np.random.default_rng(seed))
        b = composite(img, region, square(), np.random.default_rng(seed))
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.params == b.params
        np.testing.assert_array_equal(a.image[~a.mask], img[~a.mask])
        assert a.mask.any() and a.mask.dtype == bool and a.mask.shape == img.shape[:2]
        json.dumps(a.params)
    c = composite(img, region, square(), np.random.default_rng(99))
    assert not np.array_equal(c.image, a.image)


def test_size_and_placement_follow_the_face_box() -> None:
    img, region = face_scene()
    ys, xs = np.nonzero(region)
    box_area = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
    for seed in range(6):
        res = composite(img, region, square(50), np.random.default_rng(seed), config=OFF)
        p = res.params
        assert 0.5 <= p["area_fraction"] <= 1.0
        x0, y0, x1, y1 = p["face_box"]
        assert x0 <= p["centre"][0] <= x1 and y0 <= p["centre"][1] <= y1
        rows, cols = np.nonzero(res.mask)
        inside = rows.min() > 0 and cols.min() > 0 and rows.max() < img.shape[0] - 1 and cols.max() < img.shape[1] - 1
        if inside:  # the mask box of a square is its scaled side (± bilinear support + erosion/blur rim)
            side = np.sqrt(p["area_fraction"] * box_area)
            assert abs((cols.max() - cols.min() + 1) - side) <= 5
            assert abs((rows.max() - rows.min() + 1) - side) <= 5
            assert abs(cols.mean() - p["centre"][0]) < 1.0 and abs(rows.mean() - p["centre"][1]) < 1.0


def test_interior_is_occluder_colour_and_edge_is_a_mix() -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    img[:] = (40, 30, 40)  # a colour image (a grey one would turn the occluder grey)
    region = np.zeros((200, 200), bool)
    region[60:140, 60:140] = True
    res = composite(img, region, square(40, (250, 200, 10)), np.random.default_rng(1), config=OFF)
    # bilinear upscaling (×1.7 here) + erode 3×3 + Gaussian 5×5 + edge blur: a ramp of at most 6 px
    inner = cv2.erode(res.mask.astype(np.uint8), np.ones((13, 13), np.uint8)).astype(bool)
    assert inner.any()
    assert np.abs(res.image[inner].astype(int) - (250, 200, 10)).max() <= 1  # uint8 premultiplication rounding
    assert (res.image[inner] == (250, 200, 10)).all(axis=1).mean() > 0.9
    rim = res.mask & ~inner
    vals = res.image[rim].astype(int)
    # rim pixels are α-mixes of occluder and face: each channel between the two colours
    assert (vals[:, 0] >= 40).all() and (vals[:, 0] <= 250).all() and (vals[:, 2] <= 40).all()
    assert (vals[:, 1] >= 30).all() and (vals[:, 1] <= 200).all() and (vals[:, 2] >= 10).all()
    # α > 0 exactly where pixels changed or could have changed: the rim is narrow (erode 3×3 + Gaussian 5×5)
    dist = cv2.distanceTransform(res.mask.astype(np.uint8), cv2.DIST_L2, 3)
    assert dist[rim].max() <= 7


def test_pointing_objects_aim_at_the_face_centre() -> None:
    img, region = face_scene()
    m = cv2.moments(region.astype(np.uint8), binaryImage=True)
    fc = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]])
    for seed in range(8):
        res = composite(img, region, bar(), np.random.default_rng(seed), points_at_face=True, config=OFF)
        c = np.array(res.params["centre"])
        if np.hypot(*(fc - c)) < 15:
            continue  # too close to the face centre for the direction to matter
        rows, cols = np.nonzero(res.mask)
        if rows.min() == 0 or cols.min() == 0 or rows.max() == img.shape[0] - 1 or cols.max() == img.shape[1] - 1:
            continue  # clipped at the border: the axis estimate is biased
        mm = cv2.moments(res.mask.astype(np.uint8), binaryImage=True)
        axis = 0.5 * np.arctan2(2 * mm["mu11"], mm["mu20"] - mm["mu02"])
        d = np.array([np.cos(axis), np.sin(axis)])
        v = fc - c
        # distance of the face centre from the line through c along the object's axis
        assert abs(d[0] * v[1] - d[1] * v[0]) < 3.0, (seed, res.params["pointing_rotation_deg"])
        expected = np.degrees(np.arctan2(v[1], v[0])) + (180.0 if c[1] > fc[1] else 0.0)
        got = res.params["pointing_rotation_deg"]
        assert abs((got - expected + 180.0) % 360.0 - 180.0) < 1e-6


def test_transfer_matrix_matches_ycbcr_formula() -> None:
    rng = np.random.default_rng(2)
    px = rng.uniform(0, 255, (500, 3))
    ycc_m = np.array(YCC)
    ycc = px @ ycc_m.T
    mo, so = ycc.mean(0), ycc.std(0)
    mf, sf = np.array([150.0, -10.0, 20.0]), np.array([30.0, 5.0, 5.0])
    t_y, t_c, k = 0.6, 0.2, 0.5
    A = np.array(transfer_matrix(list(mo), list(so), list(mf), list(sf), t_y, t_c, k))
    out = px @ A[:, :3].T + A[:, 3]
    got = out @ ycc_m.T
    g = 1 + t_y * (np.clip(sf[0] / so[0], 0.5, 2) - 1)
    ref_y = mo[0] + t_y * (mf[0] - mo[0]) + (ycc[:, 0] - mo[0]) * g
    tc = t_c + (1 - t_c) * (1 - k)
    ref_c = mo[1:] + k * (ycc[:, 1:] - mo[1:]) + tc * (mf[1:] - mo[1:])
    np.testing.assert_allclose(got[:, 0], ref_y, atol=1e-6)
    np.testing.assert_allclose(got[:, 1:], ref_c, atol=1e-6)


def test_colour_transfer_moves_the_occluder_toward_the_face() -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    img[:] = (60, 50, 45)  # a dark face
    img[::2] = (70, 55, 50)
    region = np.zeros((200, 200), bool)
    region[50:150, 50:150] = True
    occ = square(60, (240, 240, 230))
    occ[::3, :, :3] = (220, 225, 230)
    cfg = NatOccConfig(jitter_p=0.0, transfer_p=1.0, bc_p=0.0, blur_p=0.0, jpeg_p=0.0)
    res = composite(img, region, occ, np.random.default_rng(4), config=cfg)
    core = cv2.erode(res.mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    y_out = (res.image[core].astype(float) @ YCC[0]).mean()
    y_occ = (occ[..., :3].reshape(-1, 3).astype(float) @ YCC[0]).mean()
    y_face = (img[region].astype(float) @ YCC[0]).mean()
    t = res.params["colour_transfer"]["t_y"]
    assert abs(y_out - (y_occ + t * (y_face - y_occ))) < 2.0  # the mean luma moved by t_Y of the gap


def test_grey_source_gives_grey_occluder_and_chroma_spread() -> None:
    img, region = face_scene()
    grey = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    assert chroma_spread(grey) < 1e-3 and chroma_spread(img) > 0
    for seed in range(4):
        res = composite(grey, region, square(50, (250, 10, 10)), np.random.default_rng(seed))
        assert res.params["grey_source"]
        px = res.image[res.mask].astype(int)
        assert np.abs(px[:, 0] - px[:, 1]).max() <= 3 and np.abs(px[:, 1] - px[:, 2]).max() <= 3


def test_empty_or_mismatched_region_is_an_error() -> None:
    img, region = face_scene()
    with pytest.raises(ValueError, match="face region is empty"):
        composite(img, np.zeros_like(region), square(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="does not match image"):
        composite(img, region[:10], square(), np.random.default_rng(0))


@pytest.mark.real
def test_real_images_real_stamps(real_dataset, shared: Path) -> None:
    from aflw_occ.builders.occluders.registry import load_library
    from aflw_occ.face_region import landmark_hull_region

    lib = load_library([f"tuxpaint:{shared / 'occluders' / 'tuxpaint-stamps-default'}"])
    applied = {"jpeg": 0, "blur": 0}
    for i in range(0, 2000, 200):
        s = real_dataset[i]
        img = s.read_image()

        class _S:  # the fallback region needs only landmarks and shape
            landmarks = s.pt3d_68.T - np.array([1.0, 1.0, 0.0])
            shape = img.shape[:2]

        region = landmark_hull_region(_S)  # type: ignore[arg-type]
        rng = np.random.default_rng(i)
        occ = lib.draw(rng)
        res = composite(img, region, occ.rgba(), rng, points_at_face=occ.points_at_face)
        np.testing.assert_array_equal(res.image[~res.mask], img[~res.mask])
        assert 0.05 < (res.mask & region).sum() / region.sum() <= 1.0
        for k in applied:
            applied[k] += res.params[k]["applied"]
        json.dumps(res.params)
    assert applied["jpeg"] > 0


def test_work_box_and_jpeg_part_give_the_whole_roi_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps 5–8 on the work box around the warped α (and the JPEG step on the MCUs around it) give exactly the
    pixels computed on the whole ROI: a margin large enough to cover the ROI is the reference. Every step on, blur
    and JPEG included, near the image's edges too."""
    import aflw_occ.builders.compositing.steps as steps

    img, region = face_scene()
    cfg = NatOccConfig(jitter_p=1.0, bc_p=1.0, blur_p=1.0, jpeg_p=1.0)
    blob = np.zeros((70, 90, 4), np.uint8)
    cv2.ellipse(blob, (45, 35), (40, 22), 20, 0, 360, (200, 120, 40, 255), -1)
    blob[..., :3] = cv2.GaussianBlur(blob[..., :3], (9, 9), 0)
    cases = [(img, region, seed) for seed in range(6)]
    edge = np.zeros_like(region)
    edge[150:240, 180:260] = True  # a face region at the bottom-right corner: the ROI meets the image's edges
    cases += [(img, edge, seed) for seed in range(6, 10)]
    got = [composite(i, r, blob, np.random.default_rng(s), config=cfg) for i, r, s in cases]
    work_box = steps._work_box
    monkeypatch.setattr(steps, "_work_box", lambda alpha, margin: work_box(alpha, 10_000))
    for (i, r, s), g in zip(cases, got, strict=True):
        ref = composite(i, r, blob, np.random.default_rng(s), config=cfg)
        assert ref.mask.any()
        np.testing.assert_array_equal(g.image, ref.image)
        np.testing.assert_array_equal(g.mask, ref.mask)
        assert g.params == ref.params


def test_occluder_stays_out_of_black_padding() -> None:
    img, region = face_scene()
    padded = img.copy()
    padded[:, :90] = 0  # a black bar, as in the padded AFLW2000-3D images
    assert content_box(padded) == (90, 0, img.shape[1], img.shape[0])
    hit = 0
    for seed in range(10):
        res = composite(padded, region, square(70), np.random.default_rng(seed))
        assert not res.mask[:, :90].any()
        np.testing.assert_array_equal(res.image[:, :90], 0)
        hit += res.mask[:, 90].any()
    assert hit > 0  # the occluder does reach the bar's edge (and is cut there)
