"""numba kernel of the JPEG step (``exact_jpeg.jpeg_roundtrip`` with ``where``): the same fixed-point
colour conversions, 4:2:0 means, integer block transforms, quantisation and triangle upsampling, in int64, computing
only the blocks the pixels of ``where`` depend on. Integer arithmetic only (see :mod:`.pixel`)."""

from __future__ import annotations

import numpy as np

from ._numba import kernel


@kernel
def _dct(x: np.ndarray, cos: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
    """out = C·X·Cᵀ of an 8×8 block (``t``: scratch), each pass by the even/odd halves of its sums: the rounded table
    keeps cos[u, 7 − j] = (−1)ᵘ·cos[u, j] (checked by the tests), so the even u sum (x[j] + x[7 − j])·cos[u, j] and
    the odd u (x[j] − x[7 − j])·cos[u, j] over j < 4: the same integers with half the products."""
    for i in range(8):  # t = X·Cᵀ
        s0, s1, s2, s3 = x[i, 0] + x[i, 7], x[i, 1] + x[i, 6], x[i, 2] + x[i, 5], x[i, 3] + x[i, 4]
        d0, d1, d2, d3 = x[i, 0] - x[i, 7], x[i, 1] - x[i, 6], x[i, 2] - x[i, 5], x[i, 3] - x[i, 4]
        for u in range(0, 8, 2):
            t[i, u] = s0 * cos[u, 0] + s1 * cos[u, 1] + s2 * cos[u, 2] + s3 * cos[u, 3]
            t[i, u + 1] = d0 * cos[u + 1, 0] + d1 * cos[u + 1, 1] + d2 * cos[u + 1, 2] + d3 * cos[u + 1, 3]
    for u in range(8):  # out = C·t
        s0, s1, s2, s3 = t[0, u] + t[7, u], t[1, u] + t[6, u], t[2, u] + t[5, u], t[3, u] + t[4, u]
        d0, d1, d2, d3 = t[0, u] - t[7, u], t[1, u] - t[6, u], t[2, u] - t[5, u], t[3, u] - t[4, u]
        for v in range(0, 8, 2):
            out[v, u] = s0 * cos[v, 0] + s1 * cos[v, 1] + s2 * cos[v, 2] + s3 * cos[v, 3]
            out[v + 1, u] = d0 * cos[v + 1, 0] + d1 * cos[v + 1, 1] + d2 * cos[v + 1, 2] + d3 * cos[v + 1, 3]


@kernel
def _idct(f: np.ndarray, cos: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
    """out = Cᵀ·F·C of an 8×8 block (``t``: scratch), each pass by the even and odd terms of its sums: with
    E = Σ_{u even} f[u]·cos[u, j] and O = Σ_{u odd} f[u]·cos[u, j] (j < 4), the sums at j and 7 − j are E + O and
    E − O (the table's symmetry)."""
    for v in range(8):  # t = F·C
        for j in range(4):
            e = f[v, 0] * cos[0, j] + f[v, 2] * cos[2, j] + f[v, 4] * cos[4, j] + f[v, 6] * cos[6, j]
            o = f[v, 1] * cos[1, j] + f[v, 3] * cos[3, j] + f[v, 5] * cos[5, j] + f[v, 7] * cos[7, j]
            t[v, j] = e + o
            t[v, 7 - j] = e - o
    for j in range(8):  # out = Cᵀ·t
        for i in range(4):
            e = cos[0, i] * t[0, j] + cos[2, i] * t[2, j] + cos[4, i] * t[4, j] + cos[6, i] * t[6, j]
            o = cos[1, i] * t[1, j] + cos[3, i] * t[3, j] + cos[5, i] * t[5, j] + cos[7, i] * t[7, j]
            out[i, j] = e + o
            out[7 - i, j] = e - o


@kernel
def lossy_block(
    x: np.ndarray, table: np.ndarray, magic: np.ndarray, cos: np.ndarray, scratch: np.ndarray, out: np.ndarray
) -> None:
    """One 8×8 block (level-shifted by −128 in ``x``) of ``exact_jpeg._lossy_blocks`` into ``out``: F = C·X·Cᵀ
    (< 2⁴¹, :func:`_dct`), quantised sign·⌊(2|F| + s)/(2s)⌋ with s = table·2²⁸ (= ⌊|F|/s + ½⌋, half away from zero),
    dequantised, Cᵀ·F·C (< 2⁴⁵, :func:`_idct`), then clip(⌊(rec + 2²⁷)/2²⁸⌋ + 128, 0, 255); ``scratch``: (3, 8, 8)
    int64.

    The quotient without a division: ⌊(2|F| + s)/(2s)⌋ = ⌊n/(q·2²⁸)⌋ with n = |F| + q·2²⁷ (q the table entry),
    = ⌊m/q⌋ with m = ⌊n/2²⁸⌋ < 2¹⁴ (nested floors of positive integers), = ⌊m·M/2²⁴⌋ with M = ⌊2²⁴/q⌋ + 1
    (``magic``): m·M/2²⁴ exceeds m/q by less than 2¹⁴·2⁻²⁴ = 2⁻¹⁰, less than the 1/q ≥ 1/255 that separates m/q
    from the next integer when it is not one."""
    t, f, rec = scratch[0], scratch[1], scratch[2]
    _dct(x, cos, t, f)
    for v in range(8):
        for u in range(8):
            q = table[v, u]
            mag = (((abs(f[v, u]) + (q << 27)) >> 28) * magic[v, u]) >> 24
            f[v, u] = (mag if f[v, u] >= 0 else -mag) * q
    _idct(f, cos, t, rec)
    for i in range(8):
        for j in range(8):
            out[i, j] = min(max(((rec[i, j] + (np.int64(1) << 27)) >> 28) + 128, 0), 255)


@kernel
def selected_blocks(where: np.ndarray, hh: int, ww: int) -> tuple[np.ndarray, np.ndarray]:
    """(luma blocks holding a pixel of ``where``: (hh/8, ww/8) bool, MCUs within one MCU of such a block: (hh/16,
    ww/16) bool) for the (hh, ww) tile padded to whole MCUs."""
    sel_y = np.zeros((hh // 8, ww // 8), np.bool_)
    for y in range(where.shape[0]):
        for x in range(where.shape[1]):
            if where[y, x]:
                sel_y[y >> 3, x >> 3] = True
    mh, mw = hh // 16, ww // 16
    sel_c = np.zeros((mh, mw), np.bool_)
    for i in range(mh):
        for j in range(mw):
            if sel_y[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].any():
                sel_c[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2] = True
    return sel_y, sel_c


@kernel
def luma_plane(rgb: np.ndarray, sel: np.ndarray, table: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """The lossy luma of the selected 8×8 blocks (int64 (hh, ww), others 0): Y = ⌊(19595R + 38470G + 7471B + 2¹⁵)
    / 2¹⁶⌋ of the tile with its last row / column repeated."""
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.zeros((sel.shape[0] * 8, sel.shape[1] * 8), np.int64)
    x = np.empty((8, 8), np.int64)
    scratch = np.empty((3, 8, 8), np.int64)
    magic = (np.int64(1) << 24) // table + 1
    for bi in range(sel.shape[0]):
        for bj in range(sel.shape[1]):
            if not sel[bi, bj]:
                continue
            for i in range(8):
                yy = min(bi * 8 + i, h - 1)
                for j in range(8):
                    xx = min(bj * 8 + j, w - 1)
                    r, g, b = np.int64(rgb[yy, xx, 0]), np.int64(rgb[yy, xx, 1]), np.int64(rgb[yy, xx, 2])
                    x[i, j] = ((19595 * r + 38470 * g + 7471 * b + 32768) >> 16) - 128
            lossy_block(x, table, magic, cos, scratch, out[bi * 8 : bi * 8 + 8, bj * 8 : bj * 8 + 8])
    return out


@kernel
def chroma_planes(rgb: np.ndarray, sel: np.ndarray, table: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """The lossy Cb, Cr (int64 (2, hh/2, ww/2)) of the selected MCUs, others 0: per pixel
    Cb = ⌊(−11059R − 21709G + 32768B + 2¹⁵ − 1)/2¹⁶⌋ + 128, Cr = ⌊(32768R − 27439G − 5329B + 2¹⁵ − 1)/2¹⁶⌋ + 128,
    each 2×2 mean rounded half up (⌊(Σ + 2)/4⌋)."""
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.zeros((2, sel.shape[0] * 8, sel.shape[1] * 8), np.int64)
    x = np.empty((2, 8, 8), np.int64)
    scratch = np.empty((3, 8, 8), np.int64)
    magic = (np.int64(1) << 24) // table + 1
    for mi in range(sel.shape[0]):
        for mj in range(sel.shape[1]):
            if not sel[mi, mj]:
                continue
            for i in range(8):
                for j in range(8):
                    s0 = np.int64(0)
                    s1 = np.int64(0)
                    for d in range(4):
                        yy = min(mi * 16 + 2 * i + (d >> 1), h - 1)
                        xx = min(mj * 16 + 2 * j + (d & 1), w - 1)
                        r, g, b = np.int64(rgb[yy, xx, 0]), np.int64(rgb[yy, xx, 1]), np.int64(rgb[yy, xx, 2])
                        s0 += ((-11059 * r - 21709 * g + 32768 * b + 32767) >> 16) + 128
                        s1 += ((32768 * r - 27439 * g - 5329 * b + 32767) >> 16) + 128
                    x[0, i, j] = ((s0 + 2) >> 2) - 128
                    x[1, i, j] = ((s1 + 2) >> 2) - 128
            for k in range(2):
                lossy_block(x[k], table, magic, cos, scratch, out[k, mi * 8 : mi * 8 + 8, mj * 8 : mj * 8 + 8])
    return out


@kernel
def upsample2(p: np.ndarray) -> np.ndarray:
    """:func:`builders.exact_jpeg._upsample2`: per axis (rows first) 2i ← ⌊(3p[i] + p[i−1] + 2)/4⌋,
    2i + 1 ← ⌊(3p[i] + p[i+1] + 2)/4⌋, edges repeated."""
    n, m = p.shape
    v = np.empty((2 * n, m), np.int64)
    for i in range(n):
        up, cur, dn = p[max(i - 1, 0)], p[i], p[min(i + 1, n - 1)]
        for j in range(m):
            v[2 * i, j] = (3 * cur[j] + up[j] + 2) >> 2
            v[2 * i + 1, j] = (3 * cur[j] + dn[j] + 2) >> 2
    out = np.empty((2 * n, 2 * m), np.int64)
    for i in range(2 * n):
        row = v[i]
        for j in range(m):
            out[i, 2 * j] = (3 * row[j] + row[max(j - 1, 0)] + 2) >> 2
            out[i, 2 * j + 1] = (3 * row[j] + row[min(j + 1, m - 1)] + 2) >> 2
    return out


@kernel
def jpeg_roundtrip(
    rgb: np.ndarray, where: np.ndarray, qy: np.ndarray, qc: np.ndarray, cos: np.ndarray, out: np.ndarray
) -> None:
    """``exact_jpeg.jpeg_roundtrip`` with ``where``, written into ``out`` (a copy of ``rgb``) at the
    pixels of ``where`` only: R = Y + ⌊(91881·Cr' + 2¹⁵)/2¹⁶⌋, G = Y − ⌊(22554·Cb' + 46802·Cr' − 2¹⁵)/2¹⁶⌋,
    B = Y + ⌊(116130·Cb' + 2¹⁵)/2¹⁶⌋ (Cb' = Cb − 128, Cr' = Cr − 128), each clipped to 0–255."""
    h, w = rgb.shape[0], rgb.shape[1]
    sel_y, sel_c = selected_blocks(where, h + (-h) % 16, w + (-w) % 16)
    luma = luma_plane(rgb, sel_y, qy, cos)
    chroma = chroma_planes(rgb, sel_c, qc, cos)
    cb = upsample2(chroma[0])
    cr = upsample2(chroma[1])
    for y in range(h):
        for x in range(w):
            if not where[y, x]:
                continue
            lv, b_, r_ = luma[y, x], cb[y, x] - 128, cr[y, x] - 128
            out[y, x, 0] = min(max(lv + ((91881 * r_ + 32768) >> 16), 0), 255)
            out[y, x, 1] = min(max(lv - ((22554 * b_ + 46802 * r_ - 32768) >> 16), 0), 255)
            out[y, x, 2] = min(max(lv + ((116130 * b_ + 32768) >> 16), 0), 255)
