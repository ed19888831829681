"""NatOcc compositing: paste one cut-out object over the face region P (Voo, Jiang, Loy, CVPRW 2022; reference values
in ``docs/occlusion.md`` of the shared data, this toolkit's exact definition in ``docs/nsod.md``).

:func:`composite` is pure and **bit-exact on every machine**: every drawn value is quantised to a declared dyadic grid
(:data:`GRIDS`) before use, every derived geometric value comes from IEEE basic operations or
:mod:`aflw_occ.exactmath`, every statistic from exact integer sums, and every pixel operation from
:mod:`.exact_image` / :mod:`.exact_jpeg` (integer arithmetic). All work is done in the occluder's region of interest
(ROI). Steps and drawn values:

1. **Size** — face box = bounding box of P (``w × h``); the occluder's alpha box (``w₀ × h₀``) is scaled by
   ``s₀ = √(a·w·h / (w₀·h₀))``, ``a ~ U(0.5, 1.0)``.
2. **Placement** — centre ``c`` uniform in the face box.
3. **Pointing** — hands and elongated objects (principal-axis ratio ≥ 2.5) are rotated by
   ``φ = atan2(f − c) − θ`` (``f``: centroid of P, ``θ``: the object's long-axis angle) so that the long axis lies on
   the line to the face centre, ``+180°`` when ``c`` is below ``f``.
4. **Affine jitter** (p = 0.7) — scale ``U(0.8, 1.2)``, rotation ``U(−15°, 15°)``, shear ``U(−8°, 8°)`` (x-shear).
   The full map is ``x ↦ c + R(φ + ρ)·Sh(σ)·(s₀·s)·(x − x̄)`` (``x̄``: centre of the occluder's box). Downscaling is
   area-averaged first (exact area means), then the residual map is applied with bilinear interpolation (16-bit
   fixed-point map, 8-bit weights), in premultiplied alpha.
5. **Colour** — one affine colour map ``x ↦ A·x + b`` (RGB, 12 fractional bits, integer arithmetic) composed of:
   grey conversion when the source image is grey (all channels equal); colour transfer toward the face's statistics
   in YCbCr (BT.601, linear in RGB) — with ``μ_f, σ_f`` over P and ``μ_o, σ_o`` over the occluder,
   ``Y ← Y + t_Y(μ_f − μ_o)`` for the mean and ``(Y − μ) · (1 + t_Y(clip(σ_f/σ_o, 0.5, 2) − 1))`` for the contrast,
   ``Cb, Cr ← Cb, Cr + t_C(μ_f − μ_o)``, ``t_Y ~ U(0.3, 0.7)``, ``t_C ~ U(0, 0.3)`` (lighting and colour cast are
   matched, the object keeps its own colours; the original uses sliced optimal transport of the full distribution);
   in near-monochrome (tinted, sepia) photos — image chroma spread ``σ_C < 6`` — the occluder's chroma deviations are
   scaled by ``k = σ_C/6`` and its mean chroma moves to the face's by ``t_C + (1 − t_C)(1 − k)``;
   brightness/contrast (p = 0.5) ``x ← (x − x̄)(1 + κ) + x̄ + 255β``, ``κ, β ~ U(−0.1, 0.1)``. Means and variances
   come from exact integer sums of R, G, B and their products; the matrix is composed in rational arithmetic.
6. **Blur** (p = 0.3) of the occluder — Gaussian ``σ ~ U(0.5, 1.5)`` px (defocus; integer taps, radius ⌈3σ⌉), in
   premultiplied alpha.
7. **Blending** — ``α = G₅(erode₃(α_occ))`` (3×3 erosion, binomial 5×5), on the 0–255 scale;
   ``out = (α·occ + (255 − α)·face)/255``; the edge band (0 < α < 255, grown by 1 px) is replaced by its binomial
   3×3 blur.
8. **JPEG** (p = 0.5) — the 16-pixel-aligned ROI (the source's MCU grid) goes through JPEG's lossy steps at quality
   ``U{70, …, 100}`` (:func:`.exact_jpeg.jpeg_roundtrip`).

The occluder is clipped to the photo inside any black padding bars (:func:`content_box`).
Steps 5–8 only change pixels where ``α > 0``: every pixel outside the returned mask equals the source image's pixel.
Every random number is drawn in a fixed order, whether or not the step is applied, and recorded in ``params``
(quantised); float statistics that are not needed to reproduce the pixels are under ``params["diagnostics"]``.
"""

from __future__ import annotations

import functools
import math
import weakref
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from aflw_occ import exactmath

from . import exact_image as xi
from .exact_jpeg import jpeg_roundtrip
from .grid import grid_uniform, quantise
from .occluders.library import OPAQUE

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
#: quantisation grids, as fractional bits: every drawn or derived value is a multiple of 2^-bits (exact in binary
#: and in JSON) before it is used
GRID_BITS: dict[str, int] = {
    "area_fraction": 12,
    "centre_px": 4,
    "scale": 12,
    "angle_deg": 6,
    "colour": 12,
    "sigma_px": 6,
}


def dot(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    """Σ aᵢbᵢ with each product IEEE-rounded and the sum correctly rounded (``math.fsum``): the same bits on every
    machine and Python release (``sum`` of floats changed in Python 3.12)."""
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class NatOccConfig:
    """The drawn ranges and probabilities (defaults: NatOcc's reference values, ``docs/nsod.md``)."""

    area: tuple[float, float] = (0.5, 1.0)
    jitter_p: float = 0.7
    jitter_scale: tuple[float, float] = (0.8, 1.2)
    jitter_rotation: float = 15.0
    jitter_shear: float = 8.0
    transfer_p: float = 1.0
    transfer_y: tuple[float, float] = (0.3, 0.7)
    transfer_c: tuple[float, float] = (0.0, 0.3)
    bc_p: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.1
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (70, 100)
    erode: int = 3
    gauss: int = 5
    edge_blur: int = 3


@dataclass
class Composite:
    """The result of :func:`composite`: RGB uint8 image, (H, W) bool mask (α > 0), JSON-serialisable params."""

    image: np.ndarray
    mask: np.ndarray
    params: dict[str, Any]


def region_box(region: np.ndarray) -> tuple[int, int, int, int]:
    """[x0, y0, x1, y1) pixel bounding box of a non-empty (H, W) bool mask."""
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        raise ValueError("face region is empty")
    cols = np.flatnonzero(region.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def content_box(image: np.ndarray, level: int = 2) -> tuple[int, int, int, int]:
    """[x0, y0, x1, y1) of the photo inside black padding: edge rows/columns whose every value is ≤ ``level`` are cut.

    Many AFLW2000-3D images are padded to a square with exact-zero bars; an occluder never extends into them.
    """
    h, w = image.shape[:2]
    flat = np.ascontiguousarray(image).reshape(h, -1)
    rows = flat.max(axis=1) > level  # contiguous reductions: ~0.04 ms each
    cols = flat.max(axis=0).reshape(w, -1).max(axis=1) > level
    if not rows.any():
        return 0, 0, image.shape[1], image.shape[0]
    r, c = np.flatnonzero(rows), np.flatnonzero(cols)
    return int(c[0]), int(r[0]), int(c[-1]) + 1, int(r[-1]) + 1


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


# ---- colour statistics (exact) ----


@dataclass(frozen=True)
class Moments:
    """Exact first and second moments of RGB pixels: count ``n``, sums ``s`` (3,), sums of products ``ss`` (3, 3)."""

    n: int
    s: tuple[int, ...]
    ss: tuple[tuple[int, ...], ...]


def rgb_moments(rgb: np.ndarray, mask: np.ndarray | None = None) -> Moments:
    """:class:`Moments` of the (…, 3) uint8 pixels (where ``mask``). Every sum is an integer below 2⁵³ (255²·n,
    n < 10⁷), so the float64 reductions and the (3, n)·(n, 3) product are exact whatever their order, vector width
    or BLAS kernel. Channels are gathered one at a time at the mask's flat indices (a boolean gather of 3-byte
    pixels is slow in numpy)."""
    flat = np.ascontiguousarray(rgb).reshape(-1, 3)
    idx = np.flatnonzero(mask) if mask is not None else None
    n = len(flat) if idx is None else idx.size
    ch = np.empty((3, n), np.float64)
    for k in range(3):
        ch[k] = flat[:, k] if idx is None else flat[:, k][idx]
    s = tuple(int(v) for v in ch.sum(axis=1))
    prod = ch @ ch.T
    ss = tuple(tuple(int(prod[i, j]) for j in range(3)) for i in range(3))
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


# ---- geometry (exact) ----


def affine_matrix(
    centre: tuple[float, float], origin: tuple[float, float], scale: float, rotation_deg: float, shear_deg: float
) -> list[list[float]]:
    """2×3 map ``x ↦ centre + R(rotation)·Sh(shear)·scale·(x − origin)`` (image coordinates, y down), from IEEE
    basic operations and :mod:`aflw_occ.exactmath` only."""
    s, c = exactmath.sin_cos_deg(rotation_deg)
    ss, sc = exactmath.sin_cos_deg(shear_deg)
    t = ss / sc
    l00, l01, l10, l11 = c * scale, (c * t - s) * scale, s * scale, (s * t + c) * scale
    tx = centre[0] - (l00 * origin[0] + l01 * origin[1])
    ty = centre[1] - (l10 * origin[0] + l11 * origin[1])
    return [[l00, l01, tx], [l10, l11, ty]]


def inverse_map(m: list[list[float]], offset: tuple[int, int]) -> list[list[float]]:
    """2×3 inverse of ``m``, mapping canvas pixel (x, y) (canvas origin at ``offset`` in the image) to the source."""
    (l00, l01, tx), (l10, l11, ty) = m
    det = l00 * l11 - l01 * l10
    i00, i01, i10, i11 = l11 / det, -l01 / det, -l10 / det, l00 / det
    ux, uy = offset[0] - tx, offset[1] - ty
    return [[i00, i01, i00 * ux + i01 * uy], [i10, i11, i10 * ux + i11 * uy]]


def axis_angle(alpha: np.ndarray) -> float:
    """Long-axis angle (degrees, x right / y down, in (−90, 90], on the angle grid) of the pixels with alpha ≥ 128:
    ½·atan2(2μ₁₁, μ₂₀ − μ₀₂) from exact integer central moments (n·μ, so no division)."""
    ys, xs = np.nonzero(alpha >= OPAQUE)
    xs, ys = xs.astype(np.int64), ys.astype(np.int64)
    n, sx, sy = len(xs), int(xs.sum()), int(ys.sum())
    if n < 2:
        return 0.0
    mu20 = n * int((xs * xs).sum()) - sx * sx
    mu02 = n * int((ys * ys).sum()) - sy * sy
    mu11 = n * int((xs * ys).sum()) - sx * sy
    return quantise(0.5 * exactmath.atan2_deg(float(2 * mu11), float(mu20 - mu02)), GRID_BITS["angle_deg"])


def pointing_rotation(theta: float, centre: list[float], face_centre: list[float]) -> float:
    """Rotation φ (degrees, on the angle grid) putting an axis at angle θ on the line centre → face centre (+180°
    when below)."""
    direction = exactmath.atan2_deg(face_centre[1] - centre[1], face_centre[0] - centre[0])
    phi = direction - theta + (180.0 if centre[1] > face_centre[1] else 0.0)
    return quantise((phi + 180.0) % 360.0 - 180.0, GRID_BITS["angle_deg"])


def region_centroid(region: np.ndarray, box: tuple[int, int, int, int]) -> list[float]:
    """Centroid (x, y) of the face region, from integer sums, on the centre grid."""
    crop = np.ascontiguousarray(region[box[1] : box[3], box[0] : box[2]], dtype=bool).view(np.uint8)
    col_n, row_n = crop.sum(axis=0, dtype=np.int64), crop.sum(axis=1, dtype=np.int64)  # counts of True (0/1 bytes)
    total = int(col_n.sum())
    bits = GRID_BITS["centre_px"]
    return [
        quantise(box[0] + Fraction(int(np.arange(col_n.size) @ col_n), total), bits),
        quantise(box[1] + Fraction(int(np.arange(row_n.size) @ row_n), total), bits),
    ]


class _ImageStats:
    """What :func:`composite` derives from the source image and the face region alone (face box, centroid, content
    box, grey test, face colour moments, chroma spread), computed on first use and kept for the next composite on the
    same pair (NSOD and RandOcc paste onto the same source). Only frozen arrays are remembered: read-only arrays that
    own their memory cannot change, so the values stay those of the arrays passed."""

    _last: _ImageStats | None = None

    def __init__(self, image: np.ndarray, region: np.ndarray) -> None:
        self.image, self.region = image, region
        self.box = region_box(region)
        self._values: dict[str, Any] = {}

    @classmethod
    def of(cls, image: np.ndarray, region: np.ndarray) -> _ImageStats:
        hit = cls._last
        if hit is not None and hit.image is image and hit.region is region:
            return hit
        stats = cls(image, region)
        frozen = all(not a.flags.writeable and a.base is None for a in (image, region))
        cls._last = stats if frozen else None
        return stats

    def _get(self, key: str, fn: Any) -> Any:
        if key not in self._values:
            self._values[key] = fn()
        return self._values[key]

    def centroid(self) -> list[float]:
        return list(self._get("centroid", lambda: region_centroid(self.region, self.box)))

    def content_box(self) -> tuple[int, int, int, int]:
        return self._get("content_box", lambda: content_box(self.image))

    def grey(self) -> bool:
        return self._get("grey", lambda: is_grey(self.image, self.box))

    def face_moments(self) -> Moments:
        x0, y0, x1, y1 = self.box
        return self._get("face", lambda: rgb_moments(self.image[y0:y1:3, x0:x1:3], self.region[y0:y1:3, x0:x1:3]))

    def chroma_spread(self) -> float:
        return self._get("spread", lambda: chroma_spread(self.image))


def _draw(rng: np.random.Generator, cfg: NatOccConfig, box: tuple[int, int, int, int]) -> dict[str, Any]:
    """Every random value of one composite, in a fixed order, each on its grid (:data:`GRID_BITS`)."""
    x0, y0, x1, y1 = box
    g = GRID_BITS
    d: dict[str, Any] = {}
    d["area_fraction"] = grid_uniform(rng, *cfg.area, g["area_fraction"])
    d["centre"] = [grid_uniform(rng, x0, x1, g["centre_px"]), grid_uniform(rng, y0, y1, g["centre_px"])]
    d["jitter"] = {
        "applied": bool(rng.random() < cfg.jitter_p),
        "scale": grid_uniform(rng, *cfg.jitter_scale, g["scale"]),
        "rotation_deg": grid_uniform(rng, -cfg.jitter_rotation, cfg.jitter_rotation, g["angle_deg"]),
        "shear_deg": grid_uniform(rng, -cfg.jitter_shear, cfg.jitter_shear, g["angle_deg"]),
    }
    d["colour_transfer"] = {
        "applied": bool(rng.random() < cfg.transfer_p),
        "t_y": grid_uniform(rng, *cfg.transfer_y, g["colour"]),
        "t_c": grid_uniform(rng, *cfg.transfer_c, g["colour"]),
    }
    d["brightness_contrast"] = {
        "applied": bool(rng.random() < cfg.bc_p),
        "brightness": grid_uniform(rng, -cfg.brightness, cfg.brightness, g["colour"]),
        "contrast": grid_uniform(rng, -cfg.contrast, cfg.contrast, g["colour"]),
    }
    d["blur"] = {
        "applied": bool(rng.random() < cfg.blur_p),
        "sigma": grid_uniform(rng, *cfg.blur_sigma, g["sigma_px"]),
    }
    d["jpeg"] = {
        "applied": bool(rng.random() < cfg.jpeg_p),
        "quality": int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)),
    }
    return d


_PREMULTIPLIED: dict[int, tuple[weakref.ref, np.ndarray, list[float | None]]] = {}


def prepared(rgba: np.ndarray, with_axis: bool = True) -> tuple[np.ndarray, float | None]:
    """The premultiplied cut-out (read-only uint8 RGBA) and its :func:`axis_angle` (None unless ``with_axis``: only
    cut-outs that point at the face need it), remembered per occluder array while that array lives (a library's
    cut-outs are drawn many times)."""
    hit = _PREMULTIPLIED.get(id(rgba))
    if hit is None or hit[0]() is not rgba:
        out = xi.premultiply(rgba)
        out.setflags(write=False)
        if len(_PREMULTIPLIED) >= 1024:
            _PREMULTIPLIED.clear()
        hit = (weakref.ref(rgba), out, [None])
        _PREMULTIPLIED[id(rgba)] = hit
    if with_axis and hit[2][0] is None:
        hit[2][0] = axis_angle(rgba[..., 3])
    return hit[1], hit[2][0]


def binomial(n: int) -> np.ndarray:
    """Row n − 1 of Pascal's triangle (the n-tap binomial kernel, OpenCV's Gaussian for n ≤ 7 and σ = 0 up to the
    weights' rounding)."""
    row = [1]
    for _ in range(n - 1):
        row = [a + b for a, b in zip([0, *row], [*row, 0], strict=True)]
    return np.array(row, np.int64)


def _straight_colour(warped: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Straight colour, alpha and the solid mask (α ≥ 128) of a warped premultiplied cut-out. Solid pixels are
    un-premultiplied; the others are extended by a normalised 3×3 box (255·Σ pm / Σ α, rounded), so the blurred alpha
    below never meets undefined colour (no dark or bright rims); 0 where Σ α = 0.

    Solid pixels: one table look-up each (:data:`.exact_image.UNPREMULTIPLY`, whose row α = 0 is all zeros, so
    non-solid pixels start at 0), needed only where 0 < α < 255. Rim pixels (not solid, Σ α > 0 ⟺ some α > 0 in
    the 3×3 window: a 3×3 dilation of α > 0): their 3×3 sums (:func:`.exact_image.box3_sums_at`) give
    ⌊255·Σ pm / Σ α + ½⌋ (:func:`.exact_image.round_div`, exact), clipped to 255.
    """
    pm, alpha = warped[..., :3], warped[..., 3]
    solid = alpha >= OPAQUE
    # α = 255: 255·pm/255 = pm; α = 0: pm = 0 (bilinear weights are shared by all channels and pm ≤ α in every tap,
    # so pm ≤ α after the warp): only 0 < α < 255 needs the table (rows α < 128 → 0, the non-solid start)
    colour = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)  # drops the alpha bytes: a pure copy, exact everywhere
    part = np.flatnonzero((alpha - np.uint8(1)) < np.uint8(254))  # 1 ≤ α ≤ 254 (uint8 wrap-around)
    if part.size:
        a = alpha.reshape(-1)[part]
        colour.reshape(-1, 3)[part] = xi.unpremultiply(pm.reshape(-1, 3)[part], a * (a >= OPAQUE))
    rim = np.flatnonzero(xi.dilate(alpha > 0, 3) > solid)
    if rim.size:
        sums = xi.box3_sums_at(warped, rim)
        sum_a = sums[3].astype(np.float64)
        flat = colour.reshape(-1, 3)
        for k in range(3):
            # exact round_div(255·Σ pm, Σ α) (numerators < 2²⁰): ⌊fl(255·Σ pm / Σ α) + ½⌋, in place
            q = (255 * sums[k]).astype(np.float64)
            q /= sum_a
            q += 0.5
            np.floor(q, out=q)
            flat[rim, k] = np.minimum(q, 255.0)
    return colour, alpha, solid


def _colour_map(
    image: np.ndarray,
    region: np.ndarray,
    box: tuple[int, int, int, int],
    colour: np.ndarray,
    solid: np.ndarray,
    d: dict[str, Any],
    grey: bool,
    stats: _ImageStats | None = None,
) -> tuple[Matrix34, dict[str, Any]]:
    """The composed colour map (grey ∘ transfer ∘ brightness/contrast) and its diagnostics (module docstring);
    ``stats``: the image's :class:`_ImageStats` (for the face box ``box`` of ``region``), when the caller has them."""
    a: Matrix34 = GREY if grey else IDENTITY
    diag: dict[str, Any] = {}
    ct, bc = d["colour_transfer"], d["brightness_contrast"]
    has_solid = bool(solid.any())
    if ct["applied"] and has_solid:
        if stats is None:
            x0, y0, x1, y1 = box
            face, spread = rgb_moments(image[y0:y1:3, x0:x1:3], region[y0:y1:3, x0:x1:3]), chroma_spread(image)
        else:
            face, spread = stats.face_moments(), stats.chroma_spread()
        f_mean, f_std = ycc_stats(face)
        o_mean, o_std = ycc_stats(rgb_moments(colour[::2, ::2], solid[::2, ::2]), a)
        k = 1.0 if grey else min(max(spread / MONOCHROME_SPREAD, 0.0), 1.0)
        a = compose_affine(transfer_matrix(o_mean, o_std, f_mean, f_std, ct["t_y"], 0.0 if grey else ct["t_c"], k), a)
        diag["colour_transfer"] = {
            "face_ycc_mean": f_mean, "face_ycc_std": f_std, "occluder_ycc_mean": o_mean, "occluder_ycc_std": o_std,
            "image_chroma_spread": spread, "chroma_gain": k,
        }  # fmt: skip
    if bc["applied"] and has_solid:
        mom = rgb_moments(colour, solid)
        mean = [v / mom.n for v in mom.s]
        m = [dot(a[r][:3], mean) + a[r][3] for r in range(3)]
        kc = 1.0 + bc["contrast"]
        beta = 255.0 * bc["brightness"]
        b = tuple(tuple(kc * (r == c) for c in range(3)) + ((1.0 - kc) * m[r] + beta,) for r in range(3))
        a = compose_affine(b, a)
    return a, diag


def _blur(colour: np.ndarray, alpha: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blur of the occluder in premultiplied alpha: (colour, alpha) after it (the four premultiplied
    channels filtered together; colour kept where the blurred α is 0). Un-premultiplying: 255·p/255 = p where the
    blurred α is 255, a table look-up where 0 < α < 255."""
    taps = xi.gaussian_taps(sigma)
    rgba = cv2.merge((colour, alpha))  # byte interleave (no arithmetic): exact everywhere
    blurred = xi.separable_filter(xi.premultiply(rgba), taps)
    alpha = np.ascontiguousarray(blurred[..., 3])
    pm = cv2.cvtColor(blurred, cv2.COLOR_RGBA2RGB)  # drops the alpha bytes: a pure copy
    out = colour.copy()
    xi.copy_where(out, pm, alpha == 255)
    part = np.flatnonzero((alpha - np.uint8(1)) < np.uint8(254))  # 1 ≤ α ≤ 254 (uint8 wrap-around)
    if part.size:
        out.reshape(-1, 3)[part] = xi.unpremultiply(pm.reshape(-1, 3)[part], alpha.reshape(-1)[part])
    return out, alpha


def _roi(
    m: list[list[float]], size: tuple[int, int], clip: tuple[int, int, int, int], pad: int = 6
) -> tuple[int, int, int, int]:
    """[x0, y0, x1, y1) of the warped (w, h) = ``size`` source's corners, grown by ``pad`` and clipped."""
    sw, sh = size
    xs = [m[0][0] * x + m[0][1] * y + m[0][2] for x, y in ((0, 0), (sw, 0), (0, sh), (sw, sh))]
    ys = [m[1][0] * x + m[1][1] * y + m[1][2] for x, y in ((0, 0), (sw, 0), (0, sh), (sw, sh))]
    return (
        int(max(clip[0], math.floor(min(xs)) - pad)),
        int(max(clip[1], math.floor(min(ys)) - pad)),
        int(min(clip[2], math.ceil(max(xs)) + pad)),
        int(min(clip[3], math.ceil(max(ys)) + pad)),
    )


def _jpeg(out: np.ndarray, res: np.ndarray, m_roi: np.ndarray, roi: tuple[int, int, int, int], q: int) -> np.ndarray:
    """The ROI's pixels after JPEG's lossy steps on the 16-aligned tile around it (the source JPEG's 4:2:0 MCU grid,
    so its 8×8 luma blocks and its 16×16 chroma blocks both fall on the image's grid); pixels outside the mask enter
    the tile as they are in the image. Only the blocks the mask's pixels depend on are computed
    (:func:`.exact_jpeg.jpeg_roundtrip` with ``where``); the ROI's pixels outside the mask are returned as the tile
    holds them."""
    H, W = out.shape[:2]
    rx0, ry0, rx1, ry1 = roi
    jx0, jy0 = rx0 - rx0 % 16, ry0 - ry0 % 16
    jx1, jy1 = min(W, rx1 + (-rx1) % 16), min(H, ry1 + (-ry1) % 16)
    tile = out[jy0:jy1, jx0:jx1].copy()
    inner = (slice(ry0 - jy0, ry1 - jy0), slice(rx0 - jx0, rx1 - jx0))
    xi.copy_where(tile[inner], res, m_roi)
    where = np.zeros(tile.shape[:2], bool)
    where[inner] = m_roi
    return jpeg_roundtrip(tile, q, where)[inner]


def composite(
    image: np.ndarray,
    region: np.ndarray,
    occluder: np.ndarray,
    rng: np.random.Generator,
    *,
    points_at_face: bool = False,
    config: NatOccConfig | None = None,
) -> Composite:
    """Paste ``occluder`` (straight-alpha RGBA) over ``image`` inside the face region ``region``.

    Args:
        image: (H, W, 3) uint8 RGB source image (not modified).
        region: (H, W) bool face region P (non-empty).
        occluder: (h, w, 4) uint8 cut-out.
        rng: the per-sample generator; the only source of randomness.
        points_at_face: rotate the object's long axis toward the face centre (hands, elongated objects).
        config: ranges and probabilities (default :class:`NatOccConfig`).

    Returns:
        :class:`Composite` with the new image, the mask (α > 0) and every drawn parameter.
    """
    cfg = config or NatOccConfig()
    H, W = image.shape[:2]
    if region.shape != (H, W):
        raise ValueError(f"face region {region.shape} does not match image {image.shape[:2]}")
    stats = _ImageStats.of(image, region)  # per source image and region: shared by the composites on it
    box = stats.box
    face_centre = stats.centroid()
    d = _draw(rng, cfg, box)
    oh, ow = occluder.shape[:2]
    face_area = (box[2] - box[0]) * (box[3] - box[1])
    s0 = quantise(math.sqrt(d["area_fraction"] * face_area / (oh * ow)), GRID_BITS["scale"])
    src, occ_axis = prepared(occluder, with_axis=points_at_face)
    axis = occ_axis if points_at_face and occ_axis is not None else 0.0
    base_rot = pointing_rotation(axis, d["centre"], face_centre) if points_at_face else 0.0
    jit = d["jitter"]
    scale = quantise(s0 * jit["scale"], GRID_BITS["scale"]) if jit["applied"] else s0
    rot = quantise(base_rot + jit["rotation_deg"], GRID_BITS["angle_deg"]) if jit["applied"] else base_rot
    shear = jit["shear_deg"] if jit["applied"] else 0.0
    params: dict[str, Any] = {
        "face_box": list(box),
        "face_centre": face_centre,
        "occluder_size": [ow, oh],
        **d,
        "scale": scale,
        "points_at_face": bool(points_at_face),
        "axis_deg": axis,
        "pointing_rotation_deg": base_rot,
        "rotation_deg": rot,
        "shear_deg": shear,
    }

    # premultiplied source, area-downscaled first when shrinking (no aliasing); the residual map is bilinear
    pre = 1.0
    if scale < 0.8:
        nw, nh = max(2, round(ow * scale)), max(2, round(oh * scale))
        src = xi.area_resize(src, (nw, nh))
        pre = nw / ow
    origin = ((src.shape[1] - 1) / 2.0, (src.shape[0] - 1) / 2.0)
    m = affine_matrix((d["centre"][0], d["centre"][1]), origin, scale / pre, rot, shear)
    cbox = stats.content_box()
    params["content_box"] = list(cbox)
    rx0, ry0, rx1, ry1 = _roi(m, (src.shape[1], src.shape[0]), cbox)
    out = image.copy()
    mask = np.zeros((H, W), bool)
    if rx1 <= rx0 or ry1 <= ry0:
        params.update(roi=[0, 0, 0, 0], grey_source=False, covered_pixels=0)
        return Composite(out, mask, params)
    params["roi"] = [rx0, ry0, rx1, ry1]
    warped = xi.warp_bilinear(src, inverse_map(m, (rx0, ry0)), (rx1 - rx0, ry1 - ry0))
    colour, alpha, solid = _straight_colour(warped)

    grey = stats.grey()
    params["grey_source"] = grey
    cmap, diagnostics = _colour_map(image, region, box, colour, solid, d, grey, stats)
    fixed = fixed_point(cmap)
    params["colour_matrix"] = [[math.ldexp(int(v), -COLOUR_BITS) for v in row] for row in fixed]
    if not np.array_equal(fixed, fixed_point(IDENTITY)):
        colour = xi.apply_colour_matrix(colour, fixed, COLOUR_BITS)
    if d["blur"]["applied"]:
        colour, alpha = _blur(colour, alpha, d["blur"]["sigma"])

    # NatOcc blending: α = G5(erode3(alpha)) on the 0–255 scale: the mask is exactly where α > 0
    a8 = xi.separable_filter(xi.erode(alpha, cfg.erode), binomial(cfg.gauss))
    m_roi = a8 > 0
    res = xi.blend(colour, image[ry0:ry1, rx0:rx1], a8)
    band = xi.dilate(m_roi & (a8 < 255), 3) & m_roi
    if band.any():
        # the band's binomial blur, computed for the whole ROI in uint16 (cheaper than gathering its neighbourhoods)
        xi.copy_where(res, xi.separable_filter(res, binomial(cfg.edge_blur)), band)
    if d["jpeg"]["applied"] and m_roi.any():
        res = _jpeg(out, res, m_roi, (rx0, ry0, rx1, ry1), d["jpeg"]["quality"])
    xi.copy_where(out[ry0:ry1, rx0:rx1], res, m_roi)
    mask[ry0:ry1, rx0:rx1] = m_roi
    params["covered_pixels"] = int(np.count_nonzero(m_roi))
    if diagnostics:
        params["diagnostics"] = diagnostics
    return Composite(out, mask, params)


def config_dict(config: NatOccConfig | None = None) -> dict[str, Any]:
    """The configuration as a JSON-serialisable dict (recorded in the build's provenance), with the grids."""
    return {**asdict(config or NatOccConfig()), "grid_bits": dict(GRID_BITS), "colour_bits": COLOUR_BITS}
