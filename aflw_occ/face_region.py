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


def _grid16(points: np.ndarray) -> np.ndarray:
    """Vertices rounded to the 1/16-pixel grid (exact: rint of a power-of-two multiple)."""
    return np.rint(np.asarray(points, dtype=np.float64) * 16.0) / 16.0


def fill_polygon(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the polygon ``points`` (n, 2) (x = column, y = row) filled with its outline, like
    ``cv2.fillPoly``: pixel centres inside it (even-odd rule, as OpenCV's scan-line filler, with the half-open
    crossing rule of :func:`aflw_occ.geometry.fill_outline`) or within ½ pixel of its outline
    (:func:`thick_polyline`, thickness 1).

    Exact element-wise float64 and integer arithmetic, no OpenCV: ``cv2.fillPoly`` changed its edge pixels between
    OpenCV 4.10 and 5.x (≈ 0.5 % of a seed's pixels); this definition differs from OpenCV 5's by ≈ 2 %."""
    from .geometry import fill_outline

    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        return thick_polyline(pts, False, 1, shape)
    nxt = np.roll(pts, -1, axis=0)
    inside = fill_outline(pts[:, 0], pts[:, 1], nxt[:, 0], nxt[:, 1], shape, even_odd=True)
    return inside | thick_polyline(pts, True, 1, shape)


def thick_polyline(points: np.ndarray, closed: bool, thickness: float, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: pixel centres within distance thickness/2 of the polyline ``points`` (n, 2) (closed: with the
    segment back to the first point) — a union of capsules, like OpenCV's thick lines with round joins.

    Per segment a→b and pixel centre p: t = clip(((p − a)·(b − a)) / |b − a|², 0, 1), d² = |p − a − t(b − a)|²,
    set when d² ≤ (thickness/2)²; element-wise float64 in this order (exact per pixel on every machine)."""
    h, w = shape
    out = np.zeros(shape, dtype=bool)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    rad = 0.5 * float(thickness)
    if len(pts) == 0:
        return out
    a = pts if closed and len(pts) > 2 else pts[:-1]
    b = np.concatenate([pts[1:], pts[:1]])[: len(a)]  # the next point of each (np.roll by −1)
    if len(a) == 0:  # a single point: a disc
        a, b = pts[:1], pts[:1]
    r0 = max(int(np.floor(pts[:, 1].min() - rad)), 0)
    r1 = min(int(np.ceil(pts[:, 1].max() + rad)) + 1, h)
    c0 = max(int(np.floor(pts[:, 0].min() - rad)), 0)
    c1 = min(int(np.ceil(pts[:, 0].max() + rad)) + 1, w)
    if r0 >= r1 or c0 >= c1:
        return out
    abx = (b[:, 0] - a[:, 0])[:, None, None]
    aby = (b[:, 1] - a[:, 1])[:, None, None]
    len2 = abx * abx + aby * aby
    px = np.arange(c0, c1, dtype=np.float64)[None, None, :] - a[:, 0, None, None]  # (S, 1, C)
    py = np.arange(r0, r1, dtype=np.float64)[None, :, None] - a[:, 1, None, None]  # (S, R, 1)
    # the same operations in place (one (S, R, C) buffer per quantity instead of a new one per step)
    t = px * abx
    t = t + py * aby  # broadcasts to (S, R, C)
    t /= np.where(len2 > 0.0, len2, 1.0)
    np.maximum(t, 0.0, out=t)
    np.minimum(t, 1.0, out=t)
    if not np.all(len2 > 0.0):
        t = np.where(len2 > 0.0, t, 0.0)
    dx = t * abx
    np.subtract(px, dx, out=dx)
    dy = t * aby
    np.subtract(py, dy, out=dy)
    dx *= dx
    dy *= dy
    dx += dy
    out[r0:r1, c0:c1] = np.any(dx <= rad * rad, axis=0)
    return out


def central_face_mask(landmarks: np.ndarray, shape: tuple[int, int], shrink: float = SEED_SHRINK) -> np.ndarray:
    """(H, W) bool: the union of the shrunk cheek, nose-bridge and glabella polygons (each filled separately,
    :func:`fill_polygon`, vertices on the 1/16-pixel grid)."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    out = np.zeros(shape, dtype=bool)
    for idx in SEED_POLYGONS.values():
        out |= fill_polygon(_grid16(_shrunk(lm[list(idx)], shrink)), shape)
    return out


def part_masks(landmarks: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """(H, W) bool mask per facial part: closed parts filled and widened, brows drawn as thick polylines.

    Widths scale with :func:`face_scale` s: eyes and mouth grow by 0.04·s, brows are 0.12·s thick, nostrils 0.02·s
    (integer thicknesses t as before; :func:`fill_polygon`, and :func:`thick_polyline` with width t + 1 — OpenCV's
    LINE_8 thick lines also set their boundary pixels: within 1.5 % of OpenCV 5's areas; vertices on the 1/16 grid).
    """
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    s = face_scale(lm)
    out: dict[str, np.ndarray] = {}
    for name, (idx, closed) in PART_POLYGONS.items():
        pts = _grid16(lm[list(idx)])
        if closed:
            grow = 0.02 * s if name == "nostrils" else 0.04 * s
            thick = max(1, int(round(2 * grow)))
            out[name] = fill_polygon(pts, shape) | thick_polyline(pts, True, thick + 1, shape)
        else:
            thick = max(2, int(round(0.12 * s)))
            out[name] = thick_polyline(pts, False, thick + 1, shape)
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
