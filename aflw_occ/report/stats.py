"""The report's statistics: occluded samples paired with their clean image, paired bootstrap drops, covered-fraction
bins, per-group and per-landmark means, the mean face shape. Pure numpy, no I/O.

Pairing. Every occluded row is made from one clean image of the release (the store's ``source_ids``; an occluded id
is ``"<source id>.<split>"``). The drop of a split compares row i of the split with the clean row whose id is its
source id: d_i = e_i(occluded) − e_i(clean), same image, same ground truth, same yaw bin.

Resampling (:func:`paired_drop`). The per-pair differences are resampled with
:func:`aflw_occ.metrics.bootstrap.paired_bootstrap`: B draws of the pairs with replacement, stratified by yaw bin for
the ``balanced`` statistic (each bin keeps its size; Δ = mean over bins of the bin means of d), over the whole set for
``plain`` (Δ = mean of d); the interval is the percentile interval of the B resampled Δ, the p-value two-sided. One
``numpy.random.default_rng(seed)`` stream per drop, so a report is reproducible bit for bit from its seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..metrics.bins import N_BINS, bin_counts, bin_means
from ..metrics.bootstrap import bootstrap_ci, paired_bootstrap

__all__ = [
    "FRACTION_EDGES",
    "REGIONS",
    "Pairs",
    "Drop",
    "GroupStat",
    "pair_by_source",
    "paired_drop",
    "fraction_bins",
    "fraction_labels",
    "group_stats",
    "per_landmark_means",
    "region_means",
    "mean_shape",
    "luma",
    "hue_family",
]

#: Edges of the covered-fraction bins: bin k holds e_k ≤ f < e_{k+1}, the last bin also f = 1.
FRACTION_EDGES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)

#: The 68-point scheme's facial regions (0-based point indices, half-open ranges).
REGIONS: tuple[tuple[str, int, int], ...] = (
    ("jaw", 0, 17),
    ("brows", 17, 27),
    ("nose", 27, 36),
    ("eyes", 36, 48),
    ("mouth", 48, 68),
)


@dataclass(frozen=True)
class Pairs:
    """Row-aligned (M,) indices: ``occluded[j]`` of the occluded split and ``clean[j]`` of the clean split show the
    same source image."""

    occluded: np.ndarray
    clean: np.ndarray

    def __len__(self) -> int:
        return int(self.occluded.size)


def pair_by_source(clean_ids: Sequence[str] | np.ndarray, source_ids: Sequence[str] | np.ndarray) -> Pairs:
    """Pair every occluded row with the clean row of its source image.

    Occluded row i (source id s_i) pairs with the clean row r such that clean_ids[r] = s_i; rows whose source is not
    in the clean split are left out, so M ≤ len(source_ids). Pairs come in occluded-row order.

    Raises:
        ValueError: when a clean id repeats (the pairing would be ambiguous).
    """
    clean = [str(c) for c in np.asarray(clean_ids).tolist()]
    index = {c: r for r, c in enumerate(clean)}
    if len(index) != len(clean):
        raise ValueError("clean ids are not unique: cannot pair occluded samples with their source image")
    occ_rows, clean_rows = [], []
    for i, s in enumerate(np.asarray(source_ids).tolist()):
        r = index.get(str(s))
        if r is not None:
            occ_rows.append(i)
            clean_rows.append(r)
    return Pairs(np.asarray(occ_rows, dtype=np.int64), np.asarray(clean_rows, dtype=np.int64))


@dataclass(frozen=True)
class Drop:
    """The change from clean to occluded on the same images: Δ = stat(occluded) − stat(clean) = stat(d).

    ``clean`` and ``occluded`` are the statistic of each side over the same n pairs; Δ's interval and two-sided
    p-value come from the paired bootstrap (module docstring). ``statistic`` is ``balanced`` or ``plain``.
    """

    statistic: str
    n: int
    clean: float
    occluded: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n_boot: int
    seed: int
    level: float


def _stat(values: np.ndarray, strata: np.ndarray, statistic: str) -> float:
    if statistic == "balanced":
        return float(np.mean(bin_means(values, strata)))
    return float(values.mean()) if values.size else math.nan


def paired_drop(
    occluded: np.ndarray,
    clean: np.ndarray,
    strata: np.ndarray,
    statistic: str = "balanced",
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Drop | None:
    """Paired bootstrap of the per-pair differences d = occluded − clean (module docstring).

    Pairs where either side is not finite are left out. ``balanced`` needs every yaw bin among the pairs; when one is
    empty (NOD keeps |yaw| ≤ 60°) the statistic falls back to ``plain`` and says so in :attr:`Drop.statistic`.

    Args:
        occluded, clean: (M,) per-pair errors, row-aligned (:func:`pair_by_source`).
        strata: (M,) yaw bin of each pair (0, 1, 2).

    Returns:
        :class:`Drop`, or None when no pair has two finite values.
    """
    a = np.asarray(occluded, dtype=np.float64)
    b = np.asarray(clean, dtype=np.float64)
    st = np.asarray(strata, dtype=np.int64)
    if not (a.shape == b.shape == st.shape) or a.ndim != 1:
        raise ValueError(f"paired values must be three (M,) arrays, got {a.shape}, {b.shape}, {st.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b, st = a[ok], b[ok], st[ok]
    if a.size == 0:
        return None
    if statistic == "balanced" and (bin_counts(st) == 0).any():
        statistic = "plain"
    cmp = paired_bootstrap(
        a,
        b,
        st if statistic == "balanced" else None,
        statistic=statistic,
        n_boot=n_boot,
        seed=seed,
        level=level,
        n_strata=N_BINS if statistic == "balanced" else None,
    )
    return Drop(
        statistic=statistic,
        n=int(a.size),
        clean=_stat(b, st, statistic),
        occluded=_stat(a, st, statistic),
        delta=cmp.difference,
        ci_low=cmp.ci_low,
        ci_high=cmp.ci_high,
        p_value=cmp.p_value,
        n_boot=int(n_boot),
        seed=int(seed),
        level=float(level),
    )


def fraction_bins(fractions: np.ndarray, edges: Sequence[float] = FRACTION_EDGES) -> np.ndarray:
    """Bin index of each covered fraction: k with e_k ≤ f < e_{k+1}; f = e_last goes to the last bin; −1 for a
    value outside [e_0, e_last] or not finite. (N,) → (N,) int64."""
    f = np.asarray(fractions, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError("bin edges must be an increasing sequence of at least two values")
    k = np.searchsorted(e, f, side="right") - 1
    k = np.where(f == e[-1], e.size - 2, k)
    return np.where(np.isfinite(f) & (f >= e[0]) & (f <= e[-1]), k, -1).astype(np.int64)


def fraction_labels(edges: Sequence[float] = FRACTION_EDGES) -> list[str]:
    """``[0.0, 0.1)``, …, ``[0.8, 1.0]``: the printed name of every bin of :func:`fraction_bins`."""
    e = list(edges)
    return [f"[{e[k]:.1f}, {e[k + 1]:.1f}{']' if k == len(e) - 2 else ')'}" for k in range(len(e) - 1)]


@dataclass(frozen=True)
class GroupStat:
    """One group of samples (a covered-fraction bin, an occluder category): ``n`` pairs, the mean error of the
    occluded samples, the mean paired drop Δ̄ = mean(d) with its percentile bootstrap interval (whole-group
    resampling; NaN for n < 2)."""

    label: str
    n: int
    mean: float
    delta: float
    ci_low: float
    ci_high: float


def group_stats(
    labels: Sequence[str] | np.ndarray,
    occluded: np.ndarray,
    clean: np.ndarray,
    order: Sequence[str] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[GroupStat]:
    """Per group g (pairs with labels[i] = g and both values finite): n_g, mean_g = (1/n_g) Σ occluded_i,
    Δ̄_g = (1/n_g) Σ (occluded_i − clean_i), and the bootstrap interval of Δ̄_g (seed ``seed`` for every group).

    Groups come in ``order`` (labels not listed follow, sorted; listed labels without pairs are left out)."""
    lab = np.asarray([str(v) for v in np.asarray(labels).tolist()], dtype=object)
    a = np.asarray(occluded, dtype=np.float64)
    b = np.asarray(clean, dtype=np.float64)
    if not (lab.shape == a.shape == b.shape) or a.ndim != 1:
        raise ValueError(f"labels and values must be three (M,) arrays, got {lab.shape}, {a.shape}, {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    present = sorted({str(v) for v in lab[ok].tolist()})
    names = [g for g in (order or []) if g in present] + [g for g in present if g not in (order or [])]
    out = []
    for g in names:
        sel = ok & (lab == g)
        d = a[sel] - b[sel]
        lo = hi = math.nan
        if d.size >= 2:
            lo, hi = bootstrap_ci(d, None, "plain", n_boot=n_boot, seed=seed, level=level)
        out.append(GroupStat(g, int(d.size), float(a[sel].mean()), float(d.mean()), lo, hi))
    return out


def per_landmark_means(errors: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean error of each point over the images where ``mask`` selects it.

    m_k = Σ_i M_ik e_ik / Σ_i M_ik,  n_k = Σ_i M_ik  (M = all-True when ``mask`` is None; non-finite e_ik are left
    out). (N, K), (N, K) → ((K,) means, NaN where n_k = 0; (K,) int64 counts).
    """
    e = np.asarray(errors, dtype=np.float64)
    m = np.ones(e.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if e.ndim != 2 or m.shape != e.shape:
        raise ValueError(f"errors {e.shape} and mask {m.shape} must be equal (N, K) arrays")
    m = m & np.isfinite(e)
    counts = m.sum(axis=0)
    sums = np.where(m, e, 0.0).sum(axis=0)
    means = np.full(e.shape[1], np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    return means, counts.astype(np.int64)


def region_means(errors: np.ndarray, mask: np.ndarray | None = None) -> list[tuple[str, float, int]]:
    """(region, mean error, n point-observations) of every region of :data:`REGIONS`: the mean of e_ik over the
    selected (i, k) with k in the region (not the mean of per-point means)."""
    e = np.asarray(errors, dtype=np.float64)
    m = np.ones(e.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = []
    for name, lo, hi in REGIONS:
        sel = m[:, lo:hi] & np.isfinite(e[:, lo:hi])
        n = int(sel.sum())
        out.append((name, float(e[:, lo:hi][sel].mean()) if n else math.nan, n))
    return out


def _normalise(shape: np.ndarray) -> np.ndarray:
    c = shape - shape.mean(axis=0)
    return c / np.sqrt((c * c).sum())


def _rotation(x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2×2 rotation R (no reflection) minimising ‖x R − target‖ for centred (K, 2) sets: U diag(1, d) Vᵀ
    from the SVD U S Vᵀ = xᵀ target, d = sign det(U Vᵀ)."""
    u, _, vt = np.linalg.svd(x.T @ target)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return np.asarray(u @ np.diag([1.0, d]) @ vt)


def mean_shape(points: np.ndarray, iterations: int = 5) -> np.ndarray:
    """Generalised Procrustes mean of 2D point sets, placed in the unit box (y down, as in images).

    Each set is centred and scaled to unit norm; each is then rotated onto the current mean (the rotation R
    minimising ‖X R − M‖, no reflection: the SVD of XᵀM), the mean of the rotated sets is renormalised, and this
    repeats ``iterations`` times starting from the first set. The mean is then rotated onto the plain mean of the
    normalised sets (so it takes the sets' average orientation, not the first set's), shifted and scaled uniformly
    so its x/y extent fits [0, 1] × [0, 1] with the longer side 1 and the shorter one centred.

    Args:
        points: (N, K, 2+) point sets (x, y used).

    Returns:
        (K, 2) float64.
    """
    p = np.asarray(points, dtype=np.float64)[..., :2]
    if p.ndim != 3 or p.shape[0] == 0:
        raise ValueError(f"points must be a non-empty (N, K, 2) array, got {p.shape}")
    sets = np.stack([_normalise(s) for s in p])
    mean = sets[0]
    for _ in range(max(1, iterations)):
        mean = _normalise(np.mean([s @ _rotation(s, mean) for s in sets], axis=0))
    mean = mean @ _rotation(mean, sets.mean(axis=0))
    lo, hi = mean.min(axis=0), mean.max(axis=0)
    side = float((hi - lo).max())
    return (mean - lo) / side + (1 - (hi - lo) / side) / 2


def luma(rgb: Sequence[int] | np.ndarray) -> float:
    """Rec. 601 luma of an RGB colour (0–255): Y = 0.299 R + 0.587 G + 0.114 B."""
    r, g, b = (float(v) for v in rgb)
    return 0.299 * r + 0.587 * g + 0.114 * b


#: Hue sectors (degrees, start inclusive) of :func:`hue_family`.
HUE_SECTORS: tuple[tuple[str, float], ...] = (
    ("red", 330.0),
    ("yellow", 30.0),
    ("green", 90.0),
    ("cyan", 150.0),
    ("blue", 210.0),
    ("magenta", 270.0),
)
#: Below this chroma (max − min of R, G, B) a colour counts as achromatic.
ACHROMATIC_CHROMA = 48


def hue_family(rgb: Sequence[int] | np.ndarray) -> str:
    """A colour's name: achromatic when chroma C = max − min < 48 (``dark`` if max < 85, ``light`` if max ≥ 170,
    else ``grey``); otherwise the sector of the HSV hue H (red [330, 30), yellow [30, 90), green [90, 150),
    cyan [150, 210), blue [210, 270), magenta [270, 330))."""
    r, g, b = (float(v) for v in rgb)
    mx, mn = max(r, g, b), min(r, g, b)
    c = mx - mn
    if c < ACHROMATIC_CHROMA:
        return "dark" if mx < 85 else "light" if mx >= 170 else "grey"
    if mx == r:
        h = 60.0 * (((g - b) / c) % 6)
    elif mx == g:
        h = 60.0 * ((b - r) / c + 2)
    else:
        h = 60.0 * ((r - g) / c + 4)
    name = "red"
    for family, start in HUE_SECTORS[1:]:
        if h >= start:
            name = family
    return "red" if h >= HUE_SECTORS[0][1] else name
