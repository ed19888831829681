"""Geometry of NatOcc compositing (steps 1–4 of :mod:`builders.compositing`): face box and centroid, the photo's
content box, the occluder's long axis, the pointing rotation, the affine map and its inverse, the region of interest;
IEEE basic operations, exact integer sums and :mod:`aflw_occ.exactmath` only."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from aflw_occ import exactmath

from ...masks import EMPTY_BOX, mask_box
from ..grid import quantise
from ..occluders.library import OPAQUE
from .config import GRID_BITS


def region_box(region: np.ndarray) -> tuple[int, int, int, int]:
    """The face box: [x0, y0, x1, y1) of the face region P (:func:`aflw_occ.masks.mask_box`), which must not be
    empty (a composite needs a face to paste over)."""
    box = mask_box(region)
    if box == EMPTY_BOX:
        raise ValueError("face region is empty")
    return box


def content_box(image: np.ndarray, level: int = 2) -> tuple[int, int, int, int]:
    """[x0, y0, x1, y1) of the photo inside black padding: edge rows/columns whose every value is ≤ ``level`` are cut.

    Many AFLW2000-3D images are padded to a square with exact-zero bars; an occluder never extends into them.
    """
    h, w = image.shape[:2]
    flat = np.ascontiguousarray(image).reshape(h, -1)
    rows = flat.max(axis=1) > level  # contiguous reductions: ~0.04 ms each
    cols = flat.max(axis=0).reshape(w, -1).max(axis=1) > level
    if not rows.any():
        return 0, 0, image.shape[1], image.shape[0]
    r, c = np.flatnonzero(rows), np.flatnonzero(cols)
    return int(c[0]), int(r[0]), int(c[-1]) + 1, int(r[-1]) + 1


def affine_matrix(
    centre: tuple[float, float], origin: tuple[float, float], scale: float, rotation_deg: float, shear_deg: float
) -> list[list[float]]:
    """2×3 map ``x ↦ centre + R(rotation)·Sh(shear)·scale·(x − origin)`` (image coordinates, y down), from IEEE
    basic operations and :mod:`aflw_occ.exactmath` only."""
    s, c = exactmath.sin_cos_deg(rotation_deg)
    ss, sc = exactmath.sin_cos_deg(shear_deg)
    t = ss / sc
    l00, l01, l10, l11 = c * scale, (c * t - s) * scale, s * scale, (s * t + c) * scale
    tx = centre[0] - (l00 * origin[0] + l01 * origin[1])
    ty = centre[1] - (l10 * origin[0] + l11 * origin[1])
    return [[l00, l01, tx], [l10, l11, ty]]


def inverse_map(m: list[list[float]], offset: tuple[int, int]) -> list[list[float]]:
    """2×3 inverse of ``m``, mapping canvas pixel (x, y) (canvas origin at ``offset`` in the image) to the source."""
    (l00, l01, tx), (l10, l11, ty) = m
    det = l00 * l11 - l01 * l10
    i00, i01, i10, i11 = l11 / det, -l01 / det, -l10 / det, l00 / det
    ux, uy = offset[0] - tx, offset[1] - ty
    return [[i00, i01, i00 * ux + i01 * uy], [i10, i11, i10 * ux + i11 * uy]]


def axis_angle(alpha: np.ndarray) -> float:
    """Long-axis angle (degrees, x right / y down, in (−90, 90], on the angle grid) of the pixels with alpha ≥ 128:
    ½·atan2(2μ₁₁, μ₂₀ − μ₀₂) from exact integer central moments (n·μ, so no division)."""
    ys, xs = np.nonzero(alpha >= OPAQUE)
    xs, ys = xs.astype(np.int64), ys.astype(np.int64)
    n, sx, sy = len(xs), int(xs.sum()), int(ys.sum())
    if n < 2:
        return 0.0
    mu20 = n * int((xs * xs).sum()) - sx * sx
    mu02 = n * int((ys * ys).sum()) - sy * sy
    mu11 = n * int((xs * ys).sum()) - sx * sy
    return quantise(0.5 * exactmath.atan2_deg(float(2 * mu11), float(mu20 - mu02)), GRID_BITS["angle_deg"])


def pointing_rotation(theta: float, centre: list[float], face_centre: list[float]) -> float:
    """Rotation φ (degrees, on the angle grid) putting an axis at angle θ on the line centre → face centre (+180°
    when below)."""
    direction = exactmath.atan2_deg(face_centre[1] - centre[1], face_centre[0] - centre[0])
    phi = direction - theta + (180.0 if centre[1] > face_centre[1] else 0.0)
    return quantise((phi + 180.0) % 360.0 - 180.0, GRID_BITS["angle_deg"])


def region_centroid(region: np.ndarray, box: tuple[int, int, int, int]) -> list[float]:
    """Centroid (x, y) of the face region, from integer sums, on the centre grid."""
    crop = np.ascontiguousarray(region[box[1] : box[3], box[0] : box[2]], dtype=bool).view(np.uint8)
    col_n, row_n = crop.sum(axis=0, dtype=np.int64), crop.sum(axis=1, dtype=np.int64)  # counts of True (0/1 bytes)
    total = int(col_n.sum())
    bits = GRID_BITS["centre_px"]
    return [
        quantise(box[0] + Fraction(int(np.arange(col_n.size) @ col_n), total), bits),
        quantise(box[1] + Fraction(int(np.arange(row_n.size) @ row_n), total), bits),
    ]


def roi_box(
    m: list[list[float]], size: tuple[int, int], clip: tuple[int, int, int, int], pad: int = 6
) -> tuple[int, int, int, int]:
    """[x0, y0, x1, y1) of the warped (w, h) = ``size`` source's corners, grown by ``pad`` and clipped."""
    sw, sh = size
    xs = [m[0][0] * x + m[0][1] * y + m[0][2] for x, y in ((0, 0), (sw, 0), (0, sh), (sw, sh))]
    ys = [m[1][0] * x + m[1][1] * y + m[1][2] for x, y in ((0, 0), (sw, 0), (0, sh), (sw, sh))]
    return (
        int(max(clip[0], math.floor(min(xs)) - pad)),
        int(max(clip[1], math.floor(min(ys)) - pad)),
        int(min(clip[2], math.ceil(max(xs)) + pad)),
        int(min(clip[3], math.ceil(max(ys)) + pad)),
    )
