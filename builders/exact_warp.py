"""Bilinear warp in integer arithmetic (fixed-point map and weights, four channels in the lanes of one uint64): the
same bytes on every machine, as the other exact pixel operations of :mod:`.exact_image` (rounding rules there)."""

from __future__ import annotations

import numpy as np

from . import kernels

#: fractional bits of the inverse affine map (source coordinates) and of the bilinear weights
MAP_BITS = 16
WEIGHT_BITS = 8


def _span(a: int, b: np.ndarray, lo: int, hi: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the integers x ∈ [0, n) with lo ≤ a·x + b < hi, as [first, stop) (stop ≤ first when none); exact
    integer floor divisions (int64)."""
    if a > 0:
        first, stop = -((b - lo) // a), (hi - 1 - b) // a + 1  # ⌈(lo − b)/a⌉, ⌊(hi − 1 − b)/a⌋ + 1
    elif a < 0:
        first, stop = -((hi - 1 - b) // -a), (b - lo) // -a + 1  # ⌈(b − hi + 1)/−a⌉, ⌊(b − lo)/−a⌋ + 1
    else:
        ok = (b >= lo) & (b < hi)
        first, stop = np.zeros_like(b), np.where(ok, n, 0)
    return np.maximum(first, 0), np.minimum(stop, n)


_U64 = np.uint64
#: the four bytes of a packed RGBA word spread to the four 16-bit lanes of a uint64, and the even/odd lanes widened
#: to 32 bits
_M16 = _U64(0x0000FFFF0000FFFF)
_M8 = _U64(0x00FF00FF00FF00FF)
_ROUND32 = _U64((1 << 15) | (1 << 47))
_BYTES32 = _U64(0x000000FF000000FF)


def _spread16(rgba: np.ndarray) -> np.ndarray:
    """(…, 4) uint8 → (…) uint64 with byte k of each pixel in bits 16k … 16k + 7 (four 16-bit lanes)."""
    x = np.ascontiguousarray(rgba).view(np.uint32)[..., 0].astype(np.uint64)
    x |= x << _U64(16)
    x &= _M16
    x |= x << _U64(8)
    x &= _M8
    return x


def warp_bilinear(
    src: np.ndarray,
    inverse: np.ndarray | list[list[float]],
    size: tuple[int, int],
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Bilinear warp of ``src`` (h, w, 4) uint8 onto a (H, W) = ``size[::-1]`` canvas; outside ``src`` is 0.

    ``origin``: where ``src``'s pixel (0, 0) lies in the coordinates ``inverse`` maps to (a crop of a larger source
    whose other pixels are all 0): subtracted from the rounded map as the integer ``origin``·2¹⁶, so every position
    is exactly the one of the uncropped source, and the result is the same pixel for pixel.

    ``inverse`` (2, 3) maps canvas pixel (x, y) to source coordinates (pixel centres at integers, as OpenCV's
    warpAffine with WARP_INVERSE_MAP). It is rounded to 16 fractional bits (integer positions); the position's
    fraction to 8 bits; the four taps get weights (256 − fx)(256 − fy), … summing to 2¹⁶; Σ weight·pixel < 2²⁴ and the
    result is rounded half up: out = ⌊((256 − fy)·t + fy·b + 2¹⁵) / 2¹⁶⌋ with t = (256 − fx)·p₀₀ + fx·p₀₁ and
    b = (256 − fx)·p₁₀ + fx·p₁₁ per channel.

    Only the canvas pixels whose top-left tap (x₀, y₀) = (⌊sx⌋, ⌊sy⌋) lies in [−1, w) × [−1, h) are computed (the
    others are 0); per canvas row they form one interval, found by exact integer division (:func:`_span`). Their
    positions sx ∈ [−2¹⁶, w·2¹⁶), sy ∈ [−2¹⁶, h·2¹⁶) fit in int32 for sources below 2¹⁴ px a side, and are computed
    in int32 there: wrap-around arithmetic (mod 2³²) of the row offset and the x step gives the exact position
    whenever the position itself fits (int64 otherwise).
    The four channels are computed together in integer lanes of one uint64 (SWAR): t, b ≤ 255·256 < 2¹⁶ in four
    16-bit lanes, then (256 − fy)·t + fy·b + 2¹⁵ < 2²⁵ in two 32-bit lanes (channels 0, 2 and 1, 3): no lane ever
    carries into the next, so each lane holds exactly its channel's integer.

    With the numba backend (:mod:`.kernels`) the compiled kernel computes the same integers per pixel.
    """
    cw, ch = size
    h, w, c = src.shape
    if c != 4:
        raise ValueError("warp_bilinear expects RGBA (h, w, 4)")
    m = [[round(float(v) * (1 << MAP_BITS)) for v in row] for row in np.asarray(inverse, np.float64)]
    m[0][2] -= origin[0] << MAP_BITS
    m[1][2] -= origin[1] << MAP_BITS
    out = np.zeros((ch, cw, c), np.uint8)
    # 1 px of zeros around the image: every tap of a computed pixel falls in the padded image
    pad = np.zeros((h + 2, w + 2, 4), np.uint8)
    pad[1:-1, 1:-1] = src
    jit = kernels.compiled()
    if jit is not None:  # the compiled kernel: the same integers, one pass per pixel
        jit.warp_bilinear(pad, *m[0], *m[1], out)
        return out
    return _warp_numpy(pad, m, out)


def _warp_numpy(pad: np.ndarray, m: list[list[int]], out: np.ndarray) -> np.ndarray:
    """:func:`warp_bilinear` in numpy (the reference): ``pad`` is the source with 1 px of zeros around it, ``m`` the
    fixed-point map with the origin subtracted, ``out`` the zero canvas, filled and returned."""
    ch, cw = out.shape[:2]
    h, w = pad.shape[0] - 2, pad.shape[1] - 2
    ys = np.arange(ch, dtype=np.int64)
    bx = m[0][1] * ys + m[0][2]  # sx = m00·x + bx[y]
    by = m[1][1] * ys + m[1][2]
    one_px = 1 << MAP_BITS
    fx0, fx1 = _span(m[0][0], bx, -one_px, w * one_px, cw)
    fy0, fy1 = _span(m[1][0], by, -one_px, h * one_px, cw)
    first, stop = np.maximum(fx0, fy0), np.minimum(fx1, fy1)
    counts = np.maximum(stop - first, 0)
    n = int(counts.sum())
    if n == 0:
        return out
    small = max(h, w) < 1 << 14 and max(abs(m[0][0]), abs(m[1][0])) < 1 << 31
    ct = np.int32 if small else np.int64
    # canvas x of every computed pixel (row by row), then its source position (exact: see the docstring)
    start = np.cumsum(counts) - counts
    xs = np.arange(n, dtype=ct)
    xs -= np.repeat((start - first).astype(ct), counts)
    sx = xs * ct(m[0][0])
    sx += np.repeat(bx.astype(ct), counts)  # int64 → int32 keeps the value mod 2³²
    sy = xs * ct(m[1][0])
    sy += np.repeat(by.astype(ct), counts)
    shift = MAP_BITS - WEIGHT_BITS
    one = 1 << WEIGHT_BITS
    fx = ((sx >> shift) & (one - 1)).astype(np.uint64)
    fy = ((sy >> shift) & (one - 1)).astype(np.uint64)
    gx = np.subtract(_U64(one), fx)
    gy = np.subtract(_U64(one), fy)
    lanes = _spread16(pad).reshape(-1)
    sx >>= MAP_BITS
    sy >>= MAP_BITS
    base = sy * ct(w + 2)
    base += sx
    base += ct(w + 3)  # the padded image's flat index of the top-left tap (≥ 0)
    base = base.astype(np.intp)
    # the four taps: lanes[base + offset], taken from views that start ``offset`` words later (no index arithmetic)
    top = np.take(lanes, base)
    top *= gx
    tmp = np.take(lanes[1:], base)
    tmp *= fx
    top += tmp
    bottom = np.take(lanes[w + 2 :], base)
    bottom *= gx
    np.take(lanes[w + 3 :], base, out=tmp)
    tmp *= fx
    bottom += tmp
    # channels 0 and 2 (even 16-bit lanes), then 1 and 3, each in two 32-bit lanes
    even = top & _M16
    even *= gy
    np.bitwise_and(bottom, _M16, out=tmp)
    tmp *= fy
    even += tmp
    even += _ROUND32
    even >>= _U64(2 * WEIGHT_BITS)
    even &= _BYTES32  # channel 0 in bits 0–7, channel 2 in bits 32–39
    top >>= _U64(16)
    top &= _M16
    top *= gy
    bottom >>= _U64(16)
    bottom &= _M16
    bottom *= fy
    top += bottom
    top += _ROUND32
    top >>= _U64(2 * WEIGHT_BITS - 8)
    top &= _BYTES32 << _U64(8)  # channel 1 in bits 8–15, channel 3 in bits 40–47
    even |= top
    even |= even >> _U64(16)  # channels 2, 3 (bits 32–47) → bits 16–31: the pixel's four bytes in the low word
    cols = np.arange(cw)
    computed = (cols >= first[:, None]) & (cols < stop[:, None])  # row-major: the order of the pixels above
    out.view(np.uint32).reshape(ch, cw)[computed] = even.astype(np.uint32)
    return out
