"""Metrics of the detector-in-the-loop protocol: detection rate, and error figures that count misses as failures.

Per image i: ``m_i`` = 1 when the detector found the face (a matched detection, :mod:`aflw_occ.detection.match`),
``e_i`` its landmark error (NME, a fraction) when ``m_i = 1``. A missed face has no landmarks, so it has no NME; the
NME of the detector protocol is taken over the detected faces only, and these *combined* figures count every miss as
a failure (its error is +∞):

    detection rate         D   = (1/N) Σ_i m_i
    failure rate at τ      F_τ = (1/N) Σ_i [m_i = 0 or e_i > τ]
    CED AUC up to c        A_c = (1/N) Σ_i m_i · max(0, 1 − e_i / c)

(the CED of the errors with misses at +∞, F(t) = (1/N) #{i : m_i = 1, e_i ≤ t}, integrated exactly as in
:mod:`.ced`). Each is a mean of per-image terms, so the yaw-bin means, their balanced mean and the stratified
bootstrap of :mod:`.bootstrap` apply unchanged to the terms returned by :func:`detected_terms`,
:func:`failure_terms` and :func:`auc_terms`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["with_misses", "detected_terms", "failure_terms", "auc_terms", "detection_rate"]


def _check(errors: np.ndarray, detected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    m = np.asarray(detected, dtype=bool).reshape(-1)
    if e.shape != m.shape:
        raise ValueError(f"{e.size} errors but {m.size} detection flags")
    if np.any(~np.isfinite(e[m])) or np.any(e[m] < 0):
        raise ValueError("every detected face needs a finite, non-negative error")
    return e, m


def with_misses(errors: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """(N,) errors with +∞ for every missed face: ``e_i`` if ``m_i`` else ``+∞``."""
    e, m = _check(errors, detected)
    return np.where(m, e, np.inf)


def detected_terms(detected: np.ndarray) -> np.ndarray:
    """(N,) float64 ``m_i`` (1 detected, 0 missed): their mean is the detection rate."""
    return np.asarray(detected, dtype=bool).reshape(-1).astype(np.float64)


def failure_terms(errors: np.ndarray, detected: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) float64 ``[m_i = 0 or e_i > τ]``: their mean is the failure rate at τ with misses as failures."""
    e, m = _check(errors, detected)
    out = np.ones(e.shape)
    out[m] = (e[m] > threshold).astype(np.float64)
    return out


def auc_terms(errors: np.ndarray, detected: np.ndarray, cutoff: float) -> np.ndarray:
    """(N,) float64 ``m_i · max(0, 1 − e_i/c)``: their mean is the CED AUC up to c with misses at +∞."""
    if cutoff <= 0:
        raise ValueError("cutoff must be positive")
    e, m = _check(errors, detected)
    out = np.zeros(e.shape)
    out[m] = np.maximum(0.0, 1.0 - e[m] / cutoff)
    return out


def detection_rate(detected: np.ndarray, bins: np.ndarray | None = None, n_bins: int = 3) -> np.ndarray:
    """Detection rate overall (``bins=None``: shape ()) or per bin ((n_bins,), NaN for an empty bin).

    D_b = #{i : b_i = b, m_i = 1} / #{i : b_i = b}.
    """
    m = detected_terms(detected)
    if bins is None:
        return np.asarray(m.mean() if m.size else np.nan)
    b = np.asarray(bins, dtype=np.int64).reshape(-1)
    if b.shape != m.shape:
        raise ValueError(f"{m.size} detection flags but {b.size} bins")
    hits = np.bincount(b, weights=m, minlength=n_bins)[:n_bins]
    count = np.bincount(b, minlength=n_bins)[:n_bins]
    out = np.full(n_bins, np.nan)
    np.divide(hits, count, out=out, where=count > 0)
    return out
