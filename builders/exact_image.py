"""Integer image operations with the same result on every machine: the pixel path of NSOD and RandOcc.

OpenCV's resize, warpAffine, GaussianBlur, transform, blendLinear and JPEG codec change their last bits with the SIMD
width and between releases (``docs/reproducibility.md``). Every function here computes in numpy integer arithmetic
with one stated rounding at the end: num/den rounded half up. Integer values are held in int32 or, where that is
faster, float64: a float64 holding an integer below 2⁵³ is exact, and ``+ − ×`` of such values stay exact integers
whatever the order, the SIMD width, FMA or the BLAS kernel, as long as every partial result stays below 2⁵³ (each
function states its bound). The final division is IEEE-correctly rounded and :func:`round_div` shows why rounding that
quotient gives the exact num/den rounded half up. Images are uint8 (H, W, C) unless said otherwise;
borders mirror without repeating the edge (OpenCV's BORDER_REFLECT_101, numpy's ``"reflect"``).

Speed without changing a bit: small integer types wherever the stated bounds allow (uint16 for sums below 2¹⁶),
table look-ups for per-value maps (:data:`PREMULTIPLY`, :data:`UNPREMULTIPLY`), several channels in the integer lanes
of one word where no lane can carry (SWAR, bounds stated), and OpenCV only for operations that are exact by nature
on integers and have no rounding to change between releases: min/max (``erode``/``dilate``), byte copies
(``copyTo``, ``merge``, ``cvtColor`` dropping alpha, ``copyMakeBorder``) and unnormalised box sums (``boxFilter``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from aflw_occ import exactmath
from aflw_occ.area import area_sums

#: fractional bits of the inverse affine map (source coordinates) and of the bilinear weights
MAP_BITS = 16
WEIGHT_BITS = 8
#: fixed-point scale of a Gaussian kernel's taps (they sum to exactly this)
KERNEL_ONE = 1 << 14


def round_div(num: np.ndarray, den: np.ndarray | int) -> np.ndarray:
    """⌊num/den + ½⌋ (int64) for integers 0 ≤ num < 2⁵⁰ and 0 < den < 2⁵⁰ (arrays or ints, any float/int dtype).

    Exact although computed in float64: q = fl(num/den) is within q·2⁻⁵³ of num/den; when num/den is not k + ½ its
    distance to the nearest k + ½ is at least 1/(2·den), which exceeds that error (and the error of adding ½) while
    num < 2⁵⁰; when num/den = k + ½ exactly, q is exact and so is q + ½.
    """
    q = np.asarray(num, np.float64) / np.asarray(den, np.float64)
    return np.floor(q + 0.5).astype(np.int64)


def div255(x: np.ndarray) -> np.ndarray:
    """x/255 rounded half up for integers 0 ≤ x ≤ 255² (int32 or uint16 in, same dtype out): ⌊(y + ⌊y/256⌋)/256⌋
    with y = x + 128, equal to ⌊(2x + 255)/510⌋ on the whole range (checked exhaustively in the tests); every
    intermediate is ≤ 255² + 128 + 254 < 2¹⁶."""
    y = x + 128
    return (y + (y >> 8)) >> 8


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """uint8 RGBA with colour·α/255 rounded (alpha unchanged): one look-up per value in :data:`PREMULTIPLY` (index
    256·α + c < 2¹⁶; channel by channel, which numpy does much faster than broadcasting over a last axis of
    3)."""
    out = rgba.copy()
    a = rgba[..., 3].astype(np.intp) << 8
    for k in range(3):  # indices < 2¹⁶ = the table's length: mode="clip" only skips the bounds check
        out[..., k] = np.take(PREMULTIPLY, a | rgba[..., k], mode="clip")
    return out


def _unpremultiply_table() -> np.ndarray:
    """(256·256,) uint8: entry 256·α + p = min(⌊255p/α + ½⌋, 255) = min(⌊(510p + α)/(2α)⌋, 255), 0 for α = 0
    (exact integer arithmetic)."""
    a = np.arange(256, dtype=np.int64)[:, None]
    p = np.arange(256, dtype=np.int64)[None, :]
    t = np.minimum((510 * p + a) // np.maximum(2 * a, 1), 255)
    return np.where(a > 0, t, 0).astype(np.uint8).reshape(-1)


#: :func:`premultiply` of every (α, c) pair: entry 256·α + c = :func:`div255` (c·α) (int32)
PREMULTIPLY = div255(np.arange(256, dtype=np.int32)[:, None] * np.arange(256, dtype=np.int32)[None, :]).astype(
    np.uint8
).reshape(-1)
PREMULTIPLY.setflags(write=False)
#: :func:`unpremultiply` of every (α, p) pair
UNPREMULTIPLY = _unpremultiply_table()
UNPREMULTIPLY.setflags(write=False)


def unpremultiply(pm: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight colour (uint8 (H, W, 3)) = 255·pm/α rounded, clipped to 255; 0 where α = 0: one look-up per value in
    :data:`UNPREMULTIPLY` (index 256·α + pm < 2¹⁶), channel by channel."""
    out = np.empty(pm.shape, np.uint8)
    a = alpha.astype(np.intp) << 8
    for k in range(pm.shape[-1]):  # indices < 2¹⁶ = the table's length: mode="clip" only skips the bounds check
        out[..., k] = np.take(UNPREMULTIPLY, a | pm[..., k], mode="clip")
    return out


def copy_where(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
    """dst[mask] = src[mask] in place, for uint8 images of the same shape (dst may be a view) and a (H, W) bool mask.

    ``cv2.copyTo`` is a masked memory copy (no arithmetic: the same bytes on every machine and release) and far
    faster than numpy's boolean assignment over a last axis of 3.
    """
    done = cv2.copyTo(src, mask.view(np.uint8), dst)
    if done is not dst:  # OpenCV had to reallocate (e.g. a non-contiguous view): write the result back
        dst[...] = done


# ---- resampling ----


def area_resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 image resampled to ``size`` = (nw, nh) by exact area averaging (each output = the mean of the input
    over its footprint, rounded half up)."""
    sums, den = area_sums(img, size)
    q = sums.astype(np.float64)  # round_div(sums, den) in place: ⌊fl(sums/den) + ½⌋ (sums < 2³¹)
    q /= den
    q += 0.5
    return np.floor(q, out=q).astype(np.uint8)


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


def warp_bilinear(src: np.ndarray, inverse: np.ndarray | list[list[float]], size: tuple[int, int]) -> np.ndarray:
    """Bilinear warp of ``src`` (h, w, 4) uint8 onto a (H, W) = ``size[::-1]`` canvas; outside ``src`` is 0.

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
    """
    cw, ch = size
    h, w, c = src.shape
    if c != 4:
        raise ValueError("warp_bilinear expects RGBA (h, w, 4)")
    m = [[round(float(v) * (1 << MAP_BITS)) for v in row] for row in np.asarray(inverse, np.float64)]
    out = np.zeros((ch, cw, c), np.uint8)
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
    # 1 px of zeros around the image: every tap of a computed pixel falls in the padded image
    pad = np.zeros((h + 2, w + 2, 4), np.uint8)
    pad[1:-1, 1:-1] = src
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


# ---- filters ----


def _mirror_index(n: int, r: int) -> np.ndarray:
    """Indices of a mirrored border (OpenCV's BORDER_REFLECT_101, repeated for short axes): −r … n + r − 1."""
    idx = np.arange(-r, n + r)
    period = max(2 * n - 2, 1)
    m = np.mod(idx, period)
    return np.where(m >= n, period - m, m)


def _convolve_axis(img: np.ndarray, taps: np.ndarray, axis: int, dtype: type = np.int32) -> np.ndarray:
    """Σₖ taps[k]·img shifted by k − r along ``axis`` (mirrored border), r = len(taps) // 2, in ``dtype`` (int32, or
    uint16 when the caller has bounded the sums below 2¹⁶). Symmetric taps add the two mirrored neighbours first:
    t·(a + b) = t·a + t·b, the same integer."""
    r = len(taps) // 2
    n = img.shape[axis]
    if n > r:  # one reflection suffices: build the border by slice copies (p[r − 1 − i] = img[1 + i], …)
        shape = list(img.shape)
        shape[axis] = n + 2 * r
        p = np.empty(shape, dtype)
        pa = np.moveaxis(p, axis, 0)
        ia = np.moveaxis(img, axis, 0)
        pa[r : r + n] = ia
        for i in range(r):
            pa[r - 1 - i] = ia[1 + i]
            pa[r + n + i] = ia[n - 2 - i]
    else:
        p = np.take(img, _mirror_index(n, r), axis=axis).astype(dtype, copy=False)
    t = [int(v) for v in taps]

    def shifted(k: int) -> np.ndarray:
        sl = [slice(None)] * img.ndim
        sl[axis] = slice(k, k + n)
        return p[tuple(sl)]

    out = shifted(r) * dtype(t[r]) if t[r] != 1 else shifted(r).copy()
    symmetric = t == t[::-1]
    tmp = np.empty_like(out)
    for k in range(r):
        if symmetric:
            if t[k]:
                np.add(shifted(k), shifted(2 * r - k), out=tmp)
                if t[k] != 1:
                    tmp *= dtype(t[k])
                out += tmp
        else:
            for j in (k, 2 * r - k):
                if t[j]:
                    np.multiply(shifted(j), dtype(t[j]), out=tmp)
                    out += tmp
    return out


#: extra fractional bits kept between the two passes of :func:`separable_filter`
FILTER_GUARD_BITS = 6


_BINOMIAL = {3: [1, 2, 1], 5: [1, 4, 6, 4, 1]}


def _binomial_filter(img: np.ndarray, n: int) -> np.ndarray:
    """:func:`separable_filter` with the binomial taps of length n = 3 or 5 (S = 2^(n−1) ≤ 16, so the 2-D sums are
    whole: ⌊(Σ + 2^(2n−3)) / 2^(2n−2)⌋), for images larger than the radius r = (n − 1)/2.

    The binomial row is [1, 1] convolved with itself n − 1 times, so the 2-D sum is n − 1 unnormalised 2×2 box sums
    (``cv2.boxFilter``, alternately anchored at (0, 0) and (1, 1) to stay centred) of the image mirrored by r
    (``cv2.copyMakeBorder``, BORDER_REFLECT_101 = the mirror above): integer additions only (≤ 255·4^(n−1) < 2¹⁶,
    uint16), exact on every machine and release. Each pass spoils at most one more row/column at one edge of the
    padded image, r per side in all, which is exactly the margin cut away.
    """
    r = (n - 1) // 2
    acc = cv2.copyMakeBorder(img, r, r, r, r, cv2.BORDER_REFLECT_101)
    for k in range(n - 1):
        anchor = (0, 0) if k % 2 == 0 else (1, 1)
        acc = cv2.boxFilter(acc, cv2.CV_16U, (2, 2), anchor=anchor, normalize=False, borderType=cv2.BORDER_REPLICATE)
    acc = acc[r : acc.shape[0] - r, r : acc.shape[1] - r]
    total = 2 * (n - 1)
    acc = acc + np.uint16(1 << (total - 1))
    acc >>= total
    return acc.astype(np.uint8)


def separable_filter(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """uint8 image filtered by the separable kernel taps ⊗ taps (non-negative integer taps summing to a power of two
    S = 2^s ≤ 2¹⁴), in int32: the vertical pass is rounded half up to 6 fractional bits
    (v = ⌊(Σ + 2^(s−7)) / 2^(s−6)⌋ ≤ 255·2⁶, or kept whole when s ≤ 6), the horizontal pass (≤ 255·2⁶·2¹⁴ < 2³¹) is
    rounded half up to an integer. When S ≤ 16 both passes run in uint16 (every sum ≤ 255·S² ≤ 255·2⁸ < 2¹⁶);
    the binomial 3- and 5-tap kernels as exact box sums (:func:`_binomial_filter`)."""
    s = int(np.sum(taps)).bit_length() - 1
    if int(np.sum(taps)) != 1 << s or not 1 <= s <= 14 or len(taps) % 2 != 1:
        raise ValueError("separable_filter: an odd number of taps summing to a power of two from 2 to 2**14")
    r = len(taps) // 2
    binomial = len(taps) in (3, 5) and [int(v) for v in taps] == _BINOMIAL[len(taps)]
    if binomial and img.dtype == np.uint8 and min(img.shape[:2]) > r:
        return _binomial_filter(img, len(taps))
    dtype = np.uint16 if s <= 4 else np.int32
    v = _convolve_axis(img, taps, 0, dtype)
    keep = s - FILTER_GUARD_BITS if s > FILTER_GUARD_BITS else 0
    if keep:
        v += dtype(1 << (keep - 1))
        v >>= keep
    acc = _convolve_axis(v, taps, 1, dtype)
    total = 2 * s - keep
    acc += dtype(1 << (total - 1))
    acc >>= total
    return acc.astype(np.uint8)


def gaussian_taps(sigma: float) -> np.ndarray:
    """Integer Gaussian taps (radius ⌈3σ⌉) summing to exactly :data:`KERNEL_ONE`: round(KERNEL_ONE·gₖ/Σg), the
    rounding residual added to the centre tap; gₖ = exp(−k²/2σ²) from :mod:`aflw_occ.exactmath`."""
    r = max(1, math.ceil(3.0 * sigma))
    g = [exactmath.exp(-(k * k) / (2.0 * sigma * sigma)) for k in range(-r, r + 1)]
    total = math.fsum(g)
    taps = np.array([int(round(KERNEL_ONE * v / total)) for v in g], np.int64)
    taps[r] += KERNEL_ONE - int(taps.sum())
    return taps


def erode(mask: np.ndarray, k: int) -> np.ndarray:
    """k×k minimum filter of a uint8 image (outside the image counts as 255, as OpenCV's erode). ``cv2.erode`` on
    uint8 is a minimum of integers: exact, the same on every machine and release."""
    return cv2.erode(mask, np.ones((k, k), np.uint8))


def dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """k×k maximum filter of a uint8/bool image (outside the image counts as 0). ``cv2.dilate`` on uint8 is a maximum
    of integers: exact, the same on every machine and release."""
    if mask.dtype == bool:
        return cv2.dilate(mask.view(np.uint8), np.ones((k, k), np.uint8)).view(bool)
    return cv2.dilate(mask, np.ones((k, k), np.uint8))


def box3_sums_at(rgba: np.ndarray, idx: np.ndarray) -> list[np.ndarray]:
    """3×3 box sums (zeros outside the image) of the four channels of an (H, W, 4) uint8 image at the flat pixel
    indices ``idx``: four (n,) int32 arrays. ``cv2.boxFilter`` unnormalised to uint16 is a sum of at most 9·255 < 2¹⁶
    integers (no scaling, no rounding): exact, the same on every machine and release."""
    sums = cv2.boxFilter(rgba, cv2.CV_16U, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    picked = sums.reshape(-1, 4)[idx]
    return [picked[:, k].astype(np.int32) for k in range(4)]


def box3_sums(img: np.ndarray) -> np.ndarray:
    """3×3 box sums (int32) with zeros outside the image."""
    p = np.pad(img.astype(np.int32), [(1, 1), (1, 1)] + [(0, 0)] * (img.ndim - 2))
    h, w = img.shape[:2]
    rows = p[0:h] + p[1 : h + 1] + p[2 : h + 2]
    return rows[:, 0:w] + rows[:, 1 : w + 1] + rows[:, 2 : w + 2]


# ---- colour ----


def _planes(img: np.ndarray) -> list[np.ndarray]:
    """The channels of an (…, C) uint8 image as contiguous planes (``cv2.split``: a byte copy, exact everywhere; numpy
    works much faster on contiguous planes than on every third byte)."""
    if img.ndim == 3 and img.dtype == np.uint8 and 1 <= img.shape[2] <= 4:
        return list(cv2.split(img))
    return [np.ascontiguousarray(img[..., k]) for k in range(img.shape[-1])]


def _interleave(planes: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`_planes` (``cv2.merge``, a byte copy) as an array of ``shape``."""
    if len(shape) == 3 and 1 <= len(planes) <= 4:
        return cv2.merge(planes).reshape(shape)
    out = np.empty(shape, np.uint8)
    for k, p in enumerate(planes):
        out[..., k] = p
    return out


def apply_colour_matrix(rgb: np.ndarray, matrix: np.ndarray, bits: int) -> np.ndarray:
    """x ↦ clip(⌊(A·x + b + 2^(bits−1)) / 2^bits⌋, 0, 255) per pixel, with ``matrix`` = [A | b] (3, 4) integers
    (int32: |A| < 2¹⁸ and |b| < 2²⁸ keep every partial sum below 2³¹)."""
    m = np.asarray(matrix, np.int64)
    if np.abs(m[:, :3]).max() >= 1 << 18 or np.abs(m[:, 3]).max() >= 1 << 28:
        raise ValueError("apply_colour_matrix: entries outside the int32-safe range")
    x = [p.astype(np.int32) for p in _planes(rgb)]
    v = np.empty(x[0].shape, np.int32)
    tmp = np.empty_like(v)
    planes = []
    for r in range(3):
        np.multiply(x[0], np.int32(m[r, 0]), out=v)
        for c in (1, 2):
            np.multiply(x[c], np.int32(m[r, c]), out=tmp)
            v += tmp
        v += np.int32(m[r, 3] + (1 << (bits - 1)))
        v >>= bits
        np.clip(v, 0, 255, out=v)
        planes.append(v.astype(np.uint8))
    return _interleave(planes, rgb.shape)


def blend(fore: np.ndarray, back: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(α·fore + (255 − α)·back)/255 rounded half up, α (H, W) uint8: per channel in uint16 (the sum is ≤ 255²,
    :func:`div255`)."""
    a = alpha.astype(np.uint16)
    na = 255 - a
    planes = []
    for f, b in zip(_planes(fore), _planes(back), strict=True):
        v = a * f
        v += na * b
        planes.append(div255(v).astype(np.uint8))
    return _interleave(planes, fore.shape)
