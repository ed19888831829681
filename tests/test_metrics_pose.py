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


def test_raw_mode_is_the_unwrapped_difference() -> None:
    rng = np.random.default_rng(2)
    gt = rng.uniform(-90, 90, size=(200, 3))
    pred = gt + rng.normal(0, 5, size=(200, 3))
    pred[:20] += 360.0  # gross (wrapped) errors: the two modes disagree exactly there
    raw = angle_errors(pred, gt, mode="raw")
    loop = [[abs(float(pred[i, j]) - float(gt[i, j])) for j in range(3)] for i in range(200)]
    np.testing.assert_allclose(raw, loop, rtol=1e-12)
    np.testing.assert_allclose(angle_errors(pred[20:], gt[20:], "raw"), angle_errors(pred[20:], gt[20:]), atol=1e-9)
    assert pose_mae(pred, gt, mode="raw")["mean"] > pose_mae(pred, gt)["mean"] + 30
    with pytest.raises(ValueError, match="unknown pose MAE mode"):
        angle_errors(pred, gt, mode="nearest")


def _rot(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The AFLW2000-3D release's R = Rx(pitch)·Ry(yaw)·Rz(roll), written out element by element."""
    import math

    cx, sx, cy, sy, cz, sz = (f(a) for a in (pitch, yaw, roll) for f in (math.cos, math.sin))
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def _loop_synergynet(r: np.ndarray) -> list[float]:
    """SynergyNet's matrix2angle, one matrix at a time: yaw = asin R[2,0]; (pitch, yaw, roll) in degrees."""
    import math

    if r[2, 0] not in (1.0, -1.0):
        x = math.asin(r[2, 0])
        y = math.atan2(r[1, 2] / math.cos(x), r[2, 2] / math.cos(x))
        z = math.atan2(r[0, 1] / math.cos(x), r[0, 0] / math.cos(x))
    else:
        z = 0.0
        x = math.pi / 2 if r[2, 0] == -1.0 else -math.pi / 2
        y = math.atan2(r[0, 1], r[0, 2]) if r[2, 0] == -1.0 else math.atan2(-r[0, 1], -r[0, 2])
    return [math.degrees(y), math.degrees(x), math.degrees(z)]


def test_rotation_decodings() -> None:
    from aflw_occ.metrics import angles_from_rotation, rotation_from_camera

    rng = np.random.default_rng(3)
    angles = rng.uniform(-70, 70, size=(50, 3))
    rot = np.stack([_rot(*np.radians(a)) for a in angles])
    # aflw2000-3d inverts the release's own rotation exactly
    np.testing.assert_allclose(angles_from_rotation(rot, "aflw2000-3d"), angles, atol=1e-9)
    # synergynet: SynergyNet's loop; pitch and roll agree, yaw does not (unless pitch = roll = 0)
    syn = angles_from_rotation(rot, "synergynet")
    np.testing.assert_allclose(syn, [_loop_synergynet(r) for r in rot], atol=1e-9)
    np.testing.assert_allclose(syn[:, [0, 2]], angles[:, [0, 2]], atol=1e-9)
    assert np.abs(syn[:, 1] - angles[:, 1]).max() > 5
    pure_yaw = np.stack([_rot(0.0, np.radians(a), 0.0) for a in (-40.0, 25.0)])
    np.testing.assert_allclose(angles_from_rotation(pure_yaw, "synergynet")[:, 1], [-40.0, 25.0], atol=1e-9)
    # gimbal lock follows SynergyNet's branch
    lock = np.array([[[0.0, 0.6, 0.8], [0.0, 0.8, -0.6], [-1.0, 0.0, 0.0]]])
    np.testing.assert_allclose(angles_from_rotation(lock, "synergynet")[0], _loop_synergynet(lock[0]), atol=1e-12)
    # a scaled camera [sR | t] gives back R
    cam = np.concatenate([0.002 * rot, rng.normal(0, 50, (50, 3, 1))], axis=2)
    np.testing.assert_allclose(rotation_from_camera(cam), rot, atol=1e-12)
    with pytest.raises(ValueError, match="unknown pose decoding"):
        angles_from_rotation(rot, "euler")
