"""Exact colour statistics and affine colour maps of NatOcc compositing (step 5 of :mod:`builders.compositing`): integer
moments of RGB pixels, YCbCr means and spreads correctly rounded from them, the colour-transfer matrix composed with
:func:`math.fsum` dot products, and its fixed-point form."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .. import kernels

#: a 3×4 affine colour map [A | b] as nested tuples of floats
Matrix34 = tuple[tuple[float, ...], ...]


def _inverse3(m: tuple[tuple[Fraction, ...], ...]) -> tuple[tuple[Fraction, ...], ...]:
    """Exact inverse of a 3×3 rational matrix (adjugate / determinant)."""
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    adj = ((e * i - f * h, c * h - b * i, b * f - c * e), (f * g - d * i, a * i - c * g, c * d - a * f),
           (d * h - e * g, b * g - a * h, a * e - b * d))  # fmt: skip
    return tuple(tuple(v / det for v in row) for row in adj)


#: RGB → YCbCr (BT.601, full range, chroma centred on 0), exact decimals, and its exact inverse
_YCC_EXACT = tuple(
    tuple(Fraction(v) for v in row)
    for row in (("0.299", "0.587", "0.114"), ("-0.168736", "-0.331264", "0.5"), ("0.5", "-0.418688", "-0.081312"))
)
YCC: tuple[tuple[float, ...], ...] = tuple(tuple(float(v) for v in row) for row in _YCC_EXACT)
YCC_INV: tuple[tuple[float, ...], ...] = tuple(tuple(float(v) for v in row) for row in _inverse3(_YCC_EXACT))
LUMA = YCC[0]
IDENTITY: Matrix34 = tuple(tuple(float(r == c) for c in range(4)) for r in range(3))
GREY: Matrix34 = tuple((*LUMA, 0.0) for _ in range(3))
#: fractional bits of the applied colour map [A | b]
COLOUR_BITS = 12
#: images whose chroma spread is below this are near-monochrome (tinted, sepia): the occluder's chroma is scaled down
MONOCHROME_SPREAD = 6.0


def dot(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    """Σ aᵢbᵢ with each product IEEE-rounded and the sum correctly rounded (``math.fsum``): the same bits on every
    machine and Python release (``sum`` of floats changed in Python 3.12)."""
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def is_grey(image: np.ndarray, box: tuple[int, int, int, int], tol: int = 2) -> bool:
    """True when the image's channels are equal (within ``tol``) at every 2nd pixel of every 2nd row of the box: a
    grey-scale photograph. Every 8th pixel is looked at first: those are among the pixels tested, so a colour pixel
    there already decides (most photos), and the result is the same."""
    x0, y0, x1, y1 = box
    for stride in (8, 2):
        patch = image[y0:y1:stride, x0:x1:stride].astype(np.int16)
        if np.abs(patch[..., 0] - patch[..., 1]).max() > tol or np.abs(patch[..., 1] - patch[..., 2]).max() > tol:
            return False
    return True


@dataclass(frozen=True)
class Moments:
    """Exact first and second moments of RGB pixels: count ``n``, sums ``s`` (3,), sums of products ``ss`` (3, 3)."""

    n: int
    s: tuple[int, ...]
    ss: tuple[tuple[int, ...], ...]


def rgb_moments(rgb: np.ndarray, mask: np.ndarray | None = None) -> Moments:
    """:class:`Moments` of the (…, 3) uint8 pixels (where ``mask``). Every sum is an integer below 2⁵³ (255²·n,
    n < 10⁷), so the float64 reductions and the six dot products of channel pairs (symmetric: ss[j][i] = ss[i][j])
    are exact whatever their order, vector width or BLAS kernel. Channels are gathered one at a time at the mask's
    flat indices (a boolean gather of 3-byte pixels is slow in numpy); six vector dot products cost a quarter of
    one (3, n)·(n, 3) matrix product. With the numba backend (:mod:`..kernels`) the compiled kernel sums in int64
    (the same integers, below 2⁶³)."""
    jit = kernels.compiled()
    if jit is not None:
        sums = np.empty(10, np.int64)
        m = np.ones(rgb.shape[:-1], bool) if mask is None else mask
        jit.moments(np.ascontiguousarray(rgb).reshape(-1, 3), np.ascontiguousarray(m).reshape(-1), sums)
        v = [int(x) for x in sums]
        return Moments(v[0], (v[1], v[2], v[3]), ((v[4], v[5], v[6]), (v[5], v[7], v[8]), (v[6], v[8], v[9])))
    flat = np.ascontiguousarray(rgb).reshape(-1, 3)
    idx = np.flatnonzero(mask) if mask is not None else None
    n = len(flat) if idx is None else idx.size
    ch = np.empty((3, n), np.float64)
    for k in range(3):
        ch[k] = flat[:, k] if idx is None else flat[:, k][idx]
    s = tuple(int(v) for v in ch.sum(axis=1))
    prod = {(i, j): int(np.dot(ch[i], ch[j])) for i in range(3) for j in range(i, 3)}
    ss = tuple(tuple(prod[min(i, j), max(i, j)] for j in range(3)) for i in range(3))
    return Moments(n, s, ss)


def _compose(outer: tuple[tuple[float, ...], ...], inner: Matrix34) -> Matrix34:
    """(outer ∘ inner) for a 3×3 (or the linear part of a 3×4) ``outer`` and a 3×4 ``inner`` (:func:`dot` sums)."""
    cols = list(zip(*inner, strict=True))
    lin = tuple(tuple(dot(row[:3], cols[c]) for c in range(4)) for row in outer)
    if len(outer[0]) == 4:
        lin = tuple(r[:3] + (r[3] + o[3],) for r, o in zip(lin, outer, strict=True))
    return lin


def _integer_row(row: tuple[float, ...]) -> tuple[list[int], int]:
    """A float row as integers over a common power-of-two denominator: (c·D, D), exact."""
    fr = [Fraction(v) for v in row]
    den = math.lcm(*(v.denominator for v in fr))
    return [int(v * den) for v in fr], den


@functools.lru_cache(maxsize=64)
def _integer_rows(pre: Matrix34) -> tuple[tuple[list[int], int], ...]:
    """The rows of YCC·A (linear part) as integers over a common denominator (cached: A is one of a few maps)."""
    return tuple(_integer_row(row[:3]) for row in _compose(YCC, pre))


@functools.lru_cache(maxsize=64)
def _offsets(pre: Matrix34) -> tuple[tuple[int, int], ...]:
    """The offsets (column 4) of YCC·A as exact integer ratios (cached: A is one of a few maps)."""
    return tuple(row[3].as_integer_ratio() for row in _compose(YCC, pre))


def ycc_stats(m: Moments, pre: Matrix34 = IDENTITY) -> tuple[list[float], list[float]]:
    """Means and standard deviations of YCbCr of ``pre``·x over the pixels of ``m``, correctly rounded from exact
    integers: for a row c of YCC·A (integers over a denominator D), μ = c·s/(nD) + offset and
    σ² = (n·cᵀ·ss·c − (c·s)²)/(nD)²; σ = √(float(σ²)) (IEEE sqrt of a correctly rounded input)."""
    if m.n == 0:
        return [0.0] * 3, [1.0] * 3
    means, stds = [], []
    for (c, den), (off_num, off_den) in zip(_integer_rows(pre), _offsets(pre), strict=True):
        lin = sum(c[j] * m.s[j] for j in range(3))
        sq = sum(c[i] * c[j] * m.ss[i][j] for i in range(3) for j in range(3))
        # lin/(nD) + offset as one ratio of integers: int / int is correctly rounded (as float(Fraction) is)
        means.append((lin * off_den + off_num * m.n * den) / (m.n * den * off_den))
        stds.append(math.sqrt(max(m.n * sq - lin * lin, 0) / (m.n * den) ** 2))
    return means, stds


def chroma_spread(image: np.ndarray, stride: int = 8) -> float:
    """√(var Cb + var Cr) of the whole image (every ``stride``-th pixel): ≈ 0 grey, < 6 tinted/sepia, median ≈ 13."""
    _, std = ycc_stats(rgb_moments(np.ascontiguousarray(image[::stride, ::stride])))
    return math.sqrt(std[1] * std[1] + std[2] * std[2])


def transfer_matrix(
    occ_mean: list[float],
    occ_std: list[float],
    face_mean: list[float],
    face_std: list[float],
    t_y: float,
    t_c: float,
    chroma_gain: float = 1.0,
) -> Matrix34:
    """3×4 affine RGB map of the YCbCr colour transfer (formula: module docstring).

    In YCbCr: Y' = g·Y + (1 − g)·μ_o + t_Y(μ_f − μ_o) with g = 1 + t_Y(clip(σ_f/σ_o, 0.5, 2) − 1);
    C' = k·C + (1 − k)·μ_o + t'(μ_f − μ_o) with k = ``chroma_gain`` and t' = t_C + (1 − t_C)(1 − k).
    In RGB: x' = YCC⁻¹·D·YCC·x + YCC⁻¹·b.
    """
    g = 1.0 + t_y * (min(max(face_std[0] / max(occ_std[0], 1e-3), 0.5), 2.0) - 1.0)
    k = chroma_gain
    tc = t_c + (1.0 - t_c) * (1.0 - k)
    gains, shift = (g, k, k), (t_y, tc, tc)
    b = [(1.0 - gains[i]) * occ_mean[i] + shift[i] * (face_mean[i] - occ_mean[i]) for i in range(3)]
    dy = tuple(tuple(gains[r] * YCC[r][c] for c in range(3)) + (b[r],) for r in range(3))
    return _compose(YCC_INV, dy)


def compose_affine(outer: Matrix34, inner: Matrix34) -> Matrix34:
    """3×4 affine maps: (outer ∘ inner)(x) = outer(inner(x))."""
    return _compose(outer, inner)


def fixed_point(matrix: Matrix34, bits: int = COLOUR_BITS) -> np.ndarray:
    """(3, 4) int64: every entry × 2^bits rounded (ties to even)."""
    return np.array([[round(v * (1 << bits)) for v in row] for row in matrix], np.int64)
