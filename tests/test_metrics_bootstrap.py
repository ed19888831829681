"""Seeded bootstrap: determinism, stratification, interval width, paired comparison."""

from __future__ import annotations

import numpy as np
import pytest

from aflw_occ.metrics import bootstrap_ci, paired_bootstrap, resample_means


def _loop_stratified_draw(values: np.ndarray, strata: np.ndarray, seed: int, n_boot: int) -> np.ndarray:
    """Straightforward re-implementation of the documented stream: per stratum, chunks of 100 draws."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n_boot, 3))
    for s in range(3):
        members = np.flatnonzero(strata == s)
        for start in range(0, n_boot, 100):
            stop = min(start + 100, n_boot)
            idx = rng.integers(0, members.size, size=(stop - start, members.size), dtype=np.int32)
            for b in range(stop - start):
                out[start + b, s] = sum(values[members[j]] for j in idx[b]) / members.size
    return out


def test_matches_loop_and_is_bit_identical() -> None:
    rng = np.random.default_rng(0)
    v = rng.uniform(size=90)
    st = np.repeat([0, 1, 2], 30)
    r = resample_means(v, st, n_strata=3, n_boot=150, seed=7)
    np.testing.assert_allclose(r.stratum_means()[:, :, 0], _loop_stratified_draw(v, st, 7, 150), rtol=1e-12)
    r2 = resample_means(v, st, n_strata=3, n_boot=150, seed=7)
    assert np.array_equal(r.sums, r2.sums) and np.array_equal(r.counts, r2.counts)
    r3 = resample_means(v, st, n_strata=3, n_boot=150, seed=8)
    assert not np.array_equal(r.sums, r3.sums)


def test_stratification_keeps_bin_sizes() -> None:
    st = np.array([0] * 50 + [1] * 30 + [2] * 20)
    indicator = (st == 0).astype(float)
    r = resample_means(indicator, st, n_strata=3, n_boot=200, seed=0)
    # every resample draws exactly 50 images from bin 0: the plain mean of the indicator is constant
    np.testing.assert_allclose(r.plain()[:, 0], 0.5)
    whole = resample_means(indicator, None, n_boot=200, seed=0)
    assert whole.plain()[:, 0].std() > 0.01


def test_interval_width_is_right_for_a_normal_mean() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(0, 1, 2000)
    lo, hi = bootstrap_ci(v, n_boot=1000, seed=0)
    assert lo < v.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 / np.sqrt(2000), rel=0.15)


def test_nan_values_are_ignored() -> None:
    v = np.array([1.0, np.nan, 1.0, 3.0])
    r = resample_means(v, None, n_boot=50, seed=0)
    assert np.all(r.counts[:, 0, 0] <= 4)
    assert np.all((r.plain()[:, 0] >= 1) & (r.plain()[:, 0] <= 3))


def test_paired_bootstrap() -> None:
    rng = np.random.default_rng(2)
    st = rng.integers(0, 3, 600)
    a = rng.gamma(2, 0.02, 600)
    same = paired_bootstrap(a, a.copy(), st, n_boot=200, seed=0, n_strata=3)
    assert same.difference == 0 and same.ci_low == 0 and same.ci_high == 0 and same.p_value == 1.0
    worse = paired_bootstrap(a + 0.01, a, st, n_boot=200, seed=0, n_strata=3)
    assert worse.difference == pytest.approx(0.01)
    assert worse.ci_low == pytest.approx(0.01) and worse.p_value == pytest.approx(2 / 201)
    noisy = paired_bootstrap(a + rng.normal(0, 0.001, 600), a, st, statistic="plain", n_boot=400, seed=0)
    assert noisy.ci_low < noisy.difference < noisy.ci_high
    assert 0 < noisy.p_value <= 1
    with pytest.raises(ValueError):
        paired_bootstrap(a, a[:-1])
