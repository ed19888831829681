"""Integer image filters (separable, binomial, min/max, box sums): the same bytes on every machine and OpenCV
release, as the other exact pixel operations of :mod:`.exact_image` (rounding rules and bounds there). OpenCV is used
only for operations that are exact by nature on integers: min/max (``erode``/``dilate``), ``copyMakeBorder`` and
unnormalised box sums (``boxFilter``)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from aflw_occ import exactmath

from . import kernels

#: fixed-point scale of a Gaussian kernel's taps (they sum to exactly this)
KERNEL_ONE = 1 << 14


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


def _dropped_bits(s: int) -> int:
    """The bits :func:`separable_filter`'s vertical pass drops for taps summing to 2^s (it keeps 6 fractional
    bits: :data:`FILTER_GUARD_BITS`)."""
    return s - FILTER_GUARD_BITS if s > FILTER_GUARD_BITS else 0


def filter_plan(taps: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """What the compiled :func:`separable_filter` of an (h, w) image needs (the general path, valid taps): the taps
    (int64), the mirrored row and column indices (:func:`_mirror_index`), and the bits the vertical pass drops
    (``keep``) and the horizontal pass divides by (``total``)."""
    s = int(np.sum(taps)).bit_length() - 1
    keep = _dropped_bits(s)
    r = len(taps) // 2
    return np.asarray(taps, np.int64), _mirror_index(h, r), _mirror_index(w, r), keep, 2 * s - keep


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
    jit = kernels.compiled() if img.dtype == np.uint8 else None
    if jit is not None:  # the compiled kernel (:mod:`.kernels`): the same integers, row by row
        flat = np.ascontiguousarray(img).reshape(img.shape[0], -1)
        out = np.empty(flat.shape, np.uint8)
        jit.separable_filter(flat, *filter_plan(taps, img.shape[0], img.shape[1]), out)
        return out.reshape(img.shape)
    dtype = np.uint16 if s <= 4 else np.int32
    v = _convolve_axis(img, taps, 0, dtype)
    keep = _dropped_bits(s)
    if keep:
        v += dtype(1 << (keep - 1))
        v >>= keep
    acc = _convolve_axis(v, taps, 1, dtype)
    total = 2 * s - keep
    acc += dtype(1 << (total - 1))
    acc >>= total
    return acc.astype(np.uint8)


def gaussian_radius(sigma: float) -> int:
    """The radius of :func:`gaussian_taps`: ⌈3σ⌉, at least 1 (how far the blur spreads a pixel)."""
    return max(1, math.ceil(3.0 * sigma))


def gaussian_taps(sigma: float) -> np.ndarray:
    """Integer Gaussian taps (radius :func:`gaussian_radius` = ⌈3σ⌉) summing to exactly :data:`KERNEL_ONE`:
    round(KERNEL_ONE·gₖ/Σg), the rounding residual added to the centre tap; gₖ = exp(−k²/2σ²) from
    :mod:`aflw_occ.exactmath`."""
    r = gaussian_radius(sigma)
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
