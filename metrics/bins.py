"""Yaw bins and the two ways of averaging per-image errors over them.

Bins are taken on |yaw| in degrees *as stored* (unwrapped, ``degrees(Pose_Para[1])``):

    bin 0: |yaw| ∈ [0, 30],   bin 1: |yaw| ∈ (30, 60],   bin 2: |yaw| > 60.

On the real AFLW2000-3D this gives 1312 / 383 / 305 images. Image03123 (yaw −351.2°) falls in bin 2, as in the
published evaluation code, because nothing is wrapped.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BIN_LABELS",
    "YAW_EDGES_DEG",
    "yaw_bins",
    "bin_counts",
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


def plain_mean(values: np.ndarray) -> float:
    """Per-image mean over the finite values: (1/N') Σ_i v_i (NaN when there is none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")
