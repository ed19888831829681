"""Seeded bootstrap confidence intervals of means and a paired bootstrap comparison of two prediction sets.

Resampling scheme (documented choice): **stratified by yaw bin**. Each resample draws, independently in
every bin, as many images as the bin holds, with replacement, from that bin. The bin sizes are therefore
fixed — as they are by design of the benchmark — and one resample yields, consistently, every bin mean, the
balanced mean (mean of the bin means) and the plain mean (all drawn images). Pass ``strata=None`` to
resample the whole set instead (used for statistics that are plain means over an unbinned set, e.g. pose
MAE).

Interval: percentile interval of the B resampled statistics, ``np.percentile(..., [2.5, 97.5])`` (linear
interpolation) for the default 95 % level.

Determinism: one ``numpy.random.default_rng(seed)`` stream consumed in a fixed order (strata in index
order, fixed chunks of resamples), sums taken by numpy's pairwise summation (no BLAS), so equal inputs and
seed give bit-identical results on every machine, whatever the number of threads or workers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ResampledMeans",
    "resample_means",
    "percentile_ci",
    "bootstrap_ci",
    "PairedComparison",
    "paired_bootstrap",
]

_CHUNK = 100  # resamples drawn per call of the generator (fixed: part of the definition of the stream)


@dataclass(frozen=True)
class ResampledMeans:
    """Per-resample sums and counts of finite values, per stratum and column.

    Attributes:
        sums: (B, S, k) Σ of the finite drawn values.
        counts: (B, S, k) number of finite drawn values.
    """

    sums: np.ndarray
    counts: np.ndarray

    def stratum_means(self) -> np.ndarray:
        """(B, S, k) mean of each stratum in each resample (NaN where a stratum drew no finite value)."""
        out = np.full(self.sums.shape, np.nan)
        np.divide(self.sums, self.counts, out=out, where=self.counts > 0)
        return out

    def balanced(self) -> np.ndarray:
        """(B, k) mean over strata of the stratum means (the balanced mean of every resample)."""
        return self.stratum_means().mean(axis=1)

    def plain(self) -> np.ndarray:
        """(B, k) mean of all finite drawn values of every resample."""
        s = self.sums.sum(axis=1)
        c = self.counts.sum(axis=1)
        out = np.full(s.shape, np.nan)
        np.divide(s, c, out=out, where=c > 0)
        return out


def resample_means(
    values: np.ndarray,
    strata: np.ndarray | None = None,
    n_strata: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> ResampledMeans:
    """Draw B bootstrap resamples (stratified when ``strata`` is given) and sum the finite values of each.

    For stratum s with members M_s (n_s = |M_s|), resample b draws indices j_1..j_{n_s} uniformly from M_s and
    records S_bsk = Σ_t v_{j_t,k} · 1[v_{j_t,k} finite] and C_bsk = Σ_t 1[v_{j_t,k} finite].

    Args:
        values: (N,) or (N, k) per-image values; NaN = "no value" (e.g. no occluded landmark in that image).
        strata: (N,) int stratum index per image, or None for a single stratum.
        n_strata: number of strata S (default ``max(strata) + 1``); empty strata give zero counts.
        n_boot: number of resamples B.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        :class:`ResampledMeans` with (B, S, k) sums and counts.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2:
        raise ValueError(f"values must be (N,) or (N, k), got {v.shape}")
    n, k = v.shape
    st = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    if st.shape != (n,):
        raise ValueError(f"strata shape {st.shape} does not match {n} values")
    s_count = int(n_strata if n_strata is not None else (st.max() + 1 if n else 1))
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    rng = np.random.default_rng(seed)
    sums = np.zeros((n_boot, s_count, k))
    counts = np.zeros((n_boot, s_count, k))
    finite = np.isfinite(v)
    vz = np.where(finite, v, 0.0)
    for s in range(s_count):
        members = np.flatnonzero(st == s)
        ns = members.size
        if ns == 0:
            continue
        vals = vz[members]
        fin = finite[members]
        all_finite = fin.all(axis=0)
        for start in range(0, n_boot, _CHUNK):
            stop = min(start + _CHUNK, n_boot)
            idx = rng.integers(0, ns, size=(stop - start, ns), dtype=np.int64 if ns >= 2**31 else np.int32)
            for j in range(k):
                sums[start:stop, s, j] = vals[:, j][idx].sum(axis=1)
                if all_finite[j]:
                    counts[start:stop, s, j] = ns
                else:
                    counts[start:stop, s, j] = fin[:, j][idx].sum(axis=1)
    return ResampledMeans(sums=sums, counts=counts)


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0: (q_{(1−level)/2}, q_{(1+level)/2}); NaN resamples are ignored."""
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    s = np.asarray(samples, dtype=np.float64)
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    if np.all(np.isfinite(s)):
        lo, hi = np.percentile(s, q, axis=0)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, which is what we want
            lo, hi = np.nanpercentile(s, q, axis=0)
    return lo, hi


def bootstrap_ci(
    values: np.ndarray,
    strata: np.ndarray | None = None,
    statistic: str = "plain",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    n_strata: int | None = None,
) -> tuple[float, float]:
    """95 % (``level``) percentile bootstrap interval of a mean of (N,) values.

    ``statistic="plain"``: mean of all values; ``"balanced"``: mean over strata of the stratum means.
    """
    r = resample_means(values, strata, n_strata=n_strata, n_boot=n_boot, seed=seed)
    if statistic == "plain":
        samples = r.plain()[:, 0]
    elif statistic == "balanced":
        samples = r.balanced()[:, 0]
    else:
        raise ValueError(f"unknown statistic {statistic!r} (plain or balanced)")
    lo, hi = percentile_ci(samples, level)
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairedComparison:
    """Result of :func:`paired_bootstrap`: Δ = stat(a) − stat(b) with its interval and two-sided p-value."""

    statistic: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    n_boot: int
    level: float

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "statistic": self.statistic,
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "n": self.n,
            "n_boot": self.n_boot,
            "level": self.level,
        }


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    strata: np.ndarray | None = None,
    statistic: str = "balanced",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    n_strata: int | None = None,
) -> PairedComparison:
    """Paired bootstrap comparison of two per-image error vectors on the same images.

    The images are resampled once per bootstrap draw and both methods are evaluated on the same draw, i.e.
    the statistic of the per-image differences d_i = a_i − b_i is resampled
    (for means, stat(a) − stat(b) = stat(d)).

    * Δ = stat(d) on the original sample (``balanced``: mean of the stratum means; ``plain``: mean).
    * CI: percentile interval of the B resampled Δ*.
    * p-value (two-sided, H0: Δ = 0):
      p = min(1, 2 · (1 + #{b : Δ*_b on the other side of 0 than Δ}) / (B + 1)),
      "other side" meaning Δ*_b ≤ 0 when Δ ≥ 0 and Δ*_b ≥ 0 when Δ < 0.

    Args:
        a, b: (N,) per-image errors of the two methods, row-aligned, finite.
        strata: (N,) stratum (yaw bin) per image, or None.

    Returns:
        :class:`PairedComparison`.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired errors must be two equal-length (N,) arrays, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("paired errors must be finite")
    d = x - y
    r = resample_means(d, strata, n_strata=n_strata, n_boot=n_boot, seed=seed)
    if statistic == "plain":
        delta = float(d.mean())
        samples = r.plain()[:, 0]
    elif statistic == "balanced":
        st = np.zeros(d.size, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
        ns = int(n_strata if n_strata is not None else st.max() + 1)
        sums = np.bincount(st, weights=d, minlength=ns)
        cnt = np.bincount(st, minlength=ns)
        delta = float(np.mean(sums / np.where(cnt > 0, cnt, np.nan)))
        samples = r.balanced()[:, 0]
    else:
        raise ValueError(f"unknown statistic {statistic!r} (plain or balanced)")
    lo, hi = percentile_ci(samples, level)
    opposite = int(np.count_nonzero(samples <= 0)) if delta >= 0 else int(np.count_nonzero(samples >= 0))
    p = min(1.0, 2.0 * (1 + opposite) / (n_boot + 1))
    return PairedComparison(
        statistic=statistic,
        difference=delta,
        ci_low=float(lo),
        ci_high=float(hi),
        p_value=p,
        n=int(d.size),
        n_boot=int(n_boot),
        level=level,
    )
