"""The numbers of the detector protocol that the landmark protocols do not give: detection rate and the combined
figures that count misses as failures (:mod:`aflw_occ.metrics.detection`), per yaw bin, balanced and plain, with the
stratified bootstrap intervals of every other aflw-occ number (same seed → same bits).

Rows (:class:`aflw_occ.protocols.MetricRow`; percentages except the AUCs):

* ``detection_rate_0_30`` / ``_30_60`` / ``_60_plus`` / ``_balanced`` / ``_plain``: share of faces detected;
* ``failure_10_with_misses_…`` (same five): share of faces missed or with NME > 10 % — the headline
  (:data:`HEADLINE`, balanced) of the detector protocol;
* ``auc_7_with_misses_balanced`` / ``_plain``, ``auc_10_with_misses_…``: CED AUC up to 7 % / 10 % with misses
  at +∞.
"""

from __future__ import annotations

import numpy as np

from ..metrics.bins import BIN_LABELS, N_BINS, bin_counts
from ..metrics.bootstrap import percentile_ci, resample_means
from ..metrics.detection import auc_terms, detected_terms, failure_terms
from ..protocols import AUC_CUTOFFS, FAILURE_THRESHOLD, MetricRow

__all__ = ["HEADLINE", "BIN_SUFFIXES", "detection_rows"]

BIN_SUFFIXES: tuple[str, ...] = ("0_30", "30_60", "60_plus")
HEADLINE = f"failure_{int(round(FAILURE_THRESHOLD * 100))}_with_misses_balanced"


def detection_rows(
    detected: np.ndarray,
    bins: np.ndarray,
    errors: np.ndarray | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[MetricRow]:
    """Detection rate rows, and with ``errors`` the combined rows (see the module docstring).

    Args:
        detected: (N,) bool, the face was detected.
        bins: (N,) yaw bin of each face (:func:`aflw_occ.metrics.bins.yaw_bins`).
        errors: (N,) NME fractions of the detected faces (any value where ``detected`` is False), or None.
        n_boot, seed, level: the bootstrap (stratified by yaw bin, as every sparse protocol).
    """
    m = np.asarray(detected, dtype=bool).reshape(-1)
    b = np.asarray(bins, dtype=np.int64).reshape(-1)
    columns: dict[str, tuple[np.ndarray, str, str, float]] = {
        "detection_rate": (detected_terms(m), "detection rate", "% of images", 100.0)
    }
    if errors is not None:
        e = np.where(m, np.asarray(errors, dtype=np.float64).reshape(-1), 0.0)
        pf = int(round(FAILURE_THRESHOLD * 100))
        columns[f"failure_{pf}_with_misses"] = (
            failure_terms(e, m, FAILURE_THRESHOLD),
            f"failure rate@{pf}% (misses = failures)",
            "% of images",
            100.0,
        )
        for c in AUC_CUTOFFS:
            pc = int(round(c * 100))
            columns[f"auc_{pc}_with_misses"] = (auc_terms(e, m, c), f"CED AUC@{pc}% (misses at +inf)", "AUC 0-1", 1.0)
    names = list(columns)
    values = np.stack([columns[k][0] for k in names], axis=1)
    r = resample_means(values, b, n_strata=N_BINS, n_boot=n_boot, seed=seed)
    lo_bin, hi_bin = percentile_ci(r.stratum_means(), level)
    lo_bal, hi_bal = percentile_ci(r.balanced(), level)
    lo_pl, hi_pl = percentile_ci(r.plain(), level)
    counts = bin_counts(b)
    rows: list[MetricRow] = []
    for j, key in enumerate(names):
        v, label, unit, scale = columns[key]
        means = np.array([v[b == k].mean() if counts[k] else np.nan for k in range(N_BINS)])
        if not key.startswith("auc_"):
            for k in range(N_BINS):
                rows.append(
                    MetricRow(
                        f"{key}_{BIN_SUFFIXES[k]}",
                        f"{label} {BIN_LABELS[k]}",
                        scale * means[k],
                        scale * lo_bin[k, j],
                        scale * hi_bin[k, j],
                        int(counts[k]),
                        unit,
                    )
                )
        n = len(v)
        bal = scale * float(np.mean(means))
        plain = float(v.mean()) if n else float("nan")
        rows.append(
            MetricRow(f"{key}_balanced", f"{label} balanced", bal, scale * lo_bal[j], scale * hi_bal[j], n, unit)
        )
        rows.append(
            MetricRow(f"{key}_plain", f"{label} plain", scale * plain, scale * lo_pl[j], scale * hi_pl[j], n, unit)
        )
    return rows
