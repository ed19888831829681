"""Pose MAE: wrapped differences, the ≤ 99° selection (1969 real images), loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from aflw_occ.metrics import angle_errors, pose_mae, pose_mask, wrapped_difference


def test_wrapped_difference() -> None:
    pred = np.array([-8.8, 179.0, -179.0, 10.0, 190.0, 0.0])
    gt = np.array([-351.2, -179.0, 179.0, 370.0, -170.0, 180.0])
    np.testing.assert_allclose(wrapped_difference(pred, gt), [-17.6, -2.0, 2.0, 0.0, 0.0, 180.0], atol=1e-9)


def test_mae_matches_loop() -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(-120, 120, size=(300, 3))
    pred = gt + rng.normal(0, 5, size=(300, 3)) + rng.choice([0.0, 360.0, -360.0], size=(300, 3))
    got = pose_mae(pred, gt)
    sel = [i for i in range(300) if all(abs(gt[i, j]) <= 99 for j in range(3))]
    per = []
    for j in range(3):
        errs = []
        for i in sel:
            d = (pred[i, j] - gt[i, j]) % 360.0
            errs.append(min(d, 360.0 - d))
        per.append(sum(errs) / len(errs))
    assert got["n"] == len(sel)
    assert [got["pitch"], got["yaw"], got["roll"]] == pytest.approx(per, rel=1e-9)
    assert got["mean"] == pytest.approx(sum(per) / 3, rel=1e-9)
    assert np.all(angle_errors(pred, gt) <= 180)


@pytest.mark.real
def test_real_pose_selection(real_dataset) -> None:
    angles = real_dataset.angles_deg()
    assert int(pose_mask(angles).sum()) == 1969
    assert pose_mae(angles, angles)["mean"] == 0.0
