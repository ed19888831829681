"""Transcendental functions whose bits are the same on every machine.

``math.sin`` and friends come from the C library, which picks an FMA or AVX2 variant at run time; numpy's
``np.sin``/``np.exp``/``np.arctan2`` have AVX-512-specific loops (even for a scalar). Their last bits therefore
depend on the CPU and the library release, and a pixel or a recorded value derived from them can change between
machines (``docs/reproducibility.md``). The functions here use only IEEE-754 float64 ``+ − × ÷``, ``math.sqrt``
(correctly rounded), ``math.ldexp`` and rounding to integers, always in the same order, so every machine computes the
same bits. Accuracy is about 1 ulp (a few × 1e-16 relative), far below every grid a builder quantises to.

Scalar functions take and return Python floats; the ``*_array`` forms take float64 arrays and use numpy's element-wise
ufuncs only (exact per element whatever the SIMD width; numpy never fuses ``a*b + c``).

* ``sin``/``cos``: reduction by π/2 (Cody–Waite, three-part π/2; exact for |x| < 2²⁰), Taylor series to x¹⁹ / x²⁰.
* ``exp``: x = k·ln2 + r, |r| ≤ ln2/2 (two-part ln2), Taylor series to r²⁰, then × 2ᵏ.
* ``atan``: atan x = π/2 − atan(1/x) for |x| > 1; atan x = π/6 + atan((√3·x − 1)/(x + √3)) for x > 2 − √3; Taylor
  series to x³⁹ on |x| ≤ 2 − √3.
* ``atan2``: from ``atan`` with the quadrant rules of C's ``atan2`` (finite arguments).
"""

from __future__ import annotations

import math

import numpy as np

PI = 3.141592653589793
HALF_PI = 1.5707963267948966
#: π/2 in three parts with short mantissas: k·_P1 and k·_P2 are exact for |k| < 2²⁰
_P1 = 1.5707963267341256
_P2 = 6.07710050359346e-11
_P3 = 2.912732056093356e-20
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634
_SQRT3 = 1.7320508075688772
_TAN_PI_12 = 0.2679491924311227
_PI_6 = 0.5235987755982989
_DEG = PI / 180.0

_SIN_C = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(10))  # x, x³ … x¹⁹
_COS_C = tuple((-1.0) ** k / math.factorial(2 * k) for k in range(11))  # 1, x² … x²⁰
_EXP_C = tuple(1.0 / math.factorial(k) for k in range(21))  # 1, r … r²⁰
_ATAN_C = tuple((-1.0) ** k / (2 * k + 1) for k in range(20))  # x, x³ … x³⁹


def _horner(coeffs: tuple[float, ...], z):  # type: ignore[no-untyped-def]
    """c₀ + c₁z + … + cₙzⁿ, evaluated from the highest coefficient down (scalar or array z)."""
    acc = coeffs[-1]
    for c in coeffs[-2::-1]:
        acc = acc * z + c
    return acc


def _sin_poly(r: float) -> float:
    return r * _horner(_SIN_C, r * r)


def _cos_poly(r: float) -> float:
    return _horner(_COS_C, r * r)


def _reduce(x: float) -> tuple[int, float]:
    """x = k·π/2 + r with |r| ≲ π/4; k mod 4 picks the quadrant."""
    if not math.isfinite(x) or abs(x) >= 1048576.0:
        raise ValueError(f"exactmath: argument {x!r} outside the supported range |x| < 2**20")
    k = round(x * (1.0 / HALF_PI))
    kf = float(k)
    return k, ((x - kf * _P1) - kf * _P2) - kf * _P3


def sin(x: float) -> float:
    """sin x (radians), the same bits on every machine."""
    k, r = _reduce(float(x))
    q = k % 4
    return (_sin_poly(r), _cos_poly(r), -_sin_poly(r), -_cos_poly(r))[q]


def cos(x: float) -> float:
    """cos x (radians), the same bits on every machine."""
    k, r = _reduce(float(x))
    q = k % 4
    return (_cos_poly(r), -_sin_poly(r), -_cos_poly(r), _sin_poly(r))[q]


def sin_cos_deg(deg: float) -> tuple[float, float]:
    """(sin, cos) of an angle in degrees."""
    rad = float(deg) * _DEG
    return sin(rad), cos(rad)


def exp(x: float) -> float:
    """eˣ, the same bits on every machine (|x| < 700)."""
    x = float(x)
    if not abs(x) < 700.0:
        raise ValueError(f"exactmath.exp: argument {x!r} outside |x| < 700")
    k = round(x * _INV_LN2)
    kf = float(k)
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    return math.ldexp(_horner(_EXP_C, r), k)


def _atan_small(x: float) -> float:
    return x * _horner(_ATAN_C, x * x)


def atan(x: float) -> float:
    """arctan x in (−π/2, π/2), the same bits on every machine."""
    x = float(x)
    if x < 0.0:
        return -atan(-x)
    if x > 1.0:
        return HALF_PI - atan(1.0 / x)
    if x > _TAN_PI_12:
        return _PI_6 + _atan_small((_SQRT3 * x - 1.0) / (x + _SQRT3))
    return _atan_small(x)


def atan2(y: float, x: float) -> float:
    """The angle of (x, y) in (−π, π] like C's ``atan2`` (finite arguments; atan2(0, 0) = 0)."""
    y, x = float(y), float(x)
    if x == 0.0:
        if y == 0.0:
            return 0.0
        return HALF_PI if y > 0.0 else -HALF_PI
    base = atan(y / x)
    if x > 0.0:
        return base
    return base + PI if y >= 0.0 else base - PI


def atan2_deg(y: float, x: float) -> float:
    """:func:`atan2` in degrees."""
    return atan2(y, x) * (180.0 / PI)


# ---- arrays (float64, element-wise ufuncs only) ----


def _reduce_array(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    if x.size and not (np.all(np.isfinite(x)) and np.abs(x).max() < 1048576.0):
        raise ValueError("exactmath: array argument outside the supported range |x| < 2**20")
    k = np.rint(x * (1.0 / HALF_PI))
    r = ((x - k * _P1) - k * _P2) - k * _P3
    return k.astype(np.int64) % 4, r


def _horner_array(coeffs: tuple[float, ...], z: np.ndarray) -> np.ndarray:
    """:func:`_horner` of a float64 array with in-place steps: the same operations in the same order (z·c = c·z in
    IEEE arithmetic), so the same bits, without a temporary per step."""
    acc = z * coeffs[-1]
    acc += coeffs[-2]
    for c in coeffs[-3::-1]:
        acc *= z
        acc += c
    return acc


def _sin_cos_quadrants(x: np.ndarray, shift: int) -> np.ndarray:
    """sin (``shift`` 0) or cos (``shift`` 1) of a float64 array: with x = k·π/2 + r and q = (k + shift) mod 4, the
    result is (r·S(r²), C(r²), −r·S(r²), −C(r²))[q]; each element evaluates only the polynomial it needs."""
    k, r = _reduce_array(x)
    q = (k + shift) % 4
    z = r * r
    odd = (q & 1).astype(bool)
    out = np.empty_like(r)
    even = ~odd
    if even.any():
        out[even] = r[even] * _horner_array(_SIN_C, z[even])
    if odd.any():
        out[odd] = _horner_array(_COS_C, z[odd])
    np.negative(out, out=out, where=q >= 2)
    return out


def sin_array(x: np.ndarray) -> np.ndarray:
    """Element-wise :func:`sin` of a float64 array (the same bits as the scalar form)."""
    return _sin_cos_quadrants(x, 0)


def cos_array(x: np.ndarray) -> np.ndarray:
    """Element-wise :func:`cos` of a float64 array (the same bits as the scalar form)."""
    return _sin_cos_quadrants(x, 1)


def exp_array(x: np.ndarray) -> np.ndarray:
    """Element-wise :func:`exp` of a float64 array (|x| < 700; the same bits as the scalar form)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size and not np.all(np.abs(x) < 700.0):
        raise ValueError("exactmath.exp_array: argument outside |x| < 700")
    k = np.rint(x * _INV_LN2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    return np.ldexp(_horner_array(_EXP_C, r), k.astype(np.int32))  # in place: the same operations as _horner


def _atan_array(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    big = a > 1.0
    with np.errstate(divide="ignore"):
        t = np.where(big, 1.0 / np.where(big, a, 1.0), a)
    mid = t > _TAN_PI_12
    u = np.where(mid, (_SQRT3 * t - 1.0) / (t + _SQRT3), t)
    v = u * _horner(_ATAN_C, u * u)
    v = np.where(mid, _PI_6 + v, v)
    v = np.where(big, HALF_PI - v, v)
    return np.where(x < 0.0, -v, v)


def atan2_array(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Element-wise :func:`atan2` of float64 arrays (finite; the same bits as the scalar form)."""
    y, x = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64))
    safe_x = np.where(x == 0.0, 1.0, x)
    base = _atan_array(y / safe_x)
    out = np.where(x > 0.0, base, np.where(y >= 0.0, base + PI, base - PI))
    axis = np.where(y > 0.0, HALF_PI, np.where(y < 0.0, -HALF_PI, 0.0))
    return np.where(x == 0.0, axis, out)
