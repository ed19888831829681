"""Exact image and small-matrix operations for the skin segmenters: the same bits on every machine.

The segmenters decide mask pixels and recorded values (visible rate, ITA); ``docs/reproducibility.md`` lists which
operations are exact and why. Here every operation is one of:

* integer arithmetic (box sums, area averages, the BT.601 luma in 15-bit fixed point): exact by construction; and
  OpenCV operations that are integer or order statistics by nature (``boxFilter`` to CV_32S, ``medianBlur``,
  ``erode``/``dilate`` on uint8 0/1 images): any correct implementation gives the same result;
* a fixed sequence of IEEE float64 ``+ − × ÷`` and ``sqrt`` per element (numpy element-wise ufuncs, Python floats),
  correctly rounded whatever the SIMD width (numpy never fuses ``a·b + c``; CPython never does);
* ``math.fsum`` and Python integer ÷ integer, which are correctly rounded by definition.

No BLAS, LAPACK, float reduction, libm/numpy transcendental or OpenCV float operation is used.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from functools import lru_cache

import numpy as np

from ..area import area_sums, half_sums

#: BT.601 luma weights in 15-bit fixed point (R, G, B), sum 2^15: Y = (9798 R + 19235 G + 3735 B + 2^14) >> 15 —
#: what OpenCV 5.x's ``COLOR_RGB2GRAY`` computes on uint8 (OpenCV 4.x used 14 bits and differs on 0.26 % of colours)
LUMA_WEIGHTS = (9798, 19235, 3735)
LUMA_SHIFT = 15

_PAD_MODES = {"reflect": "symmetric", "replicate": "edge", "constant": "constant"}


def box_sum(a: np.ndarray, k: int, border: str = "reflect", value: int = 0) -> np.ndarray:
    """Sum of a (H, W) integer array over the k×k window centred on every pixel (k odd), as int32 / int64.

    ``border``: ``"reflect"`` (OpenCV BORDER_REFLECT, ``fedcba|abcdef``), ``"replicate"`` (BORDER_REPLICATE) or
    ``"constant"`` (every outside pixel = ``value``). bool / uint8 / uint16 input with a zero constant (or no
    constant) border goes through ``cv2.boxFilter(…, CV_32S, normalize=False)``: integer additions, exact by nature
    (the sums stay below 2^31 for k ≤ 181), the same result from any implementation; anything else through
    :func:`box_sum_integral`.
    """
    if k % 2 != 1 or k < 1:
        raise ValueError(f"box_sum: window {k} must be odd and positive")
    x = np.asarray(a)
    if x.dtype == bool:
        x = x.view(np.uint8)
    if x.dtype in (np.uint8, np.uint16) and (border != "constant" or value == 0) and k <= 181 and x.ndim == 2:
        import cv2

        flags = {"reflect": cv2.BORDER_REFLECT, "replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}
        return cv2.boxFilter(np.ascontiguousarray(x), cv2.CV_32S, (k, k), normalize=False, borderType=flags[border])
    return box_sum_integral(x, k, border, value)


def box_sum_integral(a: np.ndarray, k: int, border: str = "reflect", value: int = 0) -> np.ndarray:
    """:func:`box_sum` from the integer integral image I[r, c] = Σ_{r' < r, c' < c} a of the padded array:
    sum = I[r+k, c+k] − I[r, c+k] − I[r+k, c] + I[r, c] (int32 when no partial sum can reach 2^31, else int64)."""
    h = k // 2
    x = np.asarray(a)
    peak = max(int(np.abs(x).max()) if x.size else 0, abs(value)) * (x.shape[0] + k) * (x.shape[1] + k)
    dt = np.int32 if peak < 2**31 else np.int64
    x = x.astype(dt, copy=False)
    if border == "constant":
        p = np.pad(x, h, mode="constant", constant_values=value)
    else:
        p = np.pad(x, h, mode=_PAD_MODES[border])  # type: ignore[call-overload]
    ii = np.zeros((p.shape[0] + 1, p.shape[1] + 1), dtype=dt)
    np.cumsum(np.cumsum(p, axis=0), axis=1, out=ii[1:, 1:])
    return ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k]


def binary_median(mask: np.ndarray, k: int) -> np.ndarray:
    """k×k median filter of a 0/1 image, replicated borders: ``cv2.medianBlur`` on uint8 — an order statistic,
    exact by nature (= 1 ⇔ at least (k² + 1)/2 of the k² bits are 1; ``tests/test_exact_skin.py`` checks that
    definition). (H, W) → (H, W) bool."""
    import cv2

    return cv2.medianBlur(np.ascontiguousarray(mask, dtype=np.uint8), k).astype(bool)


def erode(mask: np.ndarray, k: int) -> np.ndarray:
    """Binary erosion by a k×k square, outside the image counting as set: ``cv2.erode`` on uint8 (a minimum,
    exact by nature; ⇔ all k² bits are 1)."""
    import cv2

    return cv2.erode(np.ascontiguousarray(mask, dtype=np.uint8), np.ones((k, k), np.uint8)).astype(bool)


def dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """Binary dilation by a k×k square, outside the image counting as unset: ``cv2.dilate`` on uint8 (a maximum,
    exact by nature; ⇔ at least one of the k² bits is 1)."""
    import cv2

    return cv2.dilate(np.ascontiguousarray(mask, dtype=np.uint8), np.ones((k, k), np.uint8)).astype(bool)


def open_close(mask: np.ndarray, k_open: int, k_close: int) -> np.ndarray:
    """Opening by a k_open square (erode, dilate) then closing by a k_close square (dilate, erode), bool."""
    m = dilate(erode(mask, k_open), k_open)
    return erode(dilate(m, k_close), k_close)


def luma_u8(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB uint8 image in 15-bit fixed point (OpenCV 5's ``COLOR_RGB2GRAY``, bit for bit):
    Y = (9798·R + 19235·G + 3735·B + 2^14) >> 15, (..., 3) → (...) uint8."""
    x = np.asarray(rgb).astype(np.int32)
    return luma_of_planes(x[..., 0], x[..., 1], x[..., 2])


def luma_of_planes(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`luma_u8` of int32 channel planes (each (...), values 0–255) → (...) uint8."""
    wr, wg, wb = LUMA_WEIGHTS
    y = r * wr
    y += g * wg
    y += b * wb
    y += 1 << (LUMA_SHIFT - 1)
    y >>= LUMA_SHIFT
    return y.astype(np.uint8)


def resize_area_u8(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink an (H, W[, C]) uint8 image to ``size`` = (h, w) ≤ (H, W) by area averaging, in exact integers:
    out = round(Σᵢⱼ aᵢ bⱼ p_ij / (H·W)) with the overlap weights a, b of :func:`aflw_occ.area.area_taps`; a tie
    rounds up when both factors are exactly 2 (OpenCV's integer fast path (a + b + c + d + 2) >> 2), else to even
    (OpenCV's ``cvRound`` of its float sum).

    This is ``cv2.resize(INTER_AREA)``'s definition; OpenCV evaluates the general case in float32, so at an exact
    half-integer mean its float sum may fall on either side (≈ 1 pixel in 30,000 on random images differs by 1;
    ``tests/test_exact_skin.py``). Sums ≤ 255·H·W stay far inside int64.
    """
    src = np.asarray(image)
    h, w = size
    if src.shape[0] == 2 * h and src.shape[1] == 2 * w:  # the integer fast path, (a + b + c + d + 2) >> 2
        b = src.astype(np.uint16)
        return ((b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2] + 2) >> 2).astype(np.uint8)
    halving = 0 < h == src.shape[0] // 2 and 0 < w == src.shape[1] // 2 and src.shape[0] * src.shape[1] <= 1 << 22
    if halving and src.dtype == np.uint8 and (src.ndim == 2 or src.shape[2] <= 4):
        # the half-size shrink of the NOD crops (:func:`aflw_occ.area.half_sums`): round(num/den), ties to even, is
        # rint of the correctly rounded float64 quotient — a tie k + ½ is a float64 exactly, and any other mean is at
        # least 1/(2·den) ≥ 2⁻²³ from a half-integer, far beyond the quotient's rounding error (≤ 256·2⁻⁵³)
        num, den = half_sums(src)
        return np.rint(num / float(den)).astype(np.uint8)
    # exact integer sums ≤ 255·H·W (int32 for images up to ~2900² pixels, int64 beyond) over the denominator H·W
    num, den = area_sums(src, (w, h))
    dt = num.dtype.type
    # q = ⌊num/den⌋ from one correctly rounded division: |fl(num/den) − num/den| ≤ (num/den)·2⁻⁵³ < 1/den (num < 2⁵³),
    # and a non-integer num/den is at least 1/den below the next integer, so the floor is exact; rem = num − q·den
    q = np.floor(num / float(den)).astype(dt)
    rem = num - q * dt(den)
    rem *= 2
    up = (rem > den) | ((rem == den) & ((q & 1) == 1))
    q += up
    return q.astype(np.uint8)


def resize_nearest(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Enlarge an (h, w) mask to ``shape`` = (H, W) by nearest neighbour as ``cv2.resize(INTER_NEAREST)`` defines
    it: full pixel (r, c) takes (⌊r·h/H⌋, ⌊c·w/W⌋), in integers (OpenCV's ⌊r·(1/(H/h))⌋ in float64 equals it:
    r·h/H is either an integer reached exactly or at least 1/H from one)."""
    m = np.asarray(mask)
    rows = np.arange(shape[0], dtype=np.int64) * m.shape[0] // shape[0]
    cols = np.arange(shape[1], dtype=np.int64) * m.shape[1] // shape[1]
    return np.take(np.take(m, rows, axis=0), cols, axis=1)


def cholesky(cov: np.ndarray) -> list[list[float]]:
    """Lower Cholesky factor L of a symmetric positive definite (D, D) matrix, Σ = L·Lᵀ, in Python floats:
    L_jj = √(Σ_jj − Σ_{k<j} L_jk²), L_ij = (Σ_ij − Σ_{k<j} L_ik·L_jk) / L_jj, sums accumulated k = 0, 1, … .
    Raises ValueError when Σ is not positive definite."""
    a = [[float(v) for v in row] for row in np.asarray(cov, dtype=np.float64)]
    d = len(a)
    low = [[0.0] * d for _ in range(d)]
    for j in range(d):
        s = a[j][j]
        for k in range(j):
            s -= low[j][k] * low[j][k]
        if not s > 0.0:
            raise ValueError("covariance is not positive definite")
        low[j][j] = math.sqrt(s)
        for i in range(j + 1, d):
            t = a[i][j]
            for k in range(j):
                t -= low[i][k] * low[j][k]
            low[i][j] = t / low[j][j]
    return low


def lower_inverse(low: list[list[float]]) -> list[list[float]]:
    """L⁻¹ of a lower-triangular L by forward substitution (Python floats, fixed order):
    (L⁻¹)_ii = 1 / L_ii, (L⁻¹)_ij = −(Σ_{j ≤ k < i} L_ik·(L⁻¹)_kj) / L_ii for j < i."""
    d = len(low)
    inv = [[0.0] * d for _ in range(d)]
    for i in range(d):
        inv[i][i] = 1.0 / low[i][i]
        for j in range(i):
            s = 0.0
            for k in range(j, i):
                s += low[i][k] * inv[k][j]
            inv[i][j] = -s / low[i][i]
    return inv


def mahalanobis_sq(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """d²(x) = ‖L⁻¹(x − μ)‖² for rows of x (N, D), Σ = L·Lᵀ (:func:`cholesky`, :func:`lower_inverse`):
    z_i = Σ_{j ≤ i} (L⁻¹)_ij·(x_j − μ_j) accumulated j = 0 … i, d² = Σ_i z_i² accumulated i = 0 … D−1, all
    element-wise float64 (no BLAS). Returns (N,) float64."""
    xs = np.asarray(x, dtype=np.float64)
    mu = [float(v) for v in np.asarray(mean, dtype=np.float64)]
    inv = lower_inverse(cholesky(cov))
    d = xs.shape[1]
    diff = [xs[:, j] - mu[j] for j in range(d)]
    # the same operations in place, through two scratch arrays; d² starts as z_0² (= 0 + z_0², z_0² ≥ 0)
    out, z, t = np.empty(len(xs)), np.empty(len(xs)), np.empty(len(xs))
    for i in range(d):
        np.multiply(diff[0], inv[i][0], out=z)
        for j in range(1, i + 1):
            np.multiply(diff[j], inv[i][j], out=t)
            z += t
        if i == 0:
            np.multiply(z, z, out=out)
        else:
            np.multiply(z, z, out=t)
            out += t
    return out


def median_columns(x: np.ndarray) -> np.ndarray:
    """Per-column median of (N, D) float64: the middle sorted value, or (a + b)·½ of the middle two (sorting is
    exact; one rounded addition)."""
    a = np.asarray(x, dtype=np.float64)
    n = len(a)
    if n == 0:  # as before: nothing to take the middle of
        s = np.sort(a, axis=0)
        return (s[n // 2 - 1] + s[n // 2]) * 0.5
    # the middle order statistics by partial sorting (np.partition puts the k-th smallest at index k: the same values)
    kth = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    s = np.partition(a, kth, axis=0)
    if n % 2:
        return s[n // 2].copy()
    return (s[n // 2 - 1] + s[n // 2]) * 0.5


Sums = tuple[int, list[int], list[list[int]]]


def _sums_python(xq: np.ndarray, wq: np.ndarray) -> Sums:
    """S, S_i, S_ij of :func:`weighted_moments` in Python integers: slow but exact for any magnitude."""
    d = xq.shape[1]
    xo, wo = [[int(v) for v in col] for col in xq.T], [int(v) for v in wq]
    s1 = [sum(w * v for w, v in zip(wo, xo[i], strict=True)) for i in range(d)]
    s2 = [[sum(w * a * b for w, a, b in zip(wo, xo[i], xo[j], strict=True)) for j in range(d)] for i in range(d)]
    return sum(wo), s1, s2


class QuantisedRows:
    """The rows of x (N, D) on the grid 2^−x_bits, x_q = round(x·2^x_bits), kept for several
    :meth:`moments` with different weights (what :func:`robust_gaussian`'s iterations do): the grid values, their
    largest magnitude and their int64 columns are made once."""

    def __init__(self, x: np.ndarray, x_bits: int = 8) -> None:
        self.x_bits = x_bits
        self.xq = np.rint(np.asarray(x, dtype=np.float64) * float(1 << x_bits))
        self.big = float(np.abs(self.xq).max()) if self.xq.size else 0.0
        self._cols: list[np.ndarray] | None = None

    def _sums_int64(self, wq: np.ndarray) -> Sums:
        """S, S_i, S_ij in int64 (the caller checked that no sum can overflow)."""
        if self._cols is None:
            xi = self.xq.astype(np.int64)
            self._cols = [np.ascontiguousarray(xi[:, i]) for i in range(xi.shape[1])]
        cols, d = self._cols, len(self._cols)
        wi = wq.astype(np.int64)
        wx = [wi * cols[i] for i in range(d)]
        # S_ij = S_ji: each exact integer sum computed once (j ≥ i) and mirrored
        s2 = [[0] * d for _ in range(d)]
        for i in range(d):
            for j in range(i, d):
                s2[i][j] = s2[j][i] = int((wx[i] * cols[j]).sum())
        return int(wi.sum()), [int(v.sum()) for v in wx], s2

    def moments(self, weights: np.ndarray, w_bits: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """:func:`weighted_moments` of these rows with ``weights`` (N,) on the grid 2^−w_bits."""
        x_bits, d = self.x_bits, self.xq.shape[1]
        wq = np.rint(np.asarray(weights, dtype=np.float64) * float(1 << w_bits))
        wsum_bound = float(np.abs(wq).sum()) if wq.size else 0.0  # an upper bound; rounding cannot matter at 2^62
        if self.big * self.big * wsum_bound < 2.0**62:
            s0, s1, s2 = self._sums_int64(wq)
        else:
            s0, s1, s2 = _sums_python(self.xq, wq)
        if s0 <= 0:
            raise ValueError("weights sum to zero")
        mean = np.array([s1[i] / (s0 << x_bits) for i in range(d)], dtype=np.float64)
        den = (s0 * s0) << (2 * x_bits)
        cov = np.array([[(s0 * s2[i][j] - s1[i] * s1[j]) / den for j in range(d)] for i in range(d)], dtype=np.float64)
        return mean, cov


def weighted_moments(
    x: np.ndarray, weights: np.ndarray, x_bits: int = 8, w_bits: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean (D,) and covariance (D, D) of x (N, D), exactly for the quantised data.

    x_q = round(x·2^x_bits), ω_q = round(ω·2^w_bits) (integers); S = Σ ω_q, S_i = Σ ω_q x_q,i,
    S_ij = Σ ω_q x_q,i x_q,j as exact integer sums (int64 when the bound allows, else Python integers); then
    μ_i = S_i / (S·2^x_bits) and Σ_ij = (S·S_ij − S_i·S_j) / (S²·2^(2·x_bits)) as Python integer divisions, which
    are correctly rounded. No float reduction: the result does not depend on summation order. (Several weightings of
    the same x: :class:`QuantisedRows`.)
    """
    return QuantisedRows(x, x_bits).moments(weights, w_bits)


# ---- CIELAB (D65) for the individual typology angle ------------------------------------------------------------
#: sRGB → XYZ (D65) and the white point, as OpenCV's ``COLOR_RGB2Lab``
_RGB2XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_X, _WHITE_Z = 0.950456, 1.088754
_LAB_T0 = 0.008856


@lru_cache(maxsize=1)
def srgb_linear_table() -> np.ndarray:
    """(256,) float64 linear-light value of each 8-bit sRGB code v (c = v/255): c/12.92 for c ≤ 0.04045, else
    ((c + 0.055)/1.055)^2.4, computed with :mod:`decimal` at 40 digits (software arithmetic: the same on every
    machine) and rounded once to float64."""
    out = np.empty(256, dtype=np.float64)
    with localcontext() as ctx:
        ctx.prec = 40
        for v in range(256):
            c = Decimal(v) / Decimal(255)
            if c <= Decimal("0.04045"):
                lin = c / Decimal("12.92")
            else:
                lin = ((c + Decimal("0.055")) / Decimal("1.055")) ** Decimal("2.4")
            out[v] = float(lin)
    return out


def cbrt_array(t: np.ndarray) -> np.ndarray:
    """Cube root of positive float64 values ≤ 8 by 40 fixed Newton steps y ← (2y + t/y²)/3 from y = 2
    (element-wise float64, fixed order; converges for every t in (0, 8] well within the steps: from above,
    monotonically, to within an ulp)."""
    t = np.asarray(t, dtype=np.float64)
    y = np.full(t.shape, 2.0)
    for _ in range(40):
        y = (2.0 * y + t / (y * y)) / 3.0
    return y


def rgb_to_lab_lb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CIELAB L* and b* (D65, OpenCV's constants) of RGB uint8 pixels (N, 3), deterministic:
    lin = :func:`srgb_linear_table`; X, Y, Z = fixed-order dot products with OpenCV's sRGB matrix, X /= X_n,
    Z /= Z_n; f(t) = ∛t (:func:`cbrt_array`) for t > 0.008856 else 7.787·t + 16/116;
    L* = 116·f(Y) − 16 for Y > 0.008856 else 903.3·Y; b* = 200·(f(Y) − f(Z))."""
    px = np.asarray(rgb).reshape(-1, 3)
    lut = srgb_linear_table()
    r, g, b = lut[px[:, 0]], lut[px[:, 1]], lut[px[:, 2]]
    xyz = [(m[0] * r + m[1] * g) + m[2] * b for m in _RGB2XYZ]
    yy = xyz[1]
    zz = xyz[2] / _WHITE_Z

    def f(t: np.ndarray) -> np.ndarray:
        return np.where(t > _LAB_T0, cbrt_array(np.maximum(t, _LAB_T0)), 7.787 * t + 16.0 / 116.0)

    fy = f(yy)
    lum = np.where(yy > _LAB_T0, 116.0 * fy - 16.0, 903.3 * yy)
    return lum, 200.0 * (fy - f(zz))


def q99_at_most(values: np.ndarray, limit: float) -> bool:
    """Whether the 99th percentile of non-negative integers (linear interpolation between order statistics, as
    ``np.percentile``'s default) is ≤ ``limit``, decided exactly in integers: with n values, position
    99·(n − 1)/100 = i + ρ/100, order statistics a = v₍ᵢ₎ and b = v₍ᵢ₊₁₎, the percentile is a + (b − a)·ρ/100, so the
    test is 100·a + (b − a)·ρ ≤ 100·limit."""
    v = np.asarray(values).reshape(-1).astype(np.int64)
    n = len(v)
    if n == 0:
        return True
    i, rho = divmod(99 * (n - 1), 100)
    cum = np.cumsum(np.bincount(v))
    a = int(np.searchsorted(cum, i + 1))
    b = int(np.searchsorted(cum, min(i + 2, n)))
    return 100 * a + (b - a) * rho <= 100 * limit
