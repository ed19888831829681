"""Yaw bins and balanced / plain means, against loops and the real counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aflw_occ.metrics import BIN_LABELS, balanced_mean, bin_counts, bin_means, plain_mean, yaw_bins


def test_bin_edges() -> None:
    yaw = np.array([0.0, 30.0, -30.0, 30.000001, 45.0, 60.0, -60.0, 60.000001, 89.0, -351.2, 120.0])
    assert yaw_bins(yaw).tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert BIN_LABELS == ("[0,30]", "(30,60]", ">60")


def test_means_match_loop() -> None:
    rng = np.random.default_rng(0)
    yaw = rng.uniform(-90, 90, 500)
    v = rng.uniform(0, 0.1, 500)
    b = yaw_bins(yaw)
    groups: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for bi, vi in zip(b.tolist(), v.tolist(), strict=True):
        groups[bi].append(vi)
    loop_means = [sum(g) / len(g) for g in groups.values()]
    np.testing.assert_allclose(bin_means(v, b), loop_means, rtol=1e-12)
    assert balanced_mean(v, b) == pytest.approx(sum(loop_means) / 3, rel=1e-12)
    assert plain_mean(v) == pytest.approx(sum(v.tolist()) / 500, rel=1e-12)
    assert bin_counts(b).tolist() == [len(g) for g in groups.values()]


def test_nan_values_are_skipped_and_empty_bins_are_nan() -> None:
    v = np.array([1.0, np.nan, 3.0, 5.0])
    b = np.array([0, 0, 1, 1])
    means = bin_means(v, b)
    assert means[0] == 1.0 and means[1] == 4.0 and math.isnan(means[2])
    assert math.isnan(balanced_mean(v, b))
    assert plain_mean(v) == 3.0


@pytest.mark.real
def test_real_bin_counts(real_dataset) -> None:
    b = yaw_bins(real_dataset.angles_deg()[:, 1])
    assert bin_counts(b).tolist() == [1312, 383, 305]
