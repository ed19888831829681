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

from .geometry import PIXEL_OFFSET
from .raster import fill_outline

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


def _closed_edges(polygons: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start points, end points (each (E, 2)) and polygon index (E,) of the closed outlines of ``polygons``."""
    starts = np.concatenate(polygons)
    ends = np.concatenate([q for p in polygons for q in (p[1:], p[:1])])  # each polygon rolled by −1
    group = np.repeat(np.arange(len(polygons)), [len(p) for p in polygons])
    return starts, ends, group


def _fill_closed(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Union of the even-odd fills of closed polygons (each (n ≥ 3, 2)), every one filled on its own (one pass of
    :func:`aflw_occ.raster.fill_outline` with a group per polygon)."""
    p, q, group = _closed_edges(polygons)
    return fill_outline(p[:, 0], p[:, 1], q[:, 0], q[:, 1], shape, even_odd=True, group=group)


def fill_polygon(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the polygon ``points`` (n, 2) (x = column, y = row) filled with its outline, like
    ``cv2.fillPoly``: pixel centres inside it (even-odd rule, as OpenCV's scan-line filler, with the half-open
    crossing rule of :func:`aflw_occ.raster.fill_outline`) or within ½ pixel of its outline
    (:func:`thick_polyline`, thickness 1).

    Exact element-wise float64 and integer arithmetic, no OpenCV: ``cv2.fillPoly`` changed its edge pixels between
    OpenCV 4.10 and 5.x (≈ 0.5 % of a seed's pixels); this definition differs from OpenCV 5's by ≈ 2 %."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        return thick_polyline(pts, False, 1, shape)
    return _fill_closed([pts], shape) | thick_polyline(pts, True, 1, shape)


def _polyline_segments(pts: np.ndarray, closed: bool) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) points of the segments of a polyline (closed: with the segment back to the first point); a single
    point is one segment of length 0 (a disc)."""
    a = pts if closed and len(pts) > 2 else pts[:-1]
    b = np.concatenate([pts[1:], pts[:1]])[: len(a)]  # the next point of each (np.roll by −1)
    if len(a) == 0:
        a, b = pts[:1], pts[:1]
    return a, b


def capsules(a: np.ndarray, b: np.ndarray, radius: np.ndarray | float, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: pixel centres within distance radiusₛ of a segment aₛ→bₛ (each (S, 2), x = column, y = row).

    Per segment and pixel centre p: t = clip(((p − a)·(b − a)) / |b − a|², 0, 1), d² = |p − a − t(b − a)|², set when
    d² ≤ radius²; element-wise float64 in this order (exact per pixel on every machine). Only the pixels of each
    segment's box [⌊min − radius⌋, ⌈max + radius⌉] are tested (all segments in one pass, each with its own box):
    outside it a pixel is at least radius + 1 from the segment in x or y, so d² > radius² there whatever the
    rounding."""
    h, w = shape
    out = np.zeros(shape, dtype=bool)
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    rad = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(a),))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    r0 = np.maximum(np.floor(lo[:, 1] - rad), 0.0).astype(np.int64)
    r1 = np.minimum(np.ceil(hi[:, 1] + rad) + 1.0, float(h)).astype(np.int64)
    c0 = np.maximum(np.floor(lo[:, 0] - rad), 0.0).astype(np.int64)
    c1 = np.minimum(np.ceil(hi[:, 0] + rad) + 1.0, float(w)).astype(np.int64)
    nr, nc = np.maximum(r1 - r0, 0), np.maximum(c1 - c0, 0)
    n = nr * nc
    total = int(n.sum())
    if total == 0:
        return out
    # every (segment, box row) pair, then its nc pixels, row-major: rows, columns and per-segment values by repetition
    pair_nc = np.repeat(nc, nr)
    pair_row = np.repeat(r0, nr) + (np.arange(int(nr.sum())) - np.repeat(np.cumsum(nr) - nr, nr))
    row = np.repeat(pair_row, pair_nc)
    col = np.repeat(np.repeat(c0, nr), pair_nc) + (np.arange(total) - np.repeat(np.cumsum(pair_nc) - pair_nc, pair_nc))
    abx, aby = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    len2 = abx * abx + aby * aby
    degenerate = not np.all(len2 > 0.0)
    abx, aby, len2 = np.repeat(abx, n), np.repeat(aby, n), np.repeat(len2, n)
    px = col.astype(np.float64) - np.repeat(a[:, 0], n)
    py = row.astype(np.float64) - np.repeat(a[:, 1], n)
    t = px * abx
    t = t + py * aby
    t /= np.where(len2 > 0.0, len2, 1.0)
    np.maximum(t, 0.0, out=t)
    np.minimum(t, 1.0, out=t)
    if degenerate:
        t = np.where(len2 > 0.0, t, 0.0)
    dx = t * abx
    np.subtract(px, dx, out=dx)
    dy = t * aby
    np.subtract(py, dy, out=dy)
    dx *= dx
    dy *= dy
    dx += dy
    hit = dx <= np.repeat(rad * rad, n)
    out.reshape(-1)[(row * w + col)[hit]] = True
    return out


def thick_polyline(points: np.ndarray, closed: bool, thickness: float, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: pixel centres within distance thickness/2 of the polyline ``points`` (n, 2) (closed: with the
    segment back to the first point) — a union of capsules (:func:`capsules`), like OpenCV's thick lines with round
    joins."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros(shape, dtype=bool)
    a, b = _polyline_segments(pts, closed)
    return capsules(a, b, 0.5 * float(thickness), shape)


def central_face_mask(landmarks: np.ndarray, shape: tuple[int, int], shrink: float = SEED_SHRINK) -> np.ndarray:
    """(H, W) bool: the union of the shrunk cheek, nose-bridge and glabella polygons (each filled separately,
    :func:`fill_polygon`, vertices on the 1/16-pixel grid): their even-odd fills in one pass and their outlines'
    capsules in one pass."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    polygons = [_grid16(_shrunk(lm[list(idx)], shrink)) for idx in SEED_POLYGONS.values()]
    a, b, _ = _closed_edges(polygons)
    return _fill_closed(polygons, shape) | capsules(a, b, 0.5, shape)


def _part_outlines(landmarks: np.ndarray) -> list[tuple[str, np.ndarray, bool, int]]:
    """(name, vertices on the 1/16 grid, closed, line width) of every facial part (:func:`part_masks`)."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    s = face_scale(lm)
    out = []
    for name, (idx, closed) in PART_POLYGONS.items():
        if closed:
            grow = 0.02 * s if name == "nostrils" else 0.04 * s
            thick = max(1, int(round(2 * grow)))
        else:
            thick = max(2, int(round(0.12 * s)))
        out.append((name, _grid16(lm[list(idx)]), closed, thick + 1))
    return out


def part_masks(landmarks: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """(H, W) bool mask per facial part: closed parts filled and widened, brows drawn as thick polylines.

    Widths scale with :func:`face_scale` s: eyes and mouth grow by 0.04·s, brows are 0.12·s thick, nostrils 0.02·s
    (integer thicknesses t as before; :func:`fill_polygon`, and :func:`thick_polyline` with width t + 1 — OpenCV's
    LINE_8 thick lines also set their boundary pixels: within 1.5 % of OpenCV 5's areas; vertices on the 1/16 grid).
    """
    out: dict[str, np.ndarray] = {}
    for name, pts, closed, width in _part_outlines(landmarks):
        line = thick_polyline(pts, closed, width, shape)
        out[name] = fill_polygon(pts, shape) | line if closed else line
    return out


def parts_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the union of :func:`part_masks`, computed in two passes: the closed parts' even-odd fills, and
    the capsules of every part's outline at its line width (a closed part's ½-px outline of :func:`fill_polygon`
    lies inside its wider line: the same d², a larger radius)."""
    parts = _part_outlines(landmarks)
    filled = _fill_closed([pts for _, pts, closed, _ in parts if closed], shape)
    segments = [(*_polyline_segments(pts, closed), width) for _, pts, closed, width in parts]
    a = np.concatenate([s[0] for s in segments])
    b = np.concatenate([s[1] for s in segments])
    radius = np.concatenate([np.full(len(s[0]), 0.5 * float(s[2])) for s in segments])
    return filled | capsules(a, b, radius, shape)


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


def landmark_pixels(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0-based pixel (row, col) of each landmark given in release coordinates — ``round(y − 1)``, ``round(x − 1)``
    (:data:`aflw_occ.geometry.PIXEL_OFFSET`), clipped to the (H, W) image — and an inside-image flag."""
    cols = np.rint(landmarks[:, 0] - PIXEL_OFFSET).astype(np.int64)
    rows = np.rint(landmarks[:, 1] - PIXEL_OFFSET).astype(np.int64)
    inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    # minimum/maximum: np.clip's Python wrapper costs more than the 68 values
    return np.minimum(np.maximum(rows, 0), shape[0] - 1), np.minimum(np.maximum(cols, 0), shape[1] - 1), inside


def landmarks_under(mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(68,) bool: the landmark's pixel (:func:`landmark_pixels`) lies under the (H, W) ``mask``. Landmarks outside
    the image are never flagged."""
    rows, cols, inside = landmark_pixels(landmarks, mask.shape)
    return mask[rows, cols] & inside
