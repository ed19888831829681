"""numba kernels of the per-pixel operations (warp, straight colour, colour matrix, blend, separable filter, colour
moments): the same integers as their numpy references, named in each docstring, computed per pixel in one pass.

Only integer arithmetic runs inside a kernel (int64/int32 ``+ − × // >> & |``, comparisons, table look-ups): no float
value, no reduction whose order could matter. Integer operations have one result on every instruction set, so the
kernels give the same bytes whatever CPU numba compiles for (``NUMBA_CPU_NAME``). Callers (the reference modules)
check shapes, dtypes and bounds and pass C-contiguous arrays.
"""

from __future__ import annotations

import numpy as np

from ._numba import kernel


@kernel
def _span(m: int, b: int, n: int) -> tuple[int, int]:
    """[lo, hi]: the x ≥ 0 whose tap ⌊(m·x + b)/2¹⁶⌋ lies in [−1, n), i.e. −2¹⁶ ≤ m·x + b < n·2¹⁶, by exact floor
    divisions (lo > hi: none; hi = 2⁴⁰ for no upper bound)."""
    low, high = -65536 - b, n * 65536 - 1 - b  # low ≤ m·x ≤ high
    if m == 0:
        return (0, 1 << 40) if low <= 0 <= high else (1, 0)
    if m > 0:
        return -(-low // m), high // m
    return -(-high // m), low // m


@kernel
def warp_bilinear(pad: np.ndarray, m00: int, m01: int, m02: int, m10: int, m11: int, m12: int, out: np.ndarray) -> None:
    """``exact_warp.warp_bilinear`` into ``out`` (H, W, 4) uint8 (zeros on entry) from ``pad``: the (h, w, 4)
    source with 1 px of zeros around it, with the 16-bit fixed-point map (origin already subtracted):
    sx = m00·x + m01·y + m02, sy = m10·x + m11·y + m12 (int64); pixels whose top-left tap (⌊sx/2¹⁶⌋, ⌊sy/2¹⁶⌋) lies
    outside [−1, w) × [−1, h) stay 0 (per row they form one interval: :func:`_span`); per channel
    out = ⌊((256 − fy)·t + fy·b + 2¹⁵) / 2¹⁶⌋ with t = (256 − fx)·p₀₀ + fx·p₀₁, b = (256 − fx)·p₁₀ + fx·p₁₁.

    The four channels of a tap are one uint32 word; they are spread into two uint64 with channels (0, 2) and
    (1, 3) in 32-bit lanes, where t, b ≤ 255·256 < 2¹⁶ and (256 − fy)·t + fy·b + 2¹⁵ < 2²⁵: no lane carries into the
    next, so each lane holds its channel's integer (as the numpy reference's lanes). A pixel whose four taps are all
    zero (outside the cut-out) is 0, already in ``out``, and skipped."""
    h, w = pad.shape[0] - 2, pad.shape[1] - 2
    ch, cw = out.shape[0], out.shape[1]
    pw = pad.shape[1]
    words = pad.reshape(pad.shape[0] * pw * 4).view(np.uint32)
    lanes = np.uint64(0x000000FF000000FF)
    half = np.uint64(0x0000800000008000)
    s8, s16, s24, s48 = np.uint64(8), np.uint64(16), np.uint64(24), np.uint64(48)
    one, down, full, byte = np.uint64(1), np.uint64(pw), np.uint64(256), np.uint64(255)
    for y in range(ch):
        bx, by = m01 * y + m02, m11 * y + m12
        lx, hx = _span(m00, bx, w)
        ly, hy = _span(m10, by, h)
        lo, hi = max(lx, ly, 0), min(hx, hy, cw - 1)
        if hi < lo:
            continue
        row = out[y].reshape(cw * 4).view(np.uint32)[lo : hi + 1]
        sx, sy = m00 * lo + bx, m10 * lo + by
        for x in range(hi + 1 - lo):
            p = np.uint64(((sy >> 16) + 1) * pw + (sx >> 16) + 1)  # ≥ 0 inside the span
            a, b = np.uint64(words[p]), np.uint64(words[p + one])
            c, d = np.uint64(words[p + down]), np.uint64(words[p + down + one])
            if (a | b | c | d) != 0:
                fx, fy = np.uint64((sx >> 8) & 255), np.uint64((sy >> 8) & 255)
                gx, gy = full - fx, full - fy
                even = gy * (gx * ((a | (a << s16)) & lanes) + fx * ((b | (b << s16)) & lanes))
                even += fy * (gx * ((c | (c << s16)) & lanes) + fx * ((d | (d << s16)) & lanes)) + half
                odd = gy * (gx * (((a >> s8) | (a << s8)) & lanes) + fx * (((b >> s8) | (b << s8)) & lanes))
                odd += fy * (gx * (((c >> s8) | (c << s8)) & lanes) + fx * (((d >> s8) | (d << s8)) & lanes)) + half
                row[x] = np.uint32(
                    ((even >> s16) & byte)
                    | (((odd >> s16) & byte) << s8)
                    | (((even >> s48) & byte) << s16)
                    | (((odd >> s48) & byte) << s24)
                )
            sx += m00
            sy += m10


@kernel
def straight_colour(
    warped: np.ndarray, unpremultiply: np.ndarray, colour: np.ndarray, alpha: np.ndarray, solid: np.ndarray
) -> None:
    """``compositing.blend.straight_colour`` of ``warped`` (H, W, 4) into ``colour`` (H, W, 3) uint8, ``alpha``
    (H, W) uint8 and ``solid`` (H, W) bool: solid (α ≥ 128) pixels un-premultiplied by the table (pm itself at
    α = 255); other pixels with some α > 0 in their 3×3 window (zeros outside) get min(⌊(510·Σpm + Σα)/(2·Σα)⌋, 255)
    (= ⌊255·Σpm/Σα + ½⌋, integers); the rest 0. Σα per pixel from 3-row column sums (one pass per row)."""
    h, w = warped.shape[0], warped.shape[1]
    w4 = w * 4
    src = warped.reshape(h * w4)
    sums = np.zeros((w + 2) * 4, np.int32)  # per channel Σ over the 3-row window, with a zero column each side
    window = sums[4 : 4 + w4]
    for y in range(h):
        for i in range(w4):
            window[i] = 0
        for yy in range(max(y - 1, 0), min(y + 2, h)):
            row = src[yy * w4 : yy * w4 + w4]
            for i in range(w4):
                window[i] += np.int32(row[i])
        row = src[y * w4 : y * w4 + w4]
        col = colour[y].reshape(w * 3)
        for x in range(w):
            q, o = 4 * x, 3 * x
            a = np.int64(row[q + 3])
            alpha[y, x] = row[q + 3]
            if a >= 128:
                solid[y, x] = True
                if a == 255:
                    for k in range(3):
                        col[o + k] = row[q + k]
                else:
                    for k in range(3):
                        col[o + k] = unpremultiply[(a << 8) | np.int64(row[q + k])]
                continue
            solid[y, x] = False
            sa = np.int64(sums[q + 3]) + np.int64(sums[q + 7]) + np.int64(sums[q + 11])  # columns x − 1, x, x + 1
            if sa == 0:
                for k in range(3):
                    col[o + k] = 0
                continue
            d = 2 * sa
            for k in range(3):
                sk = np.int64(sums[q + k]) + np.int64(sums[q + 4 + k]) + np.int64(sums[q + 8 + k])
                col[o + k] = np.uint8(min((510 * sk + sa) // d, 255))


@kernel
def premultiply(rgba: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """``exact_image.premultiply`` of ``rgba`` (H, W, 4) uint8 into ``out``: colour ← ``table``[256·α + c] (the
    PREMULTIPLY table), α copied."""
    n = rgba.shape[0] * rgba.shape[1]
    src, dst = rgba.reshape(n * 4), out.reshape(n * 4)
    for p in range(n):
        a = np.int64(src[4 * p + 3]) << 8
        for k in range(3):
            dst[4 * p + k] = table[a | np.int64(src[4 * p + k])]
        dst[4 * p + 3] = src[4 * p + 3]


@kernel
def apply_colour_matrix(rgb: np.ndarray, matrix: np.ndarray, bits: int, out: np.ndarray) -> None:
    """``exact_image.apply_colour_matrix`` into ``out``: clip(⌊(A·x + b + 2^(bits−1)) / 2^bits⌋, 0, 255) per
    pixel, ``matrix`` (3, 4) int64, in int64 (the reference's int32 bounds hold, so no sum wraps in either)."""
    n = rgb.shape[0] * rgb.shape[1]
    src, dst = rgb.reshape(n * 3), out.reshape(n * 3)
    half = np.int64(1) << (bits - 1)
    for p in range(n):
        r, g, b = np.int64(src[3 * p]), np.int64(src[3 * p + 1]), np.int64(src[3 * p + 2])
        for k in range(3):
            v = (matrix[k, 0] * r + matrix[k, 1] * g + matrix[k, 2] * b + matrix[k, 3] + half) >> bits
            dst[3 * p + k] = np.uint8(min(max(v, 0), 255))


@kernel
def blend(fore: np.ndarray, back: np.ndarray, alpha: np.ndarray, out: np.ndarray) -> None:
    """``exact_image.blend`` into ``out``: (α·fore + (255 − α)·back)/255 rounded half up, as
    ⌊(v + ⌊v/256⌋)/256⌋ with v = α·fore + (255 − α)·back + 128 (:func:`builders.exact_image.div255`)."""
    n, c = fore.shape[0] * fore.shape[1], fore.shape[2]
    f, b, a, o = fore.reshape(n * c), back.reshape(n * c), alpha.reshape(n), out.reshape(n * c)
    if c == 3:  # RGB, the channel loop written out (the compiler then vectorises the pixel loop)
        for p in range(n):
            ap = np.int32(a[p])
            na = np.int32(255) - ap
            v0 = ap * np.int32(f[3 * p]) + na * np.int32(b[3 * p]) + np.int32(128)
            v1 = ap * np.int32(f[3 * p + 1]) + na * np.int32(b[3 * p + 1]) + np.int32(128)
            v2 = ap * np.int32(f[3 * p + 2]) + na * np.int32(b[3 * p + 2]) + np.int32(128)
            o[3 * p] = np.uint8((v0 + (v0 >> 8)) >> 8)
            o[3 * p + 1] = np.uint8((v1 + (v1 >> 8)) >> 8)
            o[3 * p + 2] = np.uint8((v2 + (v2 >> 8)) >> 8)
        return
    for p in range(n):
        ap = np.int32(a[p])
        na = np.int32(255) - ap
        for k in range(c):
            v = ap * np.int32(f[c * p + k]) + na * np.int32(b[c * p + k]) + np.int32(128)
            o[c * p + k] = np.uint8((v + (v >> 8)) >> 8)


@kernel
def separable_filter(
    img: np.ndarray, taps: np.ndarray, rows: np.ndarray, cols: np.ndarray, keep: int, total: int, out: np.ndarray
) -> None:
    """``exact_filter.separable_filter`` of ``img`` (H, W·C) uint8 (C channels interleaved) into ``out``: the
    vertical pass v = Σₖ taps[k]·img[rows[y + k]] rounded half up by ``keep`` bits (none when 0), then
    out = ⌊(Σₖ taps[k]·v[cols[x + k]] + 2^(total−1)) / 2^total⌋; ``rows``/``cols``: the mirrored border's indices
    (``exact_filter._mirror_index``). int32 with the reference's bounds (every sum < 2³¹); row by row, each tap
    one pass over a contiguous row."""
    h, wc = img.shape[0], img.shape[1]
    c = wc // (cols.shape[0] - taps.shape[0] + 1)
    w = wc // c
    n = taps.shape[0]
    t = taps.astype(np.int32)
    pad = np.empty((w + n - 1) * c, np.int32)
    acc = np.empty(wc, np.int32)
    half_keep = np.int32((1 << (keep - 1)) if keep > 0 else 0)
    half = np.int32(1 << (total - 1))
    for y in range(h):
        for i in range(wc):
            acc[i] = 0
        for j in range(n):
            tj = t[j]
            row = img[rows[y + j]]
            for i in range(wc):
                acc[i] += tj * np.int32(row[i])
        if keep > 0:
            for i in range(wc):
                acc[i] = (acc[i] + half_keep) >> keep
        for x in range(w + n - 1):  # the row with its mirrored border
            src = cols[x] * c
            for k in range(c):
                pad[x * c + k] = acc[src + k]
        for i in range(wc):
            acc[i] = half
        for j in range(n):
            tj = t[j]
            seg = pad[j * c : j * c + wc]
            for i in range(wc):
                acc[i] += tj * seg[i]
        for i in range(wc):
            out[y, i] = np.uint8(acc[i] >> total)


@kernel
def moments(rgb: np.ndarray, mask: np.ndarray, out: np.ndarray) -> None:
    """``compositing.colour.rgb_moments`` in int64 into ``out`` (10,): n, Σr, Σg, Σb, Σrr, Σrg, Σrb, Σgg, Σgb, Σbb
    over the pixels of ``rgb`` (n, 3) where ``mask`` (n,) (exact integers, < 2⁶³), summed in local registers."""
    n = rgb.shape[0]
    c, m = rgb.reshape(n * 3), mask
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = s9 = np.int64(0)  # local sums: kept in registers
    for p in range(n):
        if m[p]:
            r, g, b = np.int64(c[3 * p]), np.int64(c[3 * p + 1]), np.int64(c[3 * p + 2])
            s0 += 1
            s1 += r
            s2 += g
            s3 += b
            s4 += r * r
            s5 += r * g
            s6 += r * b
            s7 += g * g
            s8 += g * b
            s9 += b * b
    out[0], out[1], out[2], out[3], out[4] = s0, s1, s2, s3, s4
    out[5], out[6], out[7], out[8], out[9] = s5, s6, s7, s8, s9


@kernel
def area_resize(
    img: np.ndarray, ix: np.ndarray, wx: np.ndarray, iy: np.ndarray, wy: np.ndarray, den: int, out: np.ndarray
) -> None:
    """``exact_image.area_resize`` of ``img`` (h, w, C) uint8 into ``out`` (nh, nw, C): per output pixel the exact
    area sum S = Σ wy[j, t]·wx[i, s]·img[iy[j, t], ix[i, s]] (the taps and weights of ``aflw_occ.area.area_taps``;
    int64, below 2³¹ for uint8 images), rounded half up: ⌊(2S + den)/(2·den)⌋ = ⌊S/den + ½⌋. The vertical pass runs
    once per output row over the whole width."""
    h, w, c = img.shape
    wc, nw = w * c, out.shape[1]
    src = img.reshape(h * wc)
    rows = np.empty(wc, np.int64)
    for j in range(out.shape[0]):
        for i in range(wc):
            rows[i] = 0
        for t in range(iy.shape[1]):
            wt = wy[j, t]
            if wt == 0:
                continue
            row = src[iy[j, t] * wc : iy[j, t] * wc + wc]
            for i in range(wc):
                rows[i] += wt * np.int64(row[i])
        dst = out[j].reshape(nw * c)
        for i in range(nw):
            for k in range(c):
                acc = np.int64(0)
                for s in range(ix.shape[1]):
                    acc += wx[i, s] * rows[ix[i, s] * c + k]
                dst[i * c + k] = (2 * acc + den) // (2 * den)


@kernel
def blur_premultiplied(
    colour: np.ndarray,
    alpha: np.ndarray,
    taps: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    keep: int,
    total: int,
    premultiply: np.ndarray,
    unpremultiply: np.ndarray,
    out: np.ndarray,
    out_alpha: np.ndarray,
) -> None:
    """``compositing.blend.blur`` into ``out`` (H, W, 3) and ``out_alpha`` (H, W): the straight ``colour`` and
    ``alpha`` premultiplied by the table (index 256·α + c), the four channels filtered by :func:`separable_filter`
    (``taps``, ``rows``, ``cols``, ``keep``, ``total`` as ``exact_filter.filter_plan``), then un-premultiplied where
    the blurred α is 1–254 (table, index 256·α + p), the premultiplied value itself where it is 255 and the original
    colour where it is 0."""
    h, w = alpha.shape
    pm = np.empty((h, w * 4), np.uint8)
    for y in range(h):
        for x in range(w):
            a = np.int64(alpha[y, x])
            for k in range(3):
                pm[y, 4 * x + k] = premultiply[(a << 8) | np.int64(colour[y, x, k])]
            pm[y, 4 * x + 3] = alpha[y, x]
    blurred = np.empty((h, w * 4), np.uint8)
    separable_filter(pm, taps, rows, cols, keep, total, blurred)
    for y in range(h):
        for x in range(w):
            a = np.int64(blurred[y, 4 * x + 3])
            out_alpha[y, x] = blurred[y, 4 * x + 3]
            for k in range(3):
                p = blurred[y, 4 * x + k]
                if a == 255:
                    out[y, x, k] = p
                elif a == 0:
                    out[y, x, k] = colour[y, x, k]
                else:
                    out[y, x, k] = unpremultiply[(a << 8) | np.int64(p)]
