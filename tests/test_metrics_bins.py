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


def _loop_carry_over(yaw: list[float]) -> list[int]:
    """SADRNet's evaluate_aflw loop, written out: an image beyond 90° keeps the bin of the previous one."""
    out, prev = [], 0
    for y in yaw:
        a = abs(y)
        if a <= 30:
            prev = 0
        elif a <= 60:
            prev = 1
        elif a <= 90:
            prev = 2
        out.append(prev)
    return out


def test_carry_over_bins_match_loop() -> None:
    from aflw_occ.metrics import yaw_bins_carry_over

    rng = np.random.default_rng(4)
    yaw = rng.uniform(-130, 130, 400)
    yaw[0] = 120.0  # beyond 90 before any binned image: bin 0
    assert yaw_bins_carry_over(yaw).tolist() == _loop_carry_over(yaw.tolist())
    assert yaw_bins_carry_over(np.array([95.0, 10, 100, 40, 120, 130, 70, 200])).tolist() == [0, 0, 0, 1, 1, 1, 2, 2]


def test_bin_mean_std_is_population_std() -> None:
    from aflw_occ.metrics import bin_mean_std

    v = np.array([1.0, 3.0, 2.0, 6.0, 10.0])
    b = np.array([0, 0, 1, 1, 2])
    m = [2.0, 4.0, 10.0]
    mu = sum(m) / 3
    assert bin_mean_std(v, b) == pytest.approx(math.sqrt(sum((x - mu) ** 2 for x in m) / 3), rel=1e-12)
    assert math.isnan(bin_mean_std(v, np.zeros(5, dtype=np.int64)))


@pytest.mark.real
def test_real_counts_of_the_other_conventions(real_dataset, real_eval_dir) -> None:
    from aflw_occ.groundtruth import load_aflw_yaw
    from aflw_occ.metrics import yaw_bins_carry_over

    yaw = real_dataset.angles_deg()[:, 1]
    assert bin_counts(yaw_bins_carry_over(yaw)).tolist() == [1318, 383, 299]
    table = load_aflw_yaw(real_eval_dir)
    aflw = np.array([table[i] for i in real_dataset.ids])
    assert bin_counts(yaw_bins(aflw)).tolist() == [1306, 462, 232]
