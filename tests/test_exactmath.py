"""exactmath: accurate to a few ulp against mpmath, arrays equal to the scalar forms bit for bit, and the same bits
under emulated CPUs (numpy's SIMD loops are not used)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aflw_occ import exactmath as em

mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 40
RNG = np.random.default_rng(0)
XS = np.concatenate([RNG.uniform(-10, 10, 1500), RNG.uniform(-1e4, 1e4, 300), [0.0, 1e-300, math.pi / 2, -math.pi]])


def _ulps(a: float, b: float) -> float:
    return 0.0 if a == b else abs(a - b) / math.ulp(b)


@pytest.mark.parametrize(
    ("fn", "ref", "xs"),
    [
        (em.sin, mpmath.sin, XS),
        (em.cos, mpmath.cos, XS),
        (em.exp, mpmath.exp, RNG.uniform(-50, 50, 1000)),
        (em.atan, mpmath.atan, RNG.uniform(-100, 100, 1000)),
    ],
)
def test_accurate_to_a_few_ulp(fn, ref, xs) -> None:  # type: ignore[no-untyped-def]
    worst = max(_ulps(fn(float(x)), float(ref(mpmath.mpf(float(x))))) for x in xs)
    assert worst <= 3.0


def test_atan2_quadrants_match_c() -> None:
    pts = [(0.0, -1.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 2.0), (-3.0, -4.0), (3.0, -4.0), (0.0, 0.0)]
    for y, x in pts:
        assert _ulps(em.atan2(y, x), math.atan2(y, x)) <= 2.0 or em.atan2(y, x) == math.atan2(y, x)
    assert em.atan2_deg(1.0, 1.0) == pytest.approx(45.0, abs=1e-13)


def test_arrays_equal_scalars_bit_for_bit() -> None:
    assert np.array_equal(em.sin_array(XS), [em.sin(x) for x in XS])
    assert np.array_equal(em.cos_array(XS), [em.cos(x) for x in XS])
    e = RNG.uniform(-50, 50, 500)
    assert np.array_equal(em.exp_array(e), [em.exp(x) for x in e])
    y = np.concatenate([RNG.uniform(-5, 5, 500), [0, 0, 1, -1, 0]])
    x = np.concatenate([RNG.uniform(-5, 5, 500), [0, -1, 0, 0, 2]])
    assert np.array_equal(em.atan2_array(y, x), [em.atan2(a, b) for a, b in zip(y, x, strict=True)])


def test_sin_cos_deg_exact_at_quadrants() -> None:
    assert em.sin_cos_deg(0.0) == (0.0, 1.0)
    s, c = em.sin_cos_deg(90.0)
    assert s == 1.0 and abs(c) < 1e-16


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        em.sin(float("nan"))
    with pytest.raises(ValueError):
        em.exp(1000.0)
