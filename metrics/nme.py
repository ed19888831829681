"""Normalised mean error (NME) of landmark sets: sparse 68-point 2D / 3D and dense point sets.

All functions are pure numpy, vectorised over images, and return *fractions* (multiply by 100 for the
percentages papers print). The normaliser of every protocol is the bounding-box size of the ground truth,

    d_i = √(w_i · h_i),   w_i = max_k g_ik,x − min_k g_ik,x,   h_i = max_k g_ik,y − min_k g_ik,y,

computed from the x/y extents of the ground-truth points of image i (the predictions never influence it).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bbox_size",
    "center_z",
    "point_errors",
    "nme_sparse_2d",
    "nme_sparse_3d",
    "nme_dense",
    "nme_dense_2d",
    "nme_from_point_errors",
    "masked_nme",
    "POINT_SETS",
]

#: Named subsets of the 68 iBUG landmarks (0-based indices), the ``points`` convention of the sparse protocols:
#: ``68`` every point; ``inner-51`` the 51 inner points 17–67 (brows 17–26, nose 27–35, eyes 36–47, mouth 48–67),
#: i.e. without the 17 jaw-line points 0–16, whose definition differs most between landmark schemes (a fixed 3D
#: vertex in AFLW2000-3D's ``pt3d_68``, the visible contour in 300-W) and which a mapped landmark set (e.g. a mesh)
#: can only approximate. The normaliser stays √(w·h) of the 68-point box, so the two sets' numbers share a scale.
POINT_SETS: dict[str, np.ndarray] = {"68": np.arange(68), "inner-51": np.arange(17, 68)}


def bbox_size(gt: np.ndarray) -> np.ndarray:
    """Bounding-box size √(w·h) of each ground-truth point set from its x/y extents.

    Args:
        gt: (N, K, D) points, D ≥ 2 (only x = ``[..., 0]`` and y = ``[..., 1]`` are used).

    Returns:
        (N,) float64: d_i = √((max x − min x) · (max y − min y)).
    """
    g = np.asarray(gt, dtype=np.float64)
    if g.ndim != 3 or g.shape[-1] < 2:
        raise ValueError(f"ground truth must be (N, K, D>=2), got {g.shape}")
    x = g[..., 0]  # (N, K) views: reducing over K per coordinate is much faster than over a length-2 axis
    y = g[..., 1]
    w = x.max(axis=1) - x.min(axis=1)
    h = y.max(axis=1) - y.min(axis=1)
    return np.sqrt(w * h)


def center_z(points: np.ndarray) -> np.ndarray:
    """Return a copy of (N, K, 3) points with each set's mean z subtracted: z'_ik = z_ik − (1/K) Σ_k z_ik."""
    p = np.array(points, dtype=np.float64, copy=True)
    p[..., 2] -= p[..., 2].mean(axis=1, keepdims=True)
    return p


def point_errors(pred: np.ndarray, gt: np.ndarray, dims: int = 2, z_centred: bool = False) -> np.ndarray:
    """Per-point Euclidean errors normalised by the ground-truth box: e_ik = ‖p̂_ik − p_ik‖ / d_i.

    Args:
        pred: (N, K, Dp) predicted points, Dp ≥ ``dims``.
        gt: (N, K, Dg) ground-truth points, Dg ≥ ``dims``.
        dims: 2 → distance in x/y only; 3 → distance in x/y/z.
        z_centred: with ``dims=3``, subtract each set's own mean z first (see :func:`center_z`).

    Returns:
        (N, K) float64 normalised point errors (fractions of √(w·h)).
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim != 3 or g.ndim != 3 or p.shape[:2] != g.shape[:2]:
        raise ValueError(f"prediction {p.shape} and ground truth {g.shape} must be (N, K, D) with equal N, K")
    if dims not in (2, 3) or p.shape[-1] < dims or g.shape[-1] < dims:
        raise ValueError(f"dims={dims} needs {dims} coordinates, got {p.shape[-1]} and {g.shape[-1]}")
    sq = np.zeros(p.shape[:2])
    for c in range(dims):  # per coordinate plane (N, K): faster than reducing a length-2/3 axis
        diff = p[..., c] - g[..., c]
        if c == 2 and z_centred:
            diff -= diff.mean(axis=1, keepdims=True)  # (z_p − z̄_p) − (z_g − z̄_g) = Δz − mean(Δz)
        sq += diff * diff
    return np.sqrt(sq) / bbox_size(g)[:, None]


def nme_from_point_errors(errors: np.ndarray) -> np.ndarray:
    """Mean over points of normalised errors: NME_i = (1/K) Σ_k e_ik. (N, K) → (N,)."""
    return np.asarray(errors, dtype=np.float64).mean(axis=1)


def masked_nme(errors: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of normalised point errors over the points selected by ``mask``, per image.

    NME_i = Σ_k m_ik e_ik / Σ_k m_ik, and NaN for an image with no selected point.

    Args:
        errors: (N, K) normalised point errors.
        mask: (N, K) bool, e.g. per-landmark occlusion flags (or their negation for visible landmarks).

    Returns:
        (N,) float64, NaN where Σ_k m_ik = 0.
    """
    e = np.asarray(errors, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if m.shape != e.shape:
        raise ValueError(f"mask shape {m.shape} does not match errors {e.shape}")
    count = m.sum(axis=1)
    total = np.where(m, e, 0.0).sum(axis=1)
    out = np.full(e.shape[0], np.nan)
    has = count > 0
    out[has] = total[has] / count[has]
    return out


def nme_sparse_2d(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol ``sparse-2d``: NME_i = (1/68) Σ_k ‖p̂_ik,xy − p_ik,xy‖ / √(w_i·h_i).

    Args:
        pred: (N, 68, 2|3) predicted landmarks in image pixels (z ignored).
        gt: (N, 68, 2|3) ground truth (original ``pt3d_68`` or the 2D re-annotation); its x/y box normalises.

    Returns:
        (N,) float64 NME per image (fraction).
    """
    return nme_from_point_errors(point_errors(pred, gt, dims=2))


def nme_sparse_3d(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol ``sparse-3d``: 3D distance after mean-centring z of each set, normalised by the 2D box.

    NME_i = (1/68) Σ_k ‖(p̂_ik − z̄(p̂_i)) − (p_ik − z̄(p_i))‖ / √(w_i·h_i), where only z is centred.

    Args:
        pred: (N, 68, 3) predicted landmarks (x, y image pixels; z in the same pixel scale).
        gt: (N, 68, 3) ground truth.

    Returns:
        (N,) float64 NME per image (fraction).
    """
    return nme_from_point_errors(point_errors(pred, gt, dims=3, z_centred=True))


def nme_dense(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol ``dense``: like ``sparse-3d`` on P dense points (e.g. the 43,867 UV face-region points).

    NME_i = (1/P) Σ_k ‖(p̂_ik − z̄(p̂_i)) − (p_ik − z̄(p_i))‖ / √(w_i·h_i), with w, h the x/y extents of the
    ground-truth dense points. Point k of the prediction must correspond to point k of the ground truth.

    Args:
        pred: (N, P, 3) predicted dense points.
        gt: (N, P, 3) ground-truth dense points.

    Returns:
        (N,) float64 NME per image (fraction).
    """
    return nme_from_point_errors(point_errors(pred, gt, dims=3, z_centred=True))


def nme_dense_2d(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol ``dense-2d`` (DSFNet's ``nme2d``): the dense points in x/y only, normalised by the dense box.

    NME_i = (1/P) Σ_k ‖p̂_ik,xy − p_ik,xy‖ / √(w_i·h_i), with w, h the x/y extents of the ground-truth dense points
    (e.g. the 43,867 UV face-region points). Point k of the prediction must correspond to point k of the ground truth.

    Args:
        pred: (N, P, 2|3) predicted dense points (z ignored).
        gt: (N, P, 2|3) ground-truth dense points.

    Returns:
        (N,) float64 NME per image (fraction).
    """
    return nme_from_point_errors(point_errors(pred, gt, dims=2))
