"""Face boxes of the detector protocol: one pixel convention, IoU, and the conversions from each detector's frame.

**Convention.** Every box is ``[x0, y0, x1, y1]`` (float64, shape ``(..., 4)``) in the ground truth's frame:
1-based image pixels like ``pt3d_68`` (the centre of the top-left pixel is (1, 1), so an H × W image spans
``[0.5, W + 0.5] × [0.5, H + 0.5]``). A box covers whole pixels: the box of pixel columns ``i..j`` (0-based indices,
inclusive) is ``[i + 0.5, j + 1.5]``.

Conversions into it:

* a dlib ``rectangle(l, t, r, b)`` (inclusive 0-based pixel indices) → ``[l + 0.5, t + 0.5, r + 1.5, b + 1.5]``,
  and back exactly by :func:`to_dlib_ltrb`;
* MediaPipe's coordinates (0-based pixel centres, ``relative_bounding_box`` × image size) → ``+ 1``
  (:mod:`.blazeface`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["iou", "iou_matrix", "from_dlib_ltrb", "to_dlib_ltrb", "valid_boxes"]

def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``.

    ``IoU(p, q) = |p ∩ q| / (|p| + |q| − |p ∩ q|)`` with ``|p| = (x1 − x0)·(y1 − y0)`` (continuous areas; a box
    with no area has IoU 0 with everything).

    Args:
        a: (N, 4) boxes. b: (M, 4) boxes.

    Returns:
        (N, M) float64 in [0, 1].
    """
    p = np.asarray(a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    q = np.asarray(b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    iw = np.clip(np.minimum(p[..., 2], q[..., 2]) - np.maximum(p[..., 0], q[..., 0]), 0.0, None)
    ih = np.clip(np.minimum(p[..., 3], q[..., 3]) - np.maximum(p[..., 1], q[..., 1]), 0.0, None)
    inter = iw * ih
    area_p = np.clip(p[..., 2] - p[..., 0], 0.0, None) * np.clip(p[..., 3] - p[..., 1], 0.0, None)
    area_q = np.clip(q[..., 2] - q[..., 0], 0.0, None) * np.clip(q[..., 3] - q[..., 1], 0.0, None)
    union = area_p + area_q - inter
    out = np.zeros(inter.shape, dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) box arrays: ``out[i] = IoU(a[i], b[i])`` (see :func:`iou_matrix`)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} boxes against {len(b)}")
    return np.array([iou_matrix(a[i], b[i])[0, 0] for i in range(len(a))], dtype=np.float64)


def from_dlib_ltrb(ltrb: np.ndarray) -> np.ndarray:
    """dlib rectangles ``(left, top, right, bottom)`` (inclusive 0-based pixel indices), (K, 4) → (K, 4) boxes:
    ``[l + 0.5, t + 0.5, r + 1.5, b + 1.5]``."""
    r = np.asarray(ltrb, dtype=np.float64).reshape(-1, 4)
    return r + np.array([0.5, 0.5, 1.5, 1.5])


def to_dlib_ltrb(boxes: np.ndarray) -> np.ndarray:
    """(K, 4) boxes → (K, 4) int64 dlib ``(left, top, right, bottom)``: ``round(x0 − 0.5)``, ``round(x1 − 1.5)``
    (the exact inverse of :func:`from_dlib_ltrb` on its outputs)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.round(b - np.array([0.5, 0.5, 1.5, 1.5])).astype(np.int64)


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: finite boxes with ``x1 > x0`` and ``y1 > y0``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.isfinite(b).all(axis=1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
