"""Exact area resampling sums: the mean of an image over each output pixel's footprint as an integer numerator over
one common denominator, shared by the NOD segmenter's half-resolution crops (:mod:`aflw_occ.skin.exact`) and the
NSOD/RandOcc/occluder-library resampling (:mod:`aflw_occ.builders.exact_image`), which round it each their own way.

Integer arithmetic only: the same sums in any order, on any CPU and with any library release (OpenCV only splits
and merges channel planes: byte copies).
"""

from __future__ import annotations

import cv2
import numpy as np


def area_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_out, T) source indices and integer weights of area resampling along one axis.

    Output j covers [j·n_in, (j+1)·n_in) and input i covers [i·n_out, (i+1)·n_out) (both in units of 1/n_out of an
    input pixel); the weight is their overlap, so each output's weights sum to exactly ``n_in``.
    """
    j = np.arange(n_out, dtype=np.int64)
    first = (j * n_in) // n_out
    last = ((j + 1) * n_in - 1) // n_out
    taps = int((last - first).max()) + 1
    idx = first[:, None] + np.arange(taps, dtype=np.int64)[None, :]
    lo = np.maximum(idx * n_out, (j * n_in)[:, None])
    hi = np.minimum((idx + 1) * n_out, ((j + 1) * n_in)[:, None])
    weight = np.where(idx <= last[:, None], np.maximum(hi - lo, 0), 0)
    return np.minimum(idx, n_in - 1), weight


def _axis_sums(a: np.ndarray, axis: int, n_out: int, dtype: type) -> np.ndarray:
    """Σₜ weightₜ·a[indexₜ] along ``axis`` (:func:`area_taps`), in ``dtype``.

    When the taps' first indices are j·⌊n_in/n_out⌋ (every 2:1 or nearly 2:1 shrink), tap t of output j reads
    a[t + j·step]: a strided view, no gather (the outputs whose tap t lies beyond the axis have weight 0 there and
    are left out); otherwise the tap is gathered with ``np.take``. The same integer terms either way."""
    n_in = a.shape[axis]
    idx, weight = area_taps(n_in, n_out)
    step = n_in // n_out
    j = np.arange(n_out, dtype=np.int64)
    regular = bool(np.array_equal((j * n_in) // n_out, step * j))
    shape = list(a.shape)
    shape[axis] = n_out
    out = np.zeros(shape, dtype)
    tmp = np.empty_like(out)

    def along(s: slice) -> tuple[slice, ...]:
        sl = [slice(None)] * a.ndim
        sl[axis] = s
        return tuple(sl)

    def shaped(w: np.ndarray) -> np.ndarray:
        ws = [1] * a.ndim
        ws[axis] = len(w)
        return w.astype(dtype).reshape(ws)

    for t in range(idx.shape[1]):
        if regular:
            k = min(n_out, (n_in - 1 - t) // step + 1)  # outputs whose tap t is inside the axis
            part = along(slice(0, k))
            np.multiply(a[along(slice(t, t + step * (k - 1) + 1, step))], shaped(weight[:k, t]), out=tmp[part])
            out[part] += tmp[part]
        else:
            np.multiply(np.take(a, idx[:, t], axis=axis), shaped(weight[:, t]), out=tmp)
            out += tmp
    return out


def area_sums(img: np.ndarray, size: tuple[int, int], limit: int = 255) -> tuple[np.ndarray, int]:
    """Unnormalised area-resampled sums (int32 (nh, nw[, C]), or int64 when ``limit``·W·H ≥ 2³¹) of ``img``
    (H, W[, C]) with values in [0, ``limit``] at ``size`` = (nw, nh), and their common denominator W·H: sums /
    denominator is the mean of the input over each output pixel's footprint.

    Two passes of Σₜ weightₜ·value at indexₜ (:func:`area_taps`, :func:`_axis_sums`) on the channel planes (numpy is
    fast on long contiguous rows, slow on a last axis of 3): along the rows, then along the columns; every partial
    sum is ≤ the final one. ``cv2.split`` / ``cv2.merge`` only move bytes (exact everywhere)."""
    nw, nh = size
    h, w = img.shape[:2]
    c = img.shape[2] if img.ndim == 3 else 1
    dtype = np.int32 if limit * w * h < 1 << 31 else np.int64
    if img.dtype in (np.uint8, np.uint16) and c <= 4 and limit * w < 1 << 31 and min(h, w) > 0:
        return _area_sums_by_rows(img, size, dtype), w * h
    packed = 1 < c <= 4 and img.dtype in (np.uint8, np.int32)
    if c == 1:
        planes = img.reshape(1, h, w)
    elif packed:
        planes = np.stack(cv2.split(np.ascontiguousarray(img)))
    else:
        planes = np.ascontiguousarray(np.moveaxis(img, 2, 0))
    out = _axis_sums(_axis_sums(planes, 2, nw, dtype), 1, nh, dtype)  # (C, nh, nw)
    if c == 1:
        return out.reshape((nh, nw) + img.shape[2:]), w * h
    if packed and dtype == np.int32:
        return cv2.merge(list(out)).reshape(nh, nw, c), w * h
    return np.ascontiguousarray(np.moveaxis(out, 0, 2)), w * h


def _halve_axis0(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Area sums of an int32 array along axis 0 for n → ⌊n/2⌋ outputs, with the weights of :func:`area_taps`
    divided by their common factor, and the sum of those weights (the axis' share of the denominator).

    n = 2m: output j = a[2j] + a[2j+1] (weights m, m over m), share 2. n = 2m + 1: output j =
    (m − j)·a[2j] + m·a[2j+1] + (j + 1)·a[2j+2] (:func:`area_taps` exactly: three taps summing to 2m + 1), share
    2m + 1."""
    n = a.shape[0]
    m = n // 2
    if n == 2 * m:
        return a[0::2] + a[1::2], 2
    j = np.arange(m, dtype=np.int32).reshape((m,) + (1,) * (a.ndim - 1))
    out = a[1 : 2 * m : 2] * np.int32(m)
    out += (m - j) * a[0 : 2 * m : 2]
    out += (j + 1) * a[2 : 2 * m + 1 : 2]
    return out, 2 * m + 1


def half_sums(img: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`area_sums` of a uint8 (H, W[, C]) image at (⌊H/2⌋, ⌊W/2⌋), as int32 sums over a reduced denominator:
    sums / denominator is the same mean of each output pixel's footprint (both divided by the weights' common
    factor), so any rounding of it is the same.

    Integer arithmetic only: the row pass on the interleaved rows, then the same pass on the transposed result
    (``cv2.transpose`` only moves the int32 values); every sum is ≤ 255·H·W, < 2³¹ for H·W ≤ 2²²."""
    h_in, w_in = img.shape[:2]
    c = img.shape[2] if img.ndim == 3 else 1
    rows, share_r = _halve_axis0(img.reshape(h_in, w_in * c).astype(np.int32))
    h = rows.shape[0]
    cols, share_c = _halve_axis0(cv2.transpose(rows.reshape(h, w_in, c) if c > 1 else rows))
    out = cv2.transpose(cols)
    return out.reshape(img.shape[:0] + (h, w_in // 2) + img.shape[2:]), share_r * share_c


def _swap01(x: np.ndarray) -> np.ndarray:
    """``x`` (A, B[, C ≤ 4]) uint8 / int32 with its first two axes swapped, C-contiguous (``cv2.transpose``: it only
    moves the values)."""
    t = cv2.transpose(np.ascontiguousarray(x))
    return t.reshape((x.shape[1], x.shape[0]) + x.shape[2:])


def _row_taps(a: np.ndarray, n_out: int, dtype: type) -> np.ndarray:
    """Σₜ weightₜ·a[indexₜ] (:func:`area_taps`) along axis 0 of an (n_in, M) int32 array: whole rows gathered and
    weighted by one integer per output row. (n_out, M) in ``dtype`` (int32 or int64)."""
    idx, weight = area_taps(a.shape[0], n_out)
    w = weight.astype(dtype)
    out = np.multiply(np.take(a, idx[:, 0], axis=0), w[:, :1])
    tmp = np.empty_like(out)
    for t in range(1, idx.shape[1]):
        np.multiply(np.take(a, idx[:, t], axis=0), w[:, t : t + 1], out=tmp)
        out += tmp
    return out


def _area_sums_by_rows(img: np.ndarray, size: tuple[int, int], dtype: type) -> np.ndarray:
    """:func:`area_sums` of a uint8 / uint16 (H, W[, C ≤ 4]) image whose sums along a row fit int32: the same integer
    sums with both passes along rows of the interleaved pixels (transposed between them) instead of per channel
    plane, the second one in ``dtype``; integer arithmetic only, so the same values."""
    nw, nh = size
    h, w = img.shape[:2]
    cols = _row_taps(_swap01(img.astype(np.int32)).reshape(w, -1), nw, np.int32)  # (nw, H·C): column sums ≤ W·limit
    rows = _row_taps(_swap01(cols.reshape((nw, h) + img.shape[2:])).reshape(h, -1), nh, dtype)  # (nh, nw·C)
    return rows.reshape((nh, nw) + img.shape[2:])
