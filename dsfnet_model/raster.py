"""Rasterisation of per-vertex attributes into the 256×256 UV map (linear, so bases rasterise column by column).

The UV position of vertex k is ``(col, row) = (u·255, 255 - v·255)``. Every integer texel inside a triangle gets
the barycentric interpolation of the triangle's vertex attributes; when triangles overlap, the first triangle in
the list wins (a z-buffer with equal depths). The result is a sparse matrix ``M (65536, n_vertices)`` with at most
three non-zeros per row, so any attribute map is ``M @ attributes``.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

UV = 256


def uv_pixel_coords(uv: np.ndarray, size: int = UV) -> np.ndarray:
    """``uv (N, 2)`` in [0, 1] → texel coordinates ``(N, 2)`` as (col, row) = (u·(S-1), (S-1) - v·(S-1))."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.stack([uv[:, 0] * (size - 1), (size - 1) - uv[:, 1] * (size - 1)], 1)


def interpolation_matrix(pix: np.ndarray, tri: np.ndarray, size: int = UV, max_extent: int = 8) -> sparse.csr_matrix:
    """Sparse barycentric interpolation ``(size², N)`` from vertex attributes to texels.

    ``pix (N, 2)`` texel coordinates (col, row) of the vertices, ``tri (T, 3)`` 0-based vertex indices. A texel
    P is inside triangle (A, B, C) when, with ``P = A + a·(C - A) + b·(B - A)``, ``a ≥ 0, b ≥ 0, a + b < 1``;
    its weights are ``(1 - a - b, b, a)`` for (A, B, C). Triangles spanning more than ``max_extent`` texels are
    handled in a slower second pass.
    """
    tri = np.asarray(tri, dtype=np.int64)
    a, b, c = pix[tri[:, 0]], pix[tri[:, 1]], pix[tri[:, 2]]
    lo = np.maximum(np.ceil(np.minimum(np.minimum(a, b), c)), 0).astype(np.int64)
    hi = np.minimum(np.floor(np.maximum(np.maximum(a, b), c)), size - 1).astype(np.int64)
    extent = (hi - lo).max(1)
    rows_out: list[np.ndarray] = []
    tri_out: list[np.ndarray] = []
    w_out: list[np.ndarray] = []

    def process(sel: np.ndarray, ext: int) -> None:
        if sel.size == 0:
            return
        off = np.arange(ext + 1)
        du, dv = np.meshgrid(off, off, indexing="xy")
        px = lo[sel, 0:1] + du.reshape(1, -1)
        py = lo[sel, 1:2] + dv.reshape(1, -1)
        ok = (px <= hi[sel, 0:1]) & (py <= hi[sel, 1:2])
        ua, vb, inside = barycentric_inside(a[sel, :2], b[sel, :2], c[sel, :2], px, py, ok)
        ti, ki = np.nonzero(inside)
        rows_out.append(py[ti, ki] * size + px[ti, ki])
        tri_out.append(sel[ti])
        w_out.append(np.stack([1 - ua[ti, ki] - vb[ti, ki], vb[ti, ki], ua[ti, ki]], 1))

    valid = (hi >= lo).all(1)
    small = np.nonzero(valid & (extent <= max_extent))[0]
    process(small, max_extent)
    for t in np.nonzero(valid & (extent > max_extent))[0]:
        process(np.array([t]), int(extent[t]))
    texel = np.concatenate(rows_out) if rows_out else np.zeros(0, np.int64)
    tris = np.concatenate(tri_out) if tri_out else np.zeros(0, np.int64)
    weights = np.concatenate(w_out) if w_out else np.zeros((0, 3))
    # first triangle (in list order) wins each texel
    order = np.lexsort((tris, texel))
    texel, tris, weights = texel[order], tris[order], weights[order]
    first = np.ones(texel.shape, bool)
    first[1:] = texel[1:] != texel[:-1]
    texel, tris, weights = texel[first], tris[first], weights[first]
    cols = tri[tris]
    mat = sparse.csr_matrix(
        (weights.reshape(-1), (np.repeat(texel, 3), cols.reshape(-1))), shape=(size * size, pix.shape[0])
    )
    return mat


def barycentric_inside(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, px: np.ndarray, py: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Barycentric coordinates of candidate pixels in their triangles, and the inside test.

    ``a, b, c`` (K, 2) triangle corners; ``px, py`` (K, M) candidate pixel centres of each triangle; ``ok`` (K, M)
    candidates to consider. With v0 = c − a, v1 = b − a, v2 = p − a: u = (d11·d02 − d01·d12)/den,
    v = (d00·d12 − d01·d02)/den, den = d00·d11 − d01², dij = vi·vj. Inside: u ≥ 0, v ≥ 0, u + v < 1, den ≠ 0.
    Returns (u, v, inside), each (K, M).
    """
    v0 = c - a
    v1 = b - a
    v2x = px - a[:, 0:1]
    v2y = py - a[:, 1:2]
    d00 = (v0 * v0).sum(1, keepdims=True)
    d01 = (v0 * v1).sum(1, keepdims=True)
    d11 = (v1 * v1).sum(1, keepdims=True)
    d02 = v0[:, 0:1] * v2x + v0[:, 1:2] * v2y
    d12 = v1[:, 0:1] * v2x + v1[:, 1:2] * v2y
    den = d00 * d11 - d01 * d01
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(den != 0, 1.0 / den, 0.0)
    u = (d11 * d02 - d01 * d12) * inv
    v = (d00 * d12 - d01 * d02) * inv
    inside = ok & (u >= 0) & (v >= 0) & (u + v < 1) & (den != 0)
    return u, v, inside
