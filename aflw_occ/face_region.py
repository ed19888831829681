"""Landmark-defined face patches: the central skin patch (segmenter seed, ITA) and the facial-part regions.

All functions take 68 iBUG landmarks as (68, 2) **0-based array coordinates** (x = column, y = row); subtract
:data:`aflw_occ.geometry.PIXEL_OFFSET` from ``pt3d_68``-style release coordinates first.

Central patch (where a face is skin unless something covers it), each polygon scaled by :data:`SEED_SHRINK` about its
centroid so it stays off eyes, nostrils, mouth and the face outline:

* cheeks: jaw 1–4 / 12–15, lower eyelid 40–41 / 46–47, nose wing 31 / 35, mouth corner 48 / 54;
* nose bridge: inner eye corners 39, 42, bridge top 27 and nose tip 30;
* glabella (forehead just below the brows): inner brow ends 21, 22, inner eye corners 39, 42 and 27.

Parts (brows, eyes, nose wings/nostrils, mouth): the polygons of their landmarks, slightly widened.
"""

from __future__ import annotations

import math

import numpy as np

#: polygons (landmark indices, in drawing order) of the central skin patch
SEED_POLYGONS: dict[str, tuple[int, ...]] = {
    "cheek_left": (1, 41, 40, 31, 48, 4, 3, 2),
    "cheek_right": (15, 14, 13, 12, 54, 35, 47, 46),
    "nose_bridge": (39, 27, 42, 30),
    "glabella": (21, 22, 42, 27, 39),
}
SEED_SHRINK = 0.7

#: facial-part polygons: (landmark indices, closed polygon?)
PART_POLYGONS: dict[str, tuple[tuple[int, ...], bool]] = {
    "brow_left": ((17, 18, 19, 20, 21), False),
    "brow_right": ((22, 23, 24, 25, 26), False),
    "eye_left": ((36, 37, 38, 39, 40, 41), True),
    "eye_right": ((42, 43, 44, 45, 46, 47), True),
    "nostrils": ((31, 32, 33, 34, 35, 30), True),
    "mouth": ((48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59), True),
}


def face_scale(landmarks: np.ndarray) -> float:
    """A size for the face in pixels: the interocular distance (outer eye corners 36, 45), at least 8 px.

    Distance √(dx·dx + dy·dy) in Python floats (correctly rounded sqrt; no BLAS norm)."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    ext = lm.max(0) - lm.min(0)
    dx, dy = float(lm[36, 0] - lm[45, 0]), float(lm[36, 1] - lm[45, 1])
    return float(max(math.sqrt(dx * dx + dy * dy), 0.25 * float(ext.max()), 8.0))


def _shrunk(points: np.ndarray, factor: float) -> np.ndarray:
    """c + factor·(p − c) about the centroid c = (Σ p)/n, the sum accumulated point by point (fixed order)."""
    pts = np.asarray(points, dtype=np.float64)
    c = pts[0].copy()
    for p in pts[1:]:
        c = c + p
    c = c / float(len(pts))
    return c + factor * (pts - c)


def _fill(shape: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    import cv2

    canvas = np.zeros(shape, dtype=np.uint8)
    pts = [np.round(p * 16.0).astype(np.int32) for p in polygons if len(p) >= 3]
    if pts:
        cv2.fillPoly(canvas, pts, 1, lineType=cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def central_face_mask(landmarks: np.ndarray, shape: tuple[int, int], shrink: float = SEED_SHRINK) -> np.ndarray:
    """(H, W) bool: the union of the shrunk cheek, nose-bridge and glabella polygons (each filled separately)."""
    import cv2

    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    canvas = np.zeros(shape, dtype=np.uint8)
    for idx in SEED_POLYGONS.values():
        poly = np.round(_shrunk(lm[list(idx)], shrink) * 16.0).astype(np.int32)
        cv2.fillPoly(canvas, [poly], 1, lineType=cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def part_masks(landmarks: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """(H, W) bool mask per facial part: closed parts filled and widened, brows drawn as thick polylines.

    Widths scale with :func:`face_scale` s: eyes and mouth grow by 0.04·s, brows are 0.12·s thick, nostrils 0.02·s.
    """
    import cv2

    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    s = face_scale(lm)
    out: dict[str, np.ndarray] = {}
    for name, (idx, closed) in PART_POLYGONS.items():
        canvas = np.zeros(shape, dtype=np.uint8)
        pts = np.round(lm[list(idx)] * 16.0).astype(np.int32)
        if closed:
            grow = 0.02 * s if name == "nostrils" else 0.04 * s
            cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=4)
            thick = max(1, int(round(2 * grow)))
            cv2.polylines(canvas, [pts], True, 1, thickness=thick, lineType=cv2.LINE_8, shift=4)
        else:
            thick = max(2, int(round(0.12 * s)))
            cv2.polylines(canvas, [pts], False, 1, thickness=thick, lineType=cv2.LINE_8, shift=4)
        out[name] = canvas.astype(bool)
    return out


def landmark_box(
    landmarks: np.ndarray, shape: tuple[int, int], grow: tuple[float, float, float, float] = (0.5, 0.8, 0.5, 0.35)
) -> tuple[int, int, int, int]:
    """Integer crop box (x0, y0, x1, y1), end-exclusive, around the landmarks, grown by fractions of the box size
    (left, top, right, bottom) to take in forehead and ears, clipped to the (H, W) image (may be empty)."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    lo, hi = lm.min(0), lm.max(0)
    w, h = max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)
    x0 = int(np.floor(lo[0] - grow[0] * w))
    y0 = int(np.floor(lo[1] - grow[1] * h))
    x1 = int(np.ceil(hi[0] + grow[2] * w)) + 1
    y1 = int(np.ceil(hi[1] + grow[3] * h)) + 1
    hh, ww = shape
    x0, x1 = min(max(x0, 0), ww), min(max(x1, 0), ww)
    y0, y1 = min(max(y0, 0), hh), min(max(y1, 0), hh)
    return x0, y0, x1, y1
