"""Yaw bins and the two ways of averaging per-image errors over them.

Bins are taken on |yaw| in degrees *as stored* (unwrapped, ``degrees(Pose_Para[1])``):

    bin 0: |yaw| ∈ [0, 30],   bin 1: |yaw| ∈ (30, 60],   bin 2: |yaw| > 60.

On the real AFLW2000-3D this gives 1312 / 383 / 305 images. Image03123 (yaw −351.2°) falls in bin 2, as in the
published evaluation code, because nothing is wrapped.

SADRNet's ``evaluate_aflw`` bins differently (:func:`yaw_bins_carry_over`, a known non-standard result): bins
|yaw| ≤ 30 / ≤ 60 / ≤ 90, and an image with |yaw| > 90 keeps the bin of the image before it in file order
(1318 / 383 / 299 on AFLW2000-3D).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BIN_LABELS",
    "YAW_EDGES_DEG",
    "yaw_bins",
    "yaw_bins_carry_over",
    "bin_counts",
    "bin_mean_std",
    "bin_means",
    "balanced_mean",
    "plain_mean",
]

#: Upper edges (inclusive) of the first two bins; everything above the last edge is the third bin.
YAW_EDGES_DEG: tuple[float, float] = (30.0, 60.0)
#: Printed names of the bins, in bin order.
BIN_LABELS: tuple[str, str, str] = ("[0,30]", "(30,60]", ">60")
N_BINS = len(BIN_LABELS)


def yaw_bins(yaw_deg: np.ndarray) -> np.ndarray:
    """Bin index of each image from its raw yaw in degrees.

    b_i = 0 if |yaw_i| ≤ 30, 1 if 30 < |yaw_i| ≤ 60, 2 otherwise.

    Args:
        yaw_deg: (N,) yaw in degrees, unwrapped.

    Returns:
        (N,) int64 bin indices in {0, 1, 2}.
    """
    a = np.abs(np.asarray(yaw_deg, dtype=np.float64))
    if not np.all(np.isfinite(a)):
        raise ValueError("yaw angles must be finite")
    return np.searchsorted(np.asarray(YAW_EDGES_DEG), a, side="left").astype(np.int64)


def yaw_bins_carry_over(yaw_deg: np.ndarray, limit_deg: float = 90.0) -> np.ndarray:
    """SADRNet's bins: |yaw| ≤ 30 → 0, ≤ 60 → 1, ≤ ``limit`` → 2; beyond the limit, the previous image's bin.

    b_i = 0 if |yaw_i| ≤ 30, 1 if ≤ 60, 2 if ≤ limit, else b_{i−1} (b_{−1} = 0: SADRNet's loop starts from bin 0).
    The result depends on the row order (SADRNet's is the release's sorted order).

    Args:
        yaw_deg: (N,) yaw in degrees, unwrapped, in file order.
        limit_deg: the upper edge of the last bin (90).

    Returns:
        (N,) int64 bin indices in {0, 1, 2}.
    """
    a = np.abs(np.asarray(yaw_deg, dtype=np.float64))
    if not np.all(np.isfinite(a)):
        raise ValueError("yaw angles must be finite")
    own = np.searchsorted(np.asarray(YAW_EDGES_DEG), a, side="left").astype(np.int64)
    beyond = a > limit_deg
    # index of the last row at or before i that has its own bin (−1: none yet → bin 0)
    last = np.maximum.accumulate(np.where(beyond, -1, np.arange(a.size)))
    return np.where(last >= 0, own[np.maximum(last, 0)], 0).astype(np.int64)


def bin_counts(bins: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """(n_bins,) number of images per bin."""
    return np.bincount(np.asarray(bins, dtype=np.int64), minlength=n_bins)[:n_bins]


def bin_means(values: np.ndarray, bins: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Mean of the finite values within each bin.

    m_b = Σ_{i: b_i=b, v_i finite} v_i / #{i: b_i=b, v_i finite}.

    Args:
        values: (N,) per-image values (NaN entries are ignored, e.g. images with no occluded landmark).
        bins: (N,) bin indices in [0, n_bins).

    Returns:
        (n_bins,) float64, NaN for a bin with no finite value.
    """
    v = np.asarray(values, dtype=np.float64)
    b = np.asarray(bins, dtype=np.int64)
    ok = np.isfinite(v)
    sums = np.bincount(b[ok], weights=v[ok], minlength=n_bins)[:n_bins]
    counts = np.bincount(b[ok], minlength=n_bins)[:n_bins]
    out = np.full(n_bins, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def balanced_mean(values: np.ndarray, bins: np.ndarray, n_bins: int = N_BINS) -> float:
    """The "Mean" of the papers: the unweighted mean of the bin means, (1/B) Σ_b m_b.

    NaN if a bin is empty.
    """
    return float(np.mean(bin_means(values, bins, n_bins)))


def bin_mean_std(values: np.ndarray, bins: np.ndarray, n_bins: int = N_BINS) -> float:
    """The "±" of 3DDFA's tables: the population standard deviation of the bin means.

    s = √((1/B) Σ_b (m_b − m̄)²), m̄ = (1/B) Σ_b m_b (``np.std`` with ddof = 0, as 3DDFA's ``ana``). NaN if a bin
    is empty.
    """
    return float(np.std(bin_means(values, bins, n_bins)))


def plain_mean(values: np.ndarray) -> float:
    """Per-image mean over the finite values: (1/N') Σ_i v_i (NaN when there is none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")
