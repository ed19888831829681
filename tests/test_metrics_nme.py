"""NME metrics against independent loop computations written here, on fabricated and real landmarks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aflw_occ.metrics import bbox_size, masked_nme, nme_dense, nme_sparse_2d, nme_sparse_3d, point_errors


def _loop_box(points: np.ndarray) -> float:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return math.sqrt((max(xs) - min(xs)) * (max(ys) - min(ys)))


def _loop_nme(pred: np.ndarray, gt: np.ndarray, dims: int, center: bool) -> list[float]:
    out = []
    for p_img, g_img in zip(pred, gt, strict=True):
        d = _loop_box(g_img)
        zp = sum(float(p[2]) for p in p_img) / len(p_img) if center else 0.0
        zg = sum(float(g[2]) for g in g_img) / len(g_img) if center else 0.0
        total = 0.0
        for p, g in zip(p_img, g_img, strict=True):
            sq = (float(p[0]) - float(g[0])) ** 2 + (float(p[1]) - float(g[1])) ** 2
            if dims == 3:
                sq += ((float(p[2]) - zp) - (float(g[2]) - zg)) ** 2
            total += math.sqrt(sq)
        out.append(total / len(p_img) / d)
    return out


def _fake_gt(n: int, k: int = 68, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.uniform(150, 300, size=(n, 1, 3))
    size = rng.uniform(60, 200, size=(n, 1, 1))
    return centre + size * rng.uniform(-0.5, 0.5, size=(n, k, 3))


def test_ground_truth_against_itself_is_zero() -> None:
    gt = _fake_gt(7)
    assert np.all(nme_sparse_2d(gt, gt) == 0)
    assert np.all(nme_sparse_3d(gt, gt) == 0)
    assert np.all(nme_dense(gt, gt) == 0)


@pytest.mark.parametrize("shift", [(3.0, 4.0), (-1.5, 0.25), (0.0, -7.0)])
def test_constant_shift_gives_shift_over_box(shift: tuple[float, float]) -> None:
    gt = _fake_gt(5)
    pred = gt.copy()
    pred[..., 0] += shift[0]
    pred[..., 1] += shift[1]
    expected = np.array([math.hypot(*shift) / _loop_box(g) for g in gt])
    np.testing.assert_allclose(nme_sparse_2d(pred, gt), expected, rtol=1e-12)
    # a z shift is removed by the mean-centring of sparse-3d / dense
    pred[..., 2] += 11.0
    np.testing.assert_allclose(nme_sparse_3d(pred, gt), expected, rtol=1e-12)
    np.testing.assert_allclose(nme_dense(pred, gt), expected, rtol=1e-12)


def test_2d_predictions_against_3d_ground_truth_and_vice_versa() -> None:
    gt = _fake_gt(4)
    pred = gt + 2.0
    np.testing.assert_allclose(nme_sparse_2d(pred[..., :2], gt), nme_sparse_2d(pred, gt[..., :2]), rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seeded_noise_matches_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = _fake_gt(6, seed=seed + 10)
    pred = gt + rng.normal(0, 3.0, gt.shape)
    np.testing.assert_allclose(nme_sparse_2d(pred, gt), _loop_nme(pred, gt, 2, False), rtol=1e-12)
    np.testing.assert_allclose(nme_sparse_3d(pred, gt), _loop_nme(pred, gt, 3, True), rtol=1e-12)
    gt_dense = _fake_gt(3, k=500, seed=seed)
    pred_dense = gt_dense + rng.normal(0, 2.0, gt_dense.shape)
    np.testing.assert_allclose(
        nme_dense(pred_dense, gt_dense), _loop_nme(pred_dense, gt_dense, 3, True), rtol=1e-12
    )


@pytest.mark.parametrize("scale", [0.25, 3.0])
def test_scale_and_translation_invariance(scale: float) -> None:
    rng = np.random.default_rng(5)
    gt = _fake_gt(5)
    pred = gt + rng.normal(0, 2.0, gt.shape)
    offset = np.array([17.0, -4.0, 9.0])
    for fn in (nme_sparse_2d, nme_sparse_3d, nme_dense):
        np.testing.assert_allclose(fn(scale * pred + offset, scale * gt + offset), fn(pred, gt), rtol=1e-12)


def test_box_uses_ground_truth_only() -> None:
    gt = _fake_gt(3)
    pred = gt * 5.0
    np.testing.assert_allclose(bbox_size(gt), [_loop_box(g) for g in gt], rtol=1e-14)
    e = point_errors(pred, gt)
    np.testing.assert_allclose(
        e[:, 0], np.hypot(*(pred[:, 0, :2] - gt[:, 0, :2]).T) / bbox_size(gt), rtol=1e-12
    )


def test_masked_nme_matches_loop_and_is_nan_without_points() -> None:
    rng = np.random.default_rng(3)
    err = rng.uniform(0, 0.1, size=(4, 68))
    mask = rng.uniform(size=(4, 68)) < 0.3
    mask[2] = False
    got = masked_nme(err, mask)
    for i in range(4):
        sel = [err[i, k] for k in range(68) if mask[i, k]]
        if sel:
            assert got[i] == pytest.approx(sum(sel) / len(sel), rel=1e-12)
        else:
            assert math.isnan(got[i])
    np.testing.assert_allclose(masked_nme(err, np.ones_like(mask)), err.mean(axis=1), rtol=1e-12)


def test_shape_errors() -> None:
    gt = _fake_gt(2)
    with pytest.raises(ValueError):
        nme_sparse_2d(gt[:1], gt)
    with pytest.raises(ValueError):
        nme_sparse_3d(gt[..., :2], gt)
    with pytest.raises(ValueError):
        masked_nme(np.zeros((2, 68)), np.zeros((2, 67), dtype=bool))


@pytest.mark.real
def test_real_ground_truth_shift(real_dataset) -> None:
    gt = real_dataset.landmarks()
    re = real_dataset.reannotated()
    assert np.all(nme_sparse_2d(gt, gt) == 0)
    assert np.all(nme_sparse_3d(gt, gt) == 0)
    shifted = gt.copy()
    shifted[..., :2] += np.array([2.0, -1.0])
    expected = math.sqrt(5.0) / np.array([_loop_box(g) for g in gt[:50]])
    np.testing.assert_allclose(nme_sparse_2d(shifted, gt)[:50], expected, rtol=1e-12)
    # re-annotated ground truth has its own box
    shifted_re = re + np.array([2.0, -1.0])
    expected_re = math.sqrt(5.0) / np.array([_loop_box(g) for g in re[:50]])
    np.testing.assert_allclose(nme_sparse_2d(shifted_re, re)[:50], expected_re, rtol=1e-12)


def test_dense_2d_matches_loop_and_ignores_z() -> None:
    from aflw_occ.metrics import nme_dense_2d

    gt = _fake_gt(6, k=300, seed=8)
    pred = gt + np.random.default_rng(8).normal(0, 2, gt.shape)
    np.testing.assert_allclose(nme_dense_2d(pred, gt), _loop_nme(pred, gt, dims=2, center=False), rtol=1e-12)
    moved = pred.copy()
    moved[..., 2] += np.random.default_rng(9).normal(0, 50, moved.shape[:2])
    np.testing.assert_array_equal(nme_dense_2d(moved, gt), nme_dense_2d(pred, gt))
    np.testing.assert_array_equal(nme_dense_2d(pred[..., :2], gt), nme_dense_2d(pred, gt))
