"""Exact rasterisation: triangles and closed outlines filled by integer winding numbers over float64 crossings
computed element-wise in a fixed order, so every pixel is the same on every machine (``docs/reproducibility.md``).
"""

from __future__ import annotations

import numpy as np

from .geometry import IMAGE_SHAPE


def front_facing(xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Triangles turned towards the camera → (T,) bool.

    In array coordinates (x right, y down, after the release's y-flip) a BFM triangle (a, b, c) faces the
    camera when its signed area (b − a) × (c − a) is positive.
    """
    x = np.ascontiguousarray(xy[:, 0], dtype=np.float64)
    y = np.ascontiguousarray(xy[:, 1], dtype=np.float64)
    t = np.ascontiguousarray(np.asarray(triangles).T)
    ax, ay = x[t[0]], y[t[0]]
    cross = (x[t[1]] - ax) * (y[t[2]] - ay) - (y[t[1]] - ay) * (x[t[2]] - ax)
    return cross > 0.0


def edge_twins(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    """For every directed triangle edge slot (t, k) (vertex k → k+1), the flat slot 3·t' + k' of the reversed
    edge in a neighbouring triangle, or −1 (mesh border, or no one-to-one partner). (T, 3) int64."""
    t = np.asarray(triangles, dtype=np.int64)
    a = t.reshape(-1)
    b = t[:, [1, 2, 0]].reshape(-1)
    key = a * n_vertices + b
    rev = b * n_vertices + a
    order = np.argsort(key, kind="stable")
    sk = key[order]
    pos = np.minimum(np.searchsorted(sk, rev), len(sk) - 1)
    twin = np.where(sk[pos] == rev, order[pos], -1)
    slots = np.arange(len(twin))
    mutual = (twin >= 0) & (twin[np.maximum(twin, 0)] == slots)
    return np.where(mutual, twin, -1).reshape(-1, 3)


def rasterize_triangles(
    xy: np.ndarray,
    triangles: np.ndarray,
    shape: tuple[int, int] = IMAGE_SHAPE,
    selected: np.ndarray | None = None,
    twins: np.ndarray | None = None,
) -> np.ndarray:
    """Union of triangles: pixel (r, c) is set when its centre (c, r) lies inside at least one triangle.

    ``xy`` (N, 2) 0-based array coordinates (x = column, y = row); ``triangles`` (T, 3); optional ``selected``
    (T,) bool subset and precomputed ``twins`` (:func:`edge_twins` of ``triangles``; with both given, the
    selected triangles must all wind the same way in 2D, as :func:`front_facing` ones do). Returns (H, W) bool.

    Method (non-zero winding, exact): with every triangle wound the same way, the coverage count of a point is
    the winding number of all triangle edges around it; an edge shared by two selected triangles is crossed
    once in each direction and cancels, so only the outline edges are scanned. For each outline edge P→Q and
    each pixel row r with min(Py, Qy) ≤ r < max(Py, Qy), the crossing x = Px + (r − Py)(Qx − Px)/(Qy − Py)
    adds ±1 (downward +) to every pixel centre with c ≥ x; a cumulative sum along the rows gives the count.
    """
    h, w = shape
    tri = np.asarray(triangles, dtype=np.int64)
    xy = np.asarray(xy, dtype=np.float64)
    sel = np.ones(len(tri), dtype=bool) if selected is None else np.asarray(selected, dtype=bool)
    if twins is None or selected is None:
        # orient every selected triangle the same way, then pair up its edges
        tri = tri[sel]
        a, b, c = xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]]
        neg = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) < 0
        tri = np.where(neg[:, None], tri[:, [0, 2, 1]], tri)
        sel = np.ones(len(tri), dtype=bool)
        twins = edge_twins(tri, len(xy))
    sel_slot = np.repeat(sel, 3)
    tw = np.asarray(twins).reshape(-1)
    keep = sel_slot & ((tw < 0) | ~sel_slot[np.maximum(tw, 0)])
    slots = np.flatnonzero(keep)
    flat = tri.reshape(-1)
    start = flat[slots]
    end = flat[slots + np.where(slots % 3 == 2, -2, 1)]  # the next corner of the same triangle
    return fill_outline(xy[start, 0], xy[start, 1], xy[end, 0], xy[end, 1], shape)


def fill_outline(
    px: np.ndarray,
    py: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    shape: tuple[int, int],
    even_odd: bool = False,
    group: np.ndarray | None = None,
) -> np.ndarray:
    """Fill by non-zero winding of directed outline edges P→Q, each (E,): for every pixel row r with
    min(Py, Qy) ≤ r < max(Py, Qy) the crossing x = Px + (r − Py)(Qx − Px)/(Qy − Py) adds ±1 (downward +) to the
    pixel centres with c ≥ x; a cumulative sum along each row gives the winding number; a pixel is set where it is
    non-zero (or, with ``even_odd``, odd: what scan-line polygon fillers do with self-intersecting outlines).
    With ``group`` ((E,) ints ≥ 0), each group of edges is one closed outline with its own winding numbers, and a
    pixel is set where any group's is (the union of the separately filled outlines, in one pass).
    Returns (H, W) bool.

    Exact: the rows, the crossing (one fixed sequence of float64 − × ÷ + per edge and row, element-wise) and its
    ceiling are the same bits on every machine; the winding numbers are int64 counts and sums."""
    h, w = shape
    lo = np.maximum(np.ceil(np.minimum(py, qy)), 0.0)
    hi = np.minimum(np.ceil(np.maximum(py, qy)), float(h))
    rows = np.maximum(hi - lo, 0.0).astype(np.int64)
    e = np.flatnonzero(rows)
    if e.size == 0:
        return np.zeros((h, w), dtype=bool)
    n = rows[e]
    rep = np.repeat(e, n)
    r = lo[rep] + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    x0, y0, x1, y1 = px[rep], py[rep], qx[rep], qy[rep]
    cross_x = x0 + (r - y0) * (x1 - x0) / (y1 - y0)
    col = np.clip(np.ceil(cross_x), 0.0, float(w)).astype(np.int64)
    down = y1 > y0
    # only the block the outline spans: right of its last crossing every row has summed to 0 (closed loops)
    row = r.astype(np.int64)
    r0, c0 = int(row.min()), int(col.min())
    bh, bw = int(row.max()) + 1 - r0, int(col.max()) + 1 - c0
    cell = (row - r0) * bw + (col - c0)
    groups = 1
    if group is not None:
        g = np.asarray(group, dtype=np.int64)
        groups = int(g.max()) + 1
        cell += g[rep] * (bh * bw)
    size = groups * bh * bw
    acc = np.bincount(cell[down], minlength=size) - np.bincount(cell[~down], minlength=size)
    out = np.zeros((h, w), dtype=bool)
    winding = np.cumsum(acc.reshape(groups, bh, bw), axis=2)
    block = (winding % 2 != 0) if even_odd else (winding != 0)
    out[r0 : r0 + bh, c0 : c0 + bw] = block.any(axis=0)[:, : w - c0]
    return out
