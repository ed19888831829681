"""Dyadic grids for drawn and derived values: a value on the grid of ``bits`` is a multiple of 2^-bits, exact in
binary floating point and printed exactly by JSON, so a recorded parameter is the value that was used, on every
machine. Draws take one integer from the generator (no float arithmetic between the generator and the value)."""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np


def quantise(value: float | Fraction, bits: int) -> float:
    """``value`` rounded to the nearest multiple of 2^-bits (ties to even), as an exact float."""
    return math.ldexp(round(Fraction(value) * (1 << bits)), -bits)


@functools.lru_cache(maxsize=4096)
def _grid_range(lo: float, hi: float, bits: int) -> tuple[int, int]:
    """(first, number) of the multiples of 2^-bits in [lo, hi]: ⌈lo·2^bits⌉ and ⌊hi·2^bits⌋ − ⌈lo·2^bits⌉ + 1, exact
    (``lo``/``hi`` read as the decimals they print as); cached, the same few ranges are drawn from again and again."""
    scale = 1 << bits
    first = math.ceil(Fraction(str(lo)) * scale)
    last = math.floor(Fraction(str(hi)) * scale)
    return first, last - first + 1


def grid_uniform(rng: np.random.Generator, lo: float, hi: float, bits: int) -> float:
    """A uniform draw from the multiples of 2^-bits in [lo, hi] (``lo``/``hi`` read as the decimals they print as)."""
    first, count = _grid_range(lo, hi, bits)
    return math.ldexp(first + int(rng.integers(0, count)), -bits)
