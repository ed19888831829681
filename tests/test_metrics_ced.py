"""CED, exact AUC and failure rate against numerical integration and loops."""

from __future__ import annotations

import numpy as np
import pytest

from aflw_occ.metrics import auc_at, ced_curve, failure_rate


def test_auc_matches_fine_trapezoid_of_the_curve() -> None:
    rng = np.random.default_rng(0)
    e = rng.gamma(2.0, 0.02, 400)
    for cutoff in (0.07, 0.10):
        t = np.linspace(0, cutoff, 200001)
        f = np.array([sum(1 for x in e[:50] if x <= ti) / 50 for ti in t[::2000]])  # loop on a subset
        _, f_vec = ced_curve(e[:50], t[::2000])
        np.testing.assert_array_equal(f_vec, f)
        _, full = ced_curve(e, t)
        trap = float(np.sum((full[1:] + full[:-1]) / 2 * np.diff(t)) / cutoff)
        assert auc_at(e, cutoff) == pytest.approx(trap, abs=1e-4)


def test_auc_extremes_and_failure_rate() -> None:
    assert auc_at(np.zeros(10), 0.1) == 1.0
    assert auc_at(np.full(10, 0.2), 0.1) == 0.0
    e = np.array([0.01, 0.05, 0.1, 0.1000001, 0.3])
    assert failure_rate(e, 0.1) == pytest.approx(2 / 5)
    assert auc_at(np.array([0.05]), 0.1) == pytest.approx(0.5)


def test_ced_is_monotone_and_ends_at_fraction_below_cutoff() -> None:
    rng = np.random.default_rng(1)
    e = rng.uniform(0, 0.2, 300)
    t, f = ced_curve(e, cutoff=0.1, n_points=51)
    assert t[0] == 0 and t[-1] == pytest.approx(0.1)
    assert np.all(np.diff(f) >= 0)
    assert f[-1] == pytest.approx(np.mean(e <= 0.1))
