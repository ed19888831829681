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

This module holds the per-pixel operations (rounding, premultiplied alpha, masked copies, area resampling, colour
maps, blending); the bilinear warp is in :mod:`.exact_warp`, the filters in :mod:`.exact_filter`.
"""

from __future__ import annotations

import cv2
import numpy as np

from aflw_occ.area import area_sums, area_taps

from . import kernels


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
    3); with the numba backend (:mod:`.kernels`) the compiled kernel, the same look-ups."""
    jit = kernels.compiled() if rgba.ndim == 3 and rgba.shape[2] == 4 and rgba.dtype == np.uint8 else None
    if jit is not None:
        out = np.empty(rgba.shape, np.uint8)
        jit.premultiply(np.ascontiguousarray(rgba), PREMULTIPLY, out)
        return out
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
    over its footprint, rounded half up); with the numba backend (:mod:`.kernels`) the compiled kernel sums the same
    integers."""
    jit = kernels.compiled() if img.ndim == 3 and img.dtype == np.uint8 else None
    if jit is not None:
        (ix, wx), (iy, wy) = area_taps(img.shape[1], size[0]), area_taps(img.shape[0], size[1])
        out = np.empty((size[1], size[0], img.shape[2]), np.uint8)
        jit.area_resize(np.ascontiguousarray(img), ix, wx, iy, wy, img.shape[0] * img.shape[1], out)
        return out
    sums, den = area_sums(img, size)
    q = sums.astype(np.float64)  # round_div(sums, den) in place: ⌊fl(sums/den) + ½⌋ (sums < 2³¹)
    q /= den
    q += 0.5
    return np.floor(q, out=q).astype(np.uint8)


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
    jit = kernels.compiled()
    if jit is not None:  # the compiled kernel (:mod:`.kernels`): the same integers per pixel, in int64
        out = np.empty(rgb.shape, np.uint8)
        jit.apply_colour_matrix(np.ascontiguousarray(rgb), np.ascontiguousarray(m), int(bits), out)
        return out
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
    :func:`div255`); with the numba backend (:mod:`.kernels`) the compiled kernel, the same integers per pixel."""
    jit = kernels.compiled()
    if jit is not None:
        out = np.empty(fore.shape, np.uint8)
        jit.blend(np.ascontiguousarray(fore), np.ascontiguousarray(back), np.ascontiguousarray(alpha), out)
        return out
    a = alpha.astype(np.uint16)
    na = 255 - a
    planes = []
    for f, b in zip(_planes(fore), _planes(back), strict=True):
        v = a * f
        v += na * b
        planes.append(div255(v).astype(np.uint8))
    return _interleave(planes, fore.shape)
