"""numba kernel of the JPEG step (``exact_jpeg.jpeg_roundtrip`` with ``where``): the same fixed-point
colour conversions, 4:2:0 means, integer block transforms, quantisation and triangle upsampling, in int64, computing
only the blocks the pixels of ``where`` depend on. Integer arithmetic only (see :mod:`.pixel`)."""

from __future__ import annotations

import numpy as np

from ._numba import kernel


@kernel
def lossy_block(x: np.ndarray, table: np.ndarray, cos: np.ndarray, out: np.ndarray) -> None:
    """One 8×8 block (level-shifted by −128 in ``x``) of ``exact_jpeg._lossy_blocks`` into ``out``:
    F = C·X·Cᵀ (< 2⁴¹), quantised sign·⌊(2|F| + s)/(2s)⌋ with s = table·2²⁸ (= ⌊|F|/s + ½⌋, half away from zero),
    dequantised, Cᵀ·F·C (< 2⁴⁵), then clip(⌊(rec + 2²⁷)/2²⁸⌋ + 128, 0, 255)."""
    t = np.empty((8, 8), np.int64)
    f = np.empty((8, 8), np.int64)
    for i in range(8):  # t = X·Cᵀ
        for u in range(8):
            acc = np.int64(0)
            for j in range(8):
                acc += x[i, j] * cos[u, j]
            t[i, u] = acc
    for v in range(8):  # F = C·t, quantised and dequantised
        for u in range(8):
            acc = np.int64(0)
            for i in range(8):
                acc += cos[v, i] * t[i, u]
            step = table[v, u] << 28
            mag = (2 * abs(acc) + step) // (2 * step)
            f[v, u] = (mag if acc >= 0 else -mag) * table[v, u]
    for v in range(8):  # t = F·C
        for j in range(8):
            acc = np.int64(0)
            for u in range(8):
                acc += f[v, u] * cos[u, j]
            t[v, j] = acc
    for i in range(8):  # Cᵀ·t
        for j in range(8):
            acc = np.int64(0)
            for v in range(8):
                acc += cos[v, i] * t[v, j]
            out[i, j] = min(max(((acc + (np.int64(1) << 27)) >> 28) + 128, 0), 255)


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
            lossy_block(x, table, cos, out[bi * 8 : bi * 8 + 8, bj * 8 : bj * 8 + 8])
    return out


@kernel
def chroma_planes(rgb: np.ndarray, sel: np.ndarray, table: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """The lossy Cb, Cr (int64 (2, hh/2, ww/2)) of the selected MCUs, others 0: per pixel
    Cb = ⌊(−11059R − 21709G + 32768B + 2¹⁵ − 1)/2¹⁶⌋ + 128, Cr = ⌊(32768R − 27439G − 5329B + 2¹⁵ − 1)/2¹⁶⌋ + 128,
    each 2×2 mean rounded half up (⌊(Σ + 2)/4⌋)."""
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.zeros((2, sel.shape[0] * 8, sel.shape[1] * 8), np.int64)
    x = np.empty((2, 8, 8), np.int64)
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
                lossy_block(x[k], table, cos, out[k, mi * 8 : mi * 8 + 8, mj * 8 : mj * 8 + 8])
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
