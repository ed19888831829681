"""Exact area resampling sums: the mean of an image over each output pixel's footprint as an integer numerator over
one common denominator, shared by the NOD segmenter's half-resolution crops (:mod:`aflw_occ.skin.exact`) and the
NSOD/RandOcc/occluder-library resampling (:mod:`aflw_occ.builders.exact_image`), which round it each their own way.

Integer arithmetic only: the same sums in any order, on any CPU and with any library release.
"""

from __future__ import annotations

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


def area_sums(img: np.ndarray, size: tuple[int, int], limit: int = 255) -> tuple[np.ndarray, int]:
    """Unnormalised area-resampled sums (int32 (nh, nw, C), or int64 when ``limit``·W·H ≥ 2³¹) of ``img`` (H, W, C)
    with values in [0, ``limit``] at ``size`` = (nw, nh), and their common denominator W·H: sums / denominator is the
    mean of the input over each output pixel's footprint.

    Two passes of Σₜ weightₜ·row gathered at indexₜ (:func:`area_taps`), each along the first axis of a contiguous
    array (whole rows are gathered and scaled: no per-element indexing); every partial sum is ≤ the final one."""
    nw, nh = size
    h, w = img.shape[:2]
    dtype = np.int32 if limit * w * h < 1 << 31 else np.int64

    def pass_first_axis(a: np.ndarray, idx: np.ndarray, weight: np.ndarray) -> np.ndarray:
        out = np.zeros((idx.shape[0],) + a.shape[1:], dtype)
        tmp = np.empty_like(out)
        shape = (idx.shape[0],) + (1,) * (a.ndim - 1)
        for t in range(idx.shape[1]):
            wt = weight[:, t].astype(dtype).reshape(shape)
            np.multiply(np.take(a, idx[:, t], axis=0), wt, out=tmp)
            out += tmp
        return out

    xi_, xw = area_taps(w, nw)
    # (nw, h, …); the rows stay in the input dtype: the products are formed in ``dtype`` by the ufunc
    tmp = pass_first_axis(np.ascontiguousarray(np.swapaxes(img, 0, 1)), xi_, xw)
    yi, yw = area_taps(h, nh)
    out = pass_first_axis(np.ascontiguousarray(np.swapaxes(tmp, 0, 1)), yi, yw)  # (nh, nw, …)
    return out, w * h
