"""The report's statistics against independent plain loops on fabricated data: pairing by source id, the paired
bootstrap drop, covered-fraction bins, group means, per-landmark and per-region means, the Procrustes mean shape,
colour names and the worst-sample ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aflw_occ.report.factors import FACTORS, dominant_colour
from aflw_occ.report.samples import worst_rows
from aflw_occ.report.stats import (
    FRACTION_EDGES,
    REGIONS,
    fraction_bins,
    fraction_labels,
    group_stats,
    hue_family,
    luma,
    mean_shape,
    pair_by_source,
    paired_drop,
    per_landmark_means,
    region_means,
)


def _loop_bootstrap(d: np.ndarray, strata: np.ndarray | None, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile 95% interval of the (stratified) mean of d, one resample at a time with its own generator."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == s) for s in range(3)] if strata is not None else [np.arange(d.size)]
    stats = []
    for _ in range(n_boot):
        means = []
        for g in groups:
            pick = g[rng.integers(0, g.size, size=g.size)]
            means.append(float(d[pick].mean()))
        stats.append(sum(means) / len(means))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def test_pair_by_source_matches_loop() -> None:
    rng = np.random.default_rng(1)
    clean = np.array([f"image{i:05d}" for i in rng.permutation(40)])
    source = np.array([f"image{i:05d}" for i in rng.integers(0, 50, size=60)])  # some sources not in clean
    pairs = pair_by_source(clean, source)
    expected = []
    for i, s in enumerate(source):
        for r, c in enumerate(clean):
            if c == s:
                expected.append((i, r))
    assert list(zip(pairs.occluded.tolist(), pairs.clean.tolist(), strict=True)) == expected
    assert len(pairs) == len(expected) < 60
    with pytest.raises(ValueError, match="not unique"):
        pair_by_source(["a", "a"], ["a"])


def test_paired_drop_matches_loop() -> None:
    rng = np.random.default_rng(7)
    n = 240
    bins = rng.integers(0, 3, size=n)
    clean = rng.gamma(3.0, 1.0, size=n) + bins
    occ = clean + rng.normal(1.0 + bins, 1.0)
    occ[5] = np.nan  # a missing prediction: that pair is left out
    d = paired_drop(occ, clean, bins, "balanced", n_boot=2000, seed=3)
    assert d is not None and d.statistic == "balanced" and d.n == n - 1
    ok = np.isfinite(occ)
    diff = occ[ok] - clean[ok]
    b = bins[ok]
    bin_mean = [sum(diff[j] for j in range(diff.size) if b[j] == k) / sum(b == k) for k in range(3)]
    assert d.delta == pytest.approx(sum(bin_mean) / 3, rel=1e-12)
    occ_means = [np.mean([occ[ok][j] for j in range(diff.size) if b[j] == k]) for k in range(3)]
    assert d.occluded == pytest.approx(np.mean(occ_means), rel=1e-12)
    assert d.occluded - d.clean == pytest.approx(d.delta, rel=1e-9)
    lo, hi = _loop_bootstrap(diff, b, 2000, seed=11)  # another generator: equal up to Monte Carlo error
    width = hi - lo
    assert abs(d.ci_low - lo) < 0.1 * width and abs(d.ci_high - hi) < 0.1 * width
    assert d.ci_low < d.delta < d.ci_high and d.p_value == pytest.approx(2 / 2001)
    again = paired_drop(occ, clean, bins, "balanced", n_boot=2000, seed=3)
    assert again == d  # the seed fixes every number

    # an empty yaw bin (NOD keeps |yaw| <= 60): the statistic falls back to the plain mean, whole-set resampling
    sub = bins < 2
    p = paired_drop(occ[sub], clean[sub], bins[sub], "balanced", n_boot=2000, seed=3)
    assert p is not None and p.statistic == "plain"
    keep = sub & ok
    assert p.delta == pytest.approx(float(np.mean(occ[keep] - clean[keep])), rel=1e-12)
    lo, hi = _loop_bootstrap(occ[keep] - clean[keep], None, 2000, seed=11)
    assert abs(p.ci_low - lo) < 0.1 * (hi - lo) and abs(p.ci_high - hi) < 0.1 * (hi - lo)
    assert paired_drop(np.array([np.nan]), np.array([1.0]), np.array([0]), "plain") is None


def test_fraction_bins_match_loop() -> None:
    f = np.array([0.0, 0.05, 0.1, 0.0999, 0.59, 0.6, 0.79, 0.8, 0.95, 1.0, 1.2, -0.1, np.nan])
    got = fraction_bins(f)
    e = FRACTION_EDGES
    for v, k in zip(f.tolist(), got.tolist(), strict=True):
        want = -1
        for j in range(len(e) - 1):
            last = j == len(e) - 2
            if e[j] <= v < e[j + 1] or (last and v == e[-1]):
                want = j
        assert k == want, (v, k, want)
    labels = fraction_labels()
    assert labels[0] == "[0.0, 0.1)" and labels[-1] == "[0.8, 1.0]" and len(labels) == len(e) - 1
    with pytest.raises(ValueError, match="increasing"):
        fraction_bins(f, (0.0, 0.5, 0.5))


def test_group_stats_match_loop() -> None:
    rng = np.random.default_rng(2)
    labels = rng.choice(["food", "plants", "sports", "lonely"], size=150, p=[0.5, 0.3, 0.195, 0.005])
    labels[0] = "lonely"
    clean = rng.uniform(2, 6, size=150)
    occ = clean + rng.normal(2, 1, size=150)
    occ[3] = np.nan
    got = group_stats(labels, occ, clean, ["sports", "food"], n_boot=1500, seed=4)
    names = [g.label for g in got]
    present = sorted({lab for lab, o in zip(labels, occ, strict=True) if np.isfinite(o)})
    assert names == ["sports", "food"] + [n for n in present if n not in ("sports", "food")]
    for g in got:
        d = [o - c for lab, o, c in zip(labels, occ, clean, strict=True) if lab == g.label and np.isfinite(o)]
        o_vals = [o for lab, o in zip(labels, occ, strict=True) if lab == g.label and np.isfinite(o)]
        assert g.n == len(d)
        assert g.delta == pytest.approx(sum(d) / len(d), rel=1e-12)
        assert g.mean == pytest.approx(sum(o_vals) / len(o_vals), rel=1e-12)
        if g.n < 2:
            assert math.isnan(g.ci_low) and math.isnan(g.ci_high)
        else:
            lo, hi = _loop_bootstrap(np.array(d), None, 1500, seed=9)
            assert abs(g.ci_low - lo) < 0.12 * (hi - lo) and abs(g.ci_high - hi) < 0.12 * (hi - lo)


def test_per_landmark_and_region_means_match_loops() -> None:
    rng = np.random.default_rng(5)
    e = rng.gamma(2.0, 1.5, size=(30, 68))
    e[4, 10] = np.nan
    mask = rng.random((30, 68)) < 0.3
    mask[:, 20] = False  # a point never occluded
    means, counts = per_landmark_means(e, mask)
    for k in range(68):
        vals = [e[i, k] for i in range(30) if mask[i, k] and np.isfinite(e[i, k])]
        assert counts[k] == len(vals)
        if vals:
            assert means[k] == pytest.approx(sum(vals) / len(vals), rel=1e-12)
        else:
            assert math.isnan(means[k])
    all_means, all_counts = per_landmark_means(e)
    assert all_counts[10] == 29 and all_means[0] == pytest.approx(e[:, 0].mean())
    for (name, mean, n), (rname, lo, hi) in zip(region_means(e, ~mask), REGIONS, strict=True):
        vals = [e[i, k] for i in range(30) for k in range(lo, hi) if not mask[i, k] and np.isfinite(e[i, k])]
        assert name == rname and n == len(vals) and mean == pytest.approx(sum(vals) / len(vals), rel=1e-12)
    assert [r[0] for r in REGIONS] == ["jaw", "brows", "nose", "eyes", "mouth"]
    assert REGIONS[0][1] == 0 and REGIONS[-1][2] == 68
    assert all(a[2] == b[1] for a, b in zip(REGIONS, REGIONS[1:], strict=False))


def test_mean_shape_removes_similarity_transforms() -> None:
    from aflw_occ.demo import face_template

    base = face_template()[:, :2] * [1, -1]  # y down, as in images
    rng = np.random.default_rng(0)
    sets = []
    for _ in range(12):
        a = rng.uniform(-0.6, 0.6)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        sets.append(base @ r.T * rng.uniform(0.5, 3) + rng.uniform(-200, 200, size=2))
    got = mean_shape(np.stack(sets))
    # equal to the template up to a similarity (its orientation is the sets' average one)
    a, b = base - base.mean(0), got - got.mean(0)
    u, sv, vt = np.linalg.svd(a.T @ b)
    scale = sv.sum() / (a * a).sum()
    np.testing.assert_allclose(a @ (u @ vt) * scale, b, atol=1e-9)
    # placed in the unit box: longer side 1, the shorter one centred
    ext = got.max(0) - got.min(0)
    assert ext.max() == pytest.approx(1.0) and got.min() >= -1e-12 and got.max() <= 1 + 1e-12
    short = int(np.argmin(ext))
    assert got[:, short].min() == pytest.approx((1 - ext[short]) / 2)
    # upright sets give an upright mean (the sets' average orientation, not the first set's)
    tilted = [base @ np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]).T for t in (0.5, -0.5, 0.0)]
    upright = mean_shape(np.stack(tilted))
    lo, hi = base.min(0), base.max(0)
    side = (hi - lo).max()
    np.testing.assert_allclose(upright, (base - lo) / side + (1 - (hi - lo) / side) / 2, atol=1e-9)


def test_colour_names_and_descriptors() -> None:
    assert luma([255, 255, 255]) == pytest.approx(255.0) and luma([0, 0, 255]) == pytest.approx(0.114 * 255)
    cases = {
        (0, 0, 0): "dark",
        (120, 120, 130): "grey",
        (230, 230, 210): "light",
        (250, 10, 10): "red",
        (250, 10, 60): "red",
        (200, 200, 20): "yellow",
        (10, 200, 10): "green",
        (10, 200, 200): "cyan",
        (10, 10, 200): "blue",
        (200, 10, 200): "magenta",
    }
    for rgb, name in cases.items():
        assert hue_family(rgb) == name, rgb
    params = {
        "occluders": [
            {"rect": [0, 0, 10, 10], "color": [1, 2, 3]},
            {"rect": [0, 0, 20, 5], "color": [4, 5, 6]},  # same area: the first one wins
            {"rect": [5, 5, 4, 40], "color": [7, 8, 9]},  # clipped to nothing
        ]
    }
    assert dominant_colour(params) == [1, 2, 3]
    keys = {f.key: f for f in FACTORS}
    assert keys["nsod-category"].label("nsod", {"occluder": {"category": "food"}}) == "food"
    assert keys["csod-type"].label("csod-column", params) == "column"
    assert keys["csod-luma"].label("csod-single", params) == "dark (Y < 85)"


def test_worst_rows_ranks_missing_first_and_keeps_ties_in_order() -> None:
    s = np.array([1.0, 5.0, np.nan, 5.0, 2.0, -np.inf])
    assert worst_rows(s, 4).tolist() == [2, 1, 3, 4]
    assert worst_rows(s, 0).tolist() == []
    assert worst_rows(s, 10).tolist() == [2, 1, 3, 4, 0, 5]
