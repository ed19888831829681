"""numba kernels of the JPEG step (``exact_jpeg.jpeg_roundtrip`` with ``where``): the same fixed-point
colour conversions, 4:2:0 means, integer block transforms, quantisation and triangle upsampling, in int64, computing
only the blocks the pixels of ``where`` depend on, all of a plane's selected blocks transformed together (the blocks
along the contiguous axis, so the compiler vectorises each step over them). Integer arithmetic only (see
:mod:`.pixel`)."""

from __future__ import annotations

import numpy as np

from ._numba import kernel


@kernel
def _halves(a: np.ndarray, b: np.ndarray, ce: int, co: int, even: np.ndarray, odd: np.ndarray, first: bool) -> None:
    """even (=, or += unless ``first``) (a + b)·ce and odd (a − b)·co, element by element over the n blocks (one
    contiguous pass: the compiler vectorises it)."""
    if first:
        for k in range(a.shape[0]):
            even[k] = (a[k] + b[k]) * ce
            odd[k] = (a[k] - b[k]) * co
    else:
        for k in range(a.shape[0]):
            even[k] += (a[k] + b[k]) * ce
            odd[k] += (a[k] - b[k]) * co


@kernel
def _forward(x: np.ndarray, cos: np.ndarray, out: np.ndarray, stride: int, step: int) -> None:
    """Eight 8-point transforms out[r(u)] = Σⱼ x[r(j)]·cos[u, j] of every block, the blocks along the last axis
    (``x``, ``out``: (64, n), row 8i + j = entry (i, j)); transform g uses the rows r(j) = g·``step`` + j·``stride``:
    X·Cᵀ with (stride, step) = (1, 8), C·T with (8, 1). By the even/odd halves of the sums: the rounded table keeps
    cos[u, 7 − j] = (−1)ᵘ·cos[u, j] (checked by the tests), so even u sum (x[j] + x[7 − j])·cos[u, j] and odd u
    (x[j] − x[7 − j])·cos[u, j] over j < 4 (:func:`_halves`): the same integers with half the products."""
    for g in range(8):
        r = g * step
        for j in range(4):
            a, b = x[r + j * stride], x[r + (7 - j) * stride]
            for u in range(0, 8, 2):
                _halves(a, b, cos[u, j], cos[u + 1, j], out[r + u * stride], out[r + (u + 1) * stride], j == 0)


@kernel
def _inverse(f: np.ndarray, cos: np.ndarray, t: np.ndarray, x: np.ndarray) -> None:
    """x = clip(⌊(Cᵀ·F·C + 2²⁷)/2²⁸⌋ + 128, 0, 255) for every block (layout of :func:`_forward`; ``t``: scratch),
    each pass by the even and odd terms of its sums: with E = Σ_{u even} f[v, u]·cos[u, j] and
    O = Σ_{u odd} f[v, u]·cos[u, j] (j < 4), the sums at j and 7 − j are E + O and E − O (the table's symmetry);
    likewise along v."""
    n = f.shape[1]
    for v in range(8):  # t = F·C
        for j in range(4):
            left, right = t[8 * v + j], t[8 * v + 7 - j]
            c0, c2, c4, c6 = cos[0, j], cos[2, j], cos[4, j], cos[6, j]  # even rows
            c1, c3, c5, c7 = cos[1, j], cos[3, j], cos[5, j], cos[7, j]  # odd rows
            f0, f1, f2, f3 = f[8 * v], f[8 * v + 1], f[8 * v + 2], f[8 * v + 3]
            f4, f5, f6, f7 = f[8 * v + 4], f[8 * v + 5], f[8 * v + 6], f[8 * v + 7]
            for k in range(n):
                e = f0[k] * c0 + f2[k] * c2 + f4[k] * c4 + f6[k] * c6
                o = f1[k] * c1 + f3[k] * c3 + f5[k] * c5 + f7[k] * c7
                left[k] = e + o
                right[k] = e - o
    half = np.int64(1) << 27
    for j in range(8):  # x = Cᵀ·t, rounded, shifted back and clipped
        t0, t1, t2, t3 = t[j], t[8 + j], t[16 + j], t[24 + j]
        t4, t5, t6, t7 = t[32 + j], t[40 + j], t[48 + j], t[56 + j]
        for i in range(4):
            top, bottom = x[8 * i + j], x[8 * (7 - i) + j]
            c0, c2, c4, c6 = cos[0, i], cos[2, i], cos[4, i], cos[6, i]  # even rows
            c1, c3, c5, c7 = cos[1, i], cos[3, i], cos[5, i], cos[7, i]  # odd rows
            for k in range(n):
                e = c0 * t0[k] + c2 * t2[k] + c4 * t4[k] + c6 * t6[k]
                o = c1 * t1[k] + c3 * t3[k] + c5 * t5[k] + c7 * t7[k]
                top[k] = min(max(((e + o + half) >> 28) + 128, 0), 255)
                bottom[k] = min(max(((e - o + half) >> 28) + 128, 0), 255)


@kernel
def lossy_blocks(x: np.ndarray, table: np.ndarray, cos: np.ndarray) -> None:
    """``exact_jpeg._lossy_blocks`` of n 8×8 blocks in place: ``x`` (64, n) int64, row 8i + j = entry (i, j) of
    every block (level-shifted by −128 on entry, 0–255 on return). F = C·X·Cᵀ (< 2⁴¹, :func:`_forward`), quantised
    sign·⌊(2|F| + s)/(2s)⌋ with s = table·2²⁸ (= ⌊|F|/s + ½⌋, half away from zero), dequantised, Cᵀ·F·C (< 2⁴⁵),
    then clip(⌊(rec + 2²⁷)/2²⁸⌋ + 128, 0, 255) (:func:`_inverse`).

    The quotient without a division: ⌊(2|F| + s)/(2s)⌋ = ⌊n/(q·2²⁸)⌋ with n = |F| + q·2²⁷ (q the table entry),
    = ⌊m/q⌋ with m = ⌊n/2²⁸⌋ < 2¹⁴ (nested floors of positive integers), = ⌊m·M/2²⁴⌋ with M = ⌊2²⁴/q⌋ + 1:
    m·M/2²⁴ exceeds m/q by less than 2¹⁴·2⁻²⁴ = 2⁻¹⁰, less than the 1/q ≥ 1/255 that separates m/q from the next
    integer when it is not one."""
    n = x.shape[1]
    t = np.empty((64, n), np.int64)
    f = np.empty((64, n), np.int64)
    _forward(x, cos, t, 1, 8)  # X·Cᵀ
    _forward(t, cos, f, 8, 1)  # C·(X·Cᵀ)
    for e in range(64):
        q = table[e >> 3, e & 7]
        magic = (np.int64(1) << 24) // q + 1
        half = q << 27
        row = f[e]
        for k in range(n):
            v = row[k]
            mag = (((abs(v) + half) >> 28) * magic) >> 24
            row[k] = (mag if v >= 0 else -mag) * q
    _inverse(f, cos, t, x)


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
def colour_planes(rgb: np.ndarray) -> np.ndarray:
    """(3, h, w) int64: per pixel Y = ⌊(19595R + 38470G + 7471B + 2¹⁵)/2¹⁶⌋,
    Cb = ⌊(−11059R − 21709G + 32768B + 2¹⁵ − 1)/2¹⁶⌋ + 128 and Cr = ⌊(32768R − 27439G − 5329B + 2¹⁵ − 1)/2¹⁶⌋ + 128
    (one pass over the pixels)."""
    h, w = rgb.shape[0], rgb.shape[1]
    n = h * w
    src = rgb.reshape(n * 3)
    out = np.empty((3, h, w), np.int64)
    y, cb, cr = out[0].reshape(n), out[1].reshape(n), out[2].reshape(n)
    for p in range(n):
        r, g, b = np.int64(src[3 * p]), np.int64(src[3 * p + 1]), np.int64(src[3 * p + 2])
        y[p] = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
        cb[p] = ((-11059 * r - 21709 * g + 32768 * b + 32767) >> 16) + 128
        cr[p] = ((32768 * r - 27439 * g - 5329 * b + 32767) >> 16) + 128
    return out


@kernel
def luma_blocks(planes: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """The selected 8×8 blocks of the Y plane (``planes[0]``, :func:`colour_planes`; last row / column repeated),
    level-shifted by −128, as (64, n) int64 in :func:`lossy_blocks`' layout (row-major block order)."""
    h, w = planes.shape[1], planes.shape[2]
    x = np.empty((64, np.count_nonzero(sel)), np.int64)
    b = 0
    for bi in range(sel.shape[0]):
        for bj in range(sel.shape[1]):
            if not sel[bi, bj]:
                continue
            for i in range(8):
                row = planes[0, min(bi * 8 + i, h - 1)]
                for j in range(8):
                    x[8 * i + j, b] = row[min(bj * 8 + j, w - 1)] - 128
            b += 1
    return x


@kernel
def chroma_blocks(planes: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """The Cb then the Cr blocks of the selected MCUs as (64, 2n) int64 (:func:`lossy_blocks`' layout): each entry
    the 2×2 mean of ``planes[1]`` / ``planes[2]`` (last row / column repeated) rounded half up (⌊(Σ + 2)/4⌋),
    level-shifted by −128."""
    h, w = planes.shape[1], planes.shape[2]
    n = np.count_nonzero(sel)
    x = np.empty((64, 2 * n), np.int64)
    b = 0
    for mi in range(sel.shape[0]):
        for mj in range(sel.shape[1]):
            if not sel[mi, mj]:
                continue
            for i in range(8):
                y0, y1 = min(mi * 16 + 2 * i, h - 1), min(mi * 16 + 2 * i + 1, h - 1)
                for j in range(8):
                    x0, x1 = min(mj * 16 + 2 * j, w - 1), min(mj * 16 + 2 * j + 1, w - 1)
                    for c in range(2):
                        p = planes[1 + c]
                        s = p[y0, x0] + p[y0, x1] + p[y1, x0] + p[y1, x1]
                        x[8 * i + j, c * n + b] = ((s + 2) >> 2) - 128
            b += 1
    return x


@kernel
def _scatter(x: np.ndarray, sel: np.ndarray, out: np.ndarray) -> None:
    """Block b of ``x`` (64, n; the b-th selected block of ``sel`` in row-major order) into its place in ``out``."""
    b = 0
    for bi in range(sel.shape[0]):
        for bj in range(sel.shape[1]):
            if not sel[bi, bj]:
                continue
            for e in range(64):
                out[bi * 8 + (e >> 3), bj * 8 + (e & 7)] = x[e, b]
            b += 1


@kernel
def _upsample2(p: np.ndarray) -> np.ndarray:
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
def to_rgb(
    luma: np.ndarray, chroma: np.ndarray, sel_y: np.ndarray, sel_c: np.ndarray, where: np.ndarray, out: np.ndarray
) -> None:
    """The lossy blocks (:func:`lossy_blocks` of :func:`luma_blocks` and :func:`chroma_blocks`) put back in their
    planes (others 0), the chroma planes upsampled (:func:`_upsample2`), and at the pixels of ``where`` only
    R = Y + ⌊(91881·Cr' + 2¹⁵)/2¹⁶⌋, G = Y − ⌊(22554·Cb' + 46802·Cr' − 2¹⁵)/2¹⁶⌋, B = Y + ⌊(116130·Cb' + 2¹⁵)/2¹⁶⌋
    (Cb' = Cb − 128, Cr' = Cr − 128) written into ``out``, each clipped to 0–255."""
    y = np.zeros((sel_y.shape[0] * 8, sel_y.shape[1] * 8), np.int64)
    _scatter(luma, sel_y, y)
    n = chroma.shape[1] // 2
    c = np.zeros((2, sel_c.shape[0] * 8, sel_c.shape[1] * 8), np.int64)
    _scatter(chroma[:, :n], sel_c, c[0])
    _scatter(chroma[:, n:], sel_c, c[1])
    cb, cr = _upsample2(c[0]), _upsample2(c[1])
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            if not where[i, j]:
                continue
            lv, b_, r_ = y[i, j], cb[i, j] - 128, cr[i, j] - 128
            out[i, j, 0] = min(max(lv + ((91881 * r_ + 32768) >> 16), 0), 255)
            out[i, j, 1] = min(max(lv - ((22554 * b_ + 46802 * r_ - 32768) >> 16), 0), 255)
            out[i, j, 2] = min(max(lv + ((116130 * b_ + 32768) >> 16), 0), 255)


def jpeg_roundtrip(
    rgb: np.ndarray, where: np.ndarray, qy: np.ndarray, qc: np.ndarray, cos: np.ndarray, out: np.ndarray
) -> None:
    """``exact_jpeg.jpeg_roundtrip`` with ``where``, written into ``out`` (a copy of ``rgb``) at the pixels of
    ``where`` only: the blocks they depend on (:func:`selected_blocks`), gathered from the colour planes, transformed
    (:func:`lossy_blocks`) and converted back (:func:`to_rgb`). A Python sequence of kernels rather than one kernel:
    numba would optimise every inlined step again inside it (twice the compile time for nothing)."""
    h, w = rgb.shape[0], rgb.shape[1]
    sel_y, sel_c = selected_blocks(where, h + (-h) % 16, w + (-w) % 16)
    planes = colour_planes(rgb)
    luma, chroma = luma_blocks(planes, sel_y), chroma_blocks(planes, sel_c)
    lossy_blocks(luma, qy, cos)
    lossy_blocks(chroma, qc, cos)
    to_rgb(luma, chroma, sel_y, sel_c, where, out)
