"""Head-pose mean absolute error (MAE) in degrees.

Convention (documented choice): ground-truth angles are the raw, unwrapped ``degrees(Pose_Para[:3])``
(pitch, yaw, roll). The evaluated images are those whose raw |pitch|, |yaw| and |roll| are all ≤ 99° (1969 of
the 2000 images of AFLW2000-3D). The error of one angle is the *minimal angular difference*, the difference
wrapped to (−180°, 180°]:

    δ = wrap(â − a),  wrap(x) = ((x + 180) mod 360) − 180 (with −180 mapped to 180),   err = |δ| ∈ [0, 180].

So a prediction of −8.8° against a stored yaw of −351.2° (= +8.8°) is an error of 17.6°, and a prediction of
179° against −179° is an error of 2°, whatever wrapping the predictor uses.

The field's code (SynergyNet / DSFNet ``benchmark_FOE``, FSA-Net) instead takes the *raw* difference,

    err = |â − a|  (no wrapping; mode ``"raw"``),

which agrees with the wrapped error unless |â − a| > 180°. Both are offered by name (:data:`MAE_MODES`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "POSE_LIMIT_DEG",
    "ANGLE_NAMES",
    "MAE_MODES",
    "wrapped_difference",
    "pose_mask",
    "angle_errors",
    "pose_mae",
]

POSE_LIMIT_DEG = 99.0
ANGLE_NAMES: tuple[str, str, str] = ("pitch", "yaw", "roll")
#: ``wrapped``: |wrap(â − a)| ∈ [0, 180] (aflw-occ's default, correct); ``raw``: |â − a| (the field's code).
MAE_MODES: tuple[str, str] = ("wrapped", "raw")


def wrapped_difference(pred_deg: np.ndarray, gt_deg: np.ndarray) -> np.ndarray:
    """Signed minimal angular difference wrap(â − a) in (−180, 180] degrees, element-wise."""
    d = np.asarray(pred_deg, dtype=np.float64) - np.asarray(gt_deg, dtype=np.float64)
    w = np.mod(d + 180.0, 360.0) - 180.0
    return np.where(w == -180.0, 180.0, w)


def pose_mask(gt_deg: np.ndarray, limit_deg: float = POSE_LIMIT_DEG) -> np.ndarray:
    """Images evaluated for pose: all(|a_ij| ≤ limit) over j ∈ (pitch, yaw, roll). (N,3) → (N,) bool."""
    a = np.asarray(gt_deg, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"angles must be (N, 3), got {a.shape}")
    return np.all(np.abs(a) <= limit_deg, axis=1)


def angle_errors(pred_deg: np.ndarray, gt_deg: np.ndarray, mode: str = "wrapped") -> np.ndarray:
    """Absolute errors per image and angle. (N,3), (N,3) → (N,3) degrees.

    ``mode="wrapped"``: e_ij = |wrap(â_ij − a_ij)| ∈ [0, 180]; ``mode="raw"``: e_ij = |â_ij − a_ij| (the field's).
    """
    if mode not in MAE_MODES:
        raise ValueError(f"unknown pose MAE mode {mode!r} (choose {', '.join(MAE_MODES)})")
    p = np.asarray(pred_deg, dtype=np.float64)
    g = np.asarray(gt_deg, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"predicted {p.shape} and ground-truth {g.shape} angles must both be (N, 3)")
    if mode == "raw":
        return np.abs(p - g)
    return np.abs(wrapped_difference(p, g))


def pose_mae(
    pred_deg: np.ndarray, gt_deg: np.ndarray, limit_deg: float = POSE_LIMIT_DEG, mode: str = "wrapped"
) -> dict[str, float]:
    """MAE per angle over the images within the limit, and the mean of the three.

    MAE_j = (1/|S|) Σ_{i∈S} e_ij,  S = {i : max_j |a_ij| ≤ limit},  e_ij as in :func:`angle_errors` (``mode``),
    mean = (MAE_pitch + MAE_yaw + MAE_roll) / 3.

    Returns:
        ``{"pitch", "yaw", "roll", "mean", "n"}`` (degrees; ``n`` = |S| as float).
    """
    err = angle_errors(pred_deg, gt_deg, mode)[pose_mask(gt_deg, limit_deg)]
    per = np.full(3, np.nan) if err.shape[0] == 0 else err.mean(axis=0)
    out = {name: float(v) for name, v in zip(ANGLE_NAMES, per, strict=False)}
    out["mean"] = float(per.mean())
    out["n"] = float(err.shape[0])
    return out
