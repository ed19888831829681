"""Head pose from a 3DMM camera matrix: the rotation, and its two named Euler decodings.

A 3DMM regressor (3DDFA, 3DDFA_V2, SynergyNet) predicts a 3×4 camera ``P = [sR | t]``. Its rotation is recovered as
3DDFA's ``P2sRt`` does: r1 = P₀/‖P₀‖, r2 = P₁/‖P₁‖, r3 = r1 × r2, R = [r1; r2; r3]. Angles are then read from R
under a named convention (:data:`POSE_DECODINGS`):

* ``aflw2000-3d`` — the release's own convention ``R = Rx(pitch)·Ry(yaw)·Rz(roll)`` with
  Rx=[[1,0,0],[0,c,s],[0,−s,c]], Ry=[[c,0,−s],[0,1,0],[s,0,c]], Rz=[[c,s,0],[−s,c,0],[0,0,1]], whose first row is
  [cy·cz, cy·sz, −sy]:  yaw = −asin R₀₂, pitch = atan2(R₁₂, R₂₂), roll = atan2(R₀₁, R₀₀). It inverts the
  projection that made ``pt3d_68`` from ``Pose_Para`` exactly.
* ``synergynet`` — SynergyNet's ``matrix2angle``, which produced the published 3DDFA-V2 pose rows (SynergyNet and
  DSFNet tables):  yaw = asin R₂₀, pitch = atan2(R₁₂/cos yaw, R₂₂/cos yaw), roll = atan2(R₀₁/cos yaw, R₀₀/cos yaw);
  at R₂₀ = ±1 (gimbal lock) roll = 0, yaw = ∓90°, pitch = atan2(±R₀₁, ±R₀₂) as in its code.
  Pitch and roll equal the ``aflw2000-3d`` ones; yaw differs unless pitch = roll = 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["POSE_DECODINGS", "rotation_from_camera", "angles_from_rotation"]

#: Named Euler decodings of a rotation matrix (see the module docstring).
POSE_DECODINGS: tuple[str, str] = ("aflw2000-3d", "synergynet")


def rotation_from_camera(camera: np.ndarray) -> np.ndarray:
    """Rotation of each camera matrix: rows r1 = P₀/‖P₀‖, r2 = P₁/‖P₁‖, r3 = r1 × r2 (3DDFA's ``P2sRt``).

    Args:
        camera: (N, 3, 4) ``[sR | t]`` or (N, 3, 3) ``sR`` (only the first two rows of the 3×3 part are used).

    Returns:
        (N, 3, 3) float64 rotation matrices.
    """
    p = np.asarray(camera, dtype=np.float64)
    if p.ndim != 3 or p.shape[1] != 3 or p.shape[2] not in (3, 4):
        raise ValueError(f"camera matrices must be (N, 3, 4) or (N, 3, 3), got {p.shape}")
    r1 = p[:, 0, :3] / np.linalg.norm(p[:, 0, :3], axis=1, keepdims=True)
    r2 = p[:, 1, :3] / np.linalg.norm(p[:, 1, :3], axis=1, keepdims=True)
    return np.stack([r1, r2, np.cross(r1, r2)], axis=1)


def angles_from_rotation(rotation: np.ndarray, convention: str = "aflw2000-3d") -> np.ndarray:
    """(pitch, yaw, roll) in degrees from rotation matrices under a named convention (module docstring).

    Args:
        rotation: (N, 3, 3) rotation matrices (rows as :func:`rotation_from_camera`).
        convention: ``aflw2000-3d`` or ``synergynet``.

    Returns:
        (N, 3) float64 (pitch, yaw, roll) in degrees.
    """
    if convention not in POSE_DECODINGS:
        raise ValueError(f"unknown pose decoding {convention!r} (choose {', '.join(POSE_DECODINGS)})")
    r = np.asarray(rotation, dtype=np.float64)
    if r.ndim != 3 or r.shape[1:] != (3, 3):
        raise ValueError(f"rotations must be (N, 3, 3), got {r.shape}")
    if convention == "aflw2000-3d":
        yaw = -np.arcsin(np.clip(r[:, 0, 2], -1.0, 1.0))
        pitch = np.arctan2(r[:, 1, 2], r[:, 2, 2])
        roll = np.arctan2(r[:, 0, 1], r[:, 0, 0])
        return np.degrees(np.stack([pitch, yaw, roll], axis=1))
    r20 = r[:, 2, 0]
    lock_neg, lock_pos = r20 == -1.0, r20 == 1.0
    free = ~(lock_neg | lock_pos)
    yaw = np.where(lock_neg, np.pi / 2, np.where(lock_pos, -np.pi / 2, np.arcsin(np.where(free, r20, 0.0))))
    c = np.where(free, np.cos(yaw), 1.0)
    pitch = np.where(
        free,
        np.arctan2(r[:, 1, 2] / c, r[:, 2, 2] / c),
        np.where(lock_neg, np.arctan2(r[:, 0, 1], r[:, 0, 2]), np.arctan2(-r[:, 0, 1], -r[:, 0, 2])),
    )
    roll = np.where(free, np.arctan2(r[:, 0, 1] / c, r[:, 0, 0] / c), 0.0)
    return np.degrees(np.stack([pitch, yaw, roll], axis=1))
