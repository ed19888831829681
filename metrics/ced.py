"""Cumulative error distribution (CED), its normalised area (AUC) up to a cut-off, and the failure rate.

With per-image errors e_1..e_N (fractions, e.g. NME), the CED is the empirical distribution function

    F(t) = (1/N) · #{i : e_i ≤ t}.

The AUC up to a cut-off c is the area under F on [0, c] divided by c (so 1 means every error is 0, 0 means
every error is ≥ c). It is computed exactly, not on a threshold grid:

    AUC_c = (1/c) ∫_0^c F(t) dt = (1/N) Σ_i max(0, 1 − e_i / c).

The failure rate at a threshold τ is the fraction of images with e_i > τ (``1 − F(τ)``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ced_curve", "auc_at", "failure_rate"]


def _finite(errors: np.ndarray) -> np.ndarray:
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    if np.any(e < 0):
        raise ValueError("errors must be non-negative")
    return e[np.isfinite(e)]


def ced_curve(
    errors: np.ndarray, thresholds: np.ndarray | None = None, cutoff: float = 0.1, n_points: int = 101
) -> tuple[np.ndarray, np.ndarray]:
    """The CED F(t) = (1/N) #{i : e_i ≤ t} at the given thresholds.

    Args:
        errors: (N,) per-image errors (NaN entries are ignored).
        thresholds: (T,) thresholds; default ``linspace(0, cutoff, n_points)``.

    Returns:
        ``(thresholds (T,), fraction (T,))``; fractions are NaN when no error is finite.
    """
    e = np.sort(_finite(errors))
    t = np.linspace(0.0, cutoff, n_points) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if e.size == 0:
        return t, np.full(t.shape, np.nan)
    return t, np.searchsorted(e, t, side="right") / e.size


def auc_at(errors: np.ndarray, cutoff: float) -> float:
    """Normalised area under the CED on [0, cutoff]: AUC_c = (1/N) Σ_i max(0, 1 − e_i / c) (NaN if N = 0)."""
    if cutoff <= 0:
        raise ValueError("cutoff must be positive")
    e = _finite(errors)
    if e.size == 0:
        return float("nan")
    return float(np.mean(np.maximum(0.0, 1.0 - e / cutoff)))


def failure_rate(errors: np.ndarray, threshold: float) -> float:
    """Fraction of images whose error exceeds the threshold: (1/N) #{i : e_i > τ} (NaN if N = 0)."""
    e = _finite(errors)
    if e.size == 0:
        return float("nan")
    return float(np.mean(e > threshold))
