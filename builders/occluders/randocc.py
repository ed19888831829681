"""RandOcc: random closed Bézier blobs filled with a texture (NatOcc's synthetic-occluder variant).

A blob has ``n ~ U{3, …, 15}`` control points around the centre, point ``k`` at angle
``φ + 360°(k + U(−0.35, 0.35))/n`` (random phase ``φ``) and radius ``U(0.35, 1)``; each
pair of consecutive points is joined by a cubic Bézier segment whose handles follow the Catmull-Rom tangent
``(p[i+1] − p[i−1]) · k / 6`` with smoothness ``k ~ U(0.5, 1)``, giving a smooth closed curve through every point.
The shape is filled (anti-aliased: 4×4 samples per pixel, even-odd rule) with one texture:

* ``brick``, ``grass``, ``gravel``: a random crop of the CC0 texture photographs bundled with scikit-image (exact area
  resampling), tinted with a random colour;
* ``noise``: smooth multi-octave value noise in two random colours (integer bilinear upsampling of 4 octaves);
* ``stripes``: sinusoidal stripes of random period, angle and two random colours.

With probability 0.3 the blob is semi-transparent: alpha × ``U(0.4, 0.7)`` (recorded as ``opacity``).
Everything is drawn from the generator passed in, every continuous value on a dyadic grid
(:func:`~aflw_occ.builders.grid.grid_uniform`), and every pixel is computed in integer arithmetic or from IEEE
basic operations and :mod:`aflw_occ.exactmath`: the same bits on every machine.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import cv2
import numpy as np

from aflw_occ import exactmath

from .. import exact_image as xi
from .. import kernels
from ..grid import grid_uniform

TEXTURES = ("brick", "grass", "gravel", "noise", "stripes")
POINTS = (3, 15)
TRANSPARENT_P = 0.3
OPACITY = (0.4, 0.7)
SIZE = 192
SAMPLES_PER_SEGMENT = 24
#: control point k sits at angle phase + 360°(k + U(−j, j))/n: evenly spread, never collapsing into a sliver
ANGLE_JITTER = 0.35
#: anti-aliasing: SUPER × SUPER samples per pixel; vertices on a 1/16 px grid
SUPER = 4
SUBPIXEL = 16
#: grid bits of the drawn values (see natocc.GRID_BITS)
GRID = {"angle_deg": 6, "unit": 12, "period_px": 6, "opacity": 8}


@cache
def _skimage_texture(name: str) -> np.ndarray:
    """scikit-image's bundled texture ``name`` (``skimage.data.<name>()``: an 8-bit grey PNG), read-only.

    Read from the package's ``data/<name>.png`` with OpenCV's PNG decoder (lossless: the same pixels as
    ``skimage.data``, without importing ``skimage.io``, which costs a worker ~0.3 s); through ``skimage.data`` when
    that file is missing or not 2-D uint8."""
    try:
        raw = (resources.files("skimage.data") / f"{name}.png").read_bytes()
        tex = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    except (OSError, ModuleNotFoundError, cv2.error):
        tex = None
    if tex is None or tex.ndim != 2 or tex.dtype != np.uint8:
        from skimage import data

        tex = getattr(data, name)()
    tex.setflags(write=False)
    return tex


def bezier_outline(points: np.ndarray, smoothness: float, samples: int = SAMPLES_PER_SEGMENT) -> np.ndarray:
    """(n·samples, 2) points of the closed curve through ``points`` (n, 2), cubic segments with Catmull-Rom handles.

    Segment i: B(t) = (1−t)³·P_i + 3(1−t)²t·(P_i + T_i) + 3(1−t)t²·(P_{i+1} − T_{i+1}) + t³·P_{i+1},
    T_i = smoothness · (P_{i+1} − P_{i−1}) / 6 (the Catmull-Rom handle length for smoothness 1 … 0.5 × it).
    Element-wise float64 products and sums in a fixed order (no ``**``, which calls the C library's pow).
    """
    p0 = points
    p3 = np.roll(points, -1, axis=0)
    tangent = smoothness * (np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)) / 6.0
    p1 = p0 + tangent
    p2 = p3 - np.roll(tangent, -1, axis=0)
    t = (np.arange(samples, dtype=np.float64) / samples)[None, :, None]
    u = 1.0 - t
    curve = (
        (u * u * u) * p0[:, None] + (3.0 * u * u * t) * p1[:, None] + (3.0 * u * t * t) * p2[:, None]
        + (t * t * t) * p3[:, None]
    )  # fmt: skip
    return curve.reshape(-1, 2)


def fill_polygon(xy16: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased fill of a closed polygon (even-odd rule): (size, size) uint8 alpha = 255·(samples inside)/16.

    ``xy16`` (n, 2) int vertices in 1/16 px (pixel centres at integers). Sample rows and columns sit at
    4m − 6 (1/16 px), i.e. pixel i's samples at i − 3/8, i − 1/8, i + 1/8, i + 3/8. An edge (x₀, y₀) → (x₁, y₁) crosses
    sample row Y when min(y₀, y₁) ≤ Y < max(y₀, y₁), at X = x₀ + (Y − y₀)(x₁ − x₀)/(y₁ − y₀); the samples right of
    it, columns m ≥ c = ⌊(N + 6·d)/(4d)⌋ + 1 with N = x₀d + (Y − y₀)(x₁ − x₀) and d = y₁ − y₀ > 0 (edges oriented
    upward), toggle parity (c clipped to [0, 4·size]). Everything is integer.

    Evaluation (no per-sample array): with a row's crossings sorted, c₁ ≤ c₂ ≤ … ≤ c_k, sample m is inside iff
    #{cᵢ ≤ m} is odd, i.e. inside(m) = Σᵢ (−1)^(i+1)·[cᵢ ≤ m] (an alternating sum of #{cᵢ ≤ m} ones; ties cancel in
    either order). Pixel column p holds samples 4p … 4p + 3, and #{m ∈ [4p, 4p + 4) : m ≥ c} = H_c(p) =
    (4 − r)·[p ≥ q] + r·[p ≥ q + 1] with c = 4q + r, 0 ≤ r < 4. Hence
    cover(pixel row, p) = Σ over its 4 sample rows Σᵢ (−1)^(i+1)·H_cᵢ(p): a cumulative sum over p of the signed
    steps ±(4 − r) at q and ±r at q + 1 (accumulated with ``np.bincount``; exact small integers, |cover| ≤ 16).
    """
    n_samples = SUPER * size
    p = np.asarray(xy16, np.int64)
    q = np.roll(p, -1, axis=0)
    up = p[:, 1] <= q[:, 1]
    a = np.where(up[:, None], p, q)  # lower end (smaller y)
    b = np.where(up[:, None], q, p)
    keep = a[:, 1] < b[:, 1]
    a, b = a[keep], b[keep]
    jit = kernels.compiled()
    if jit is not None:  # the compiled kernel (:mod:`..kernels`): the same crossings and sums, row by row
        out = np.empty((size, size), np.uint8)
        jit.fill_polygon(np.ascontiguousarray(a), np.ascontiguousarray(b), size, out)
        return out
    # sample rows l with a_y ≤ 4l − 6 < b_y
    first = -((-(a[:, 1] + 6)) // 4)  # ⌈(a_y + 6)/4⌉
    last = -((-(b[:, 1] + 6)) // 4)  # first row not covered
    first, last = np.clip(first, 0, n_samples), np.clip(last, 0, n_samples)
    counts = np.maximum(last - first, 0)
    edge = np.repeat(np.arange(len(a)), counts)
    rows = np.repeat(first, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    ax, ay, bx, by = a[edge, 0], a[edge, 1], b[edge, 0], b[edge, 1]
    d = by - ay
    num = ax * d + (4 * rows - 6 - ay) * (bx - ax)
    col = np.clip((num + 6 * d) // (4 * d) + 1, 0, n_samples)
    # crossings sorted by (row, column); rank within the row gives the sign (−1)^(i+1)
    key = np.sort(rows * (n_samples + 1) + col)
    rows, col = key // (n_samples + 1), key % (n_samples + 1)
    rank = np.arange(len(key)) - np.searchsorted(rows, rows, side="left")
    sign = 1 - 2 * (rank & 1)
    width = size + 2  # q ≤ size, q + 1 ≤ size + 1
    cell = (rows >> 2) * width + (col >> 2)
    r = col & 3
    steps = np.bincount(
        np.concatenate([cell, cell + 1]), np.concatenate([sign * (SUPER - r), sign * r]), minlength=size * width
    )
    cover = np.cumsum(steps.astype(np.int16).reshape(size, width), axis=1, dtype=np.int16)[:, :size]
    cover *= 255  # 0 ≤ cover ≤ 16: 255·16 + 8 < 2¹⁵, and ⌊x/16⌋ = x >> 4 for x ≥ 0
    cover += (SUPER * SUPER) // 2
    cover >>= 4
    return cover.astype(np.uint8)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.int32)


def _upsample_linear(grid: np.ndarray, size: int) -> np.ndarray:
    """(size, size) int64 bilinear upsampling of a (c, c) integer grid (pixel-centre aligned, edges clamped; 8-bit
    weights): 2¹⁶ × the interpolated value."""
    c = grid.shape[0]
    j = np.arange(size, dtype=np.int64)
    num = (2 * j + 1) * c - size  # source position × 2·size
    i0 = np.clip(num // (2 * size), 0, c - 1)
    frac = np.where(num < 0, 0, ((num - i0 * 2 * size) * 256) // (2 * size))
    frac = np.where(i0 >= c - 1, 0, frac)
    i1 = np.minimum(i0 + 1, c - 1)
    g = grid.astype(np.int64)
    rows = g[i0] * (256 - frac)[:, None] + g[i1] * frac[:, None]
    return rows[:, i0] * (256 - frac)[None, :] + rows[:, i1] * frac[None, :]


def texture(kind: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """(size, size, 3) uint8 RGB texture of ``kind`` and its drawn parameters.

    Every kind first makes a grey pattern ``g`` in 0–255; the texture is ``((255 − g)·c₁ + g·c₂)/255`` rounded.
    """
    grey, table, params = _texture_grey(kind, size, rng)
    return np.take(table[:, :3], grey, axis=0), params


def _texture_grey(kind: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The grey pattern of :func:`texture` (uint8 (size, size)), its colour table ((256, 4) uint8: entry g is
    ((255 − g)·c₁ + g·c₂)/255 rounded, then 0) and the drawn parameters."""
    c1, c2 = _colour(rng), _colour(rng)
    params: dict[str, Any] = {"kind": kind, "colours": [c1.tolist(), c2.tolist()]}
    if kind in ("brick", "grass", "gravel"):
        tex = _skimage_texture(kind)
        crop = int(rng.integers(size // 2, tex.shape[0] + 1))
        y, x = (int(v) for v in rng.integers(0, tex.shape[0] - crop + 1, size=2))
        grey = xi.area_resize(np.ascontiguousarray(tex[y : y + crop, x : x + crop])[..., None], (size, size))[..., 0]
        params.update(crop=[x, y, crop])
    elif kind == "noise":
        acc = np.zeros((size, size), np.int64)
        for o in range(4):
            cells = 2 ** (o + 2)
            acc += _upsample_linear(rng.integers(0, 4096, size=(cells, cells)), size) << (3 - o)
        lo, hi = int(acc.min()), int(acc.max())
        grey = ((acc - lo) * 255 * 2 + max(hi - lo, 1)) // (2 * max(hi - lo, 1))
        grey = grey.astype(np.uint8)
    elif kind == "stripes":
        period = grid_uniform(rng, 6, 40, GRID["period_px"])
        angle = grid_uniform(rng, 0, 180, GRID["angle_deg"])
        phase = (2.0 * exactmath.PI) * np.arange(size, dtype=np.float64) / period
        s, c = exactmath.sin_cos_deg(angle)
        wave = exactmath.sin_array(np.add.outer(phase * s, phase * c))
        grey = np.floor(127.5 + 127.5 * wave).astype(np.uint8)
        params.update(period=period, angle_deg=angle)
    else:
        raise ValueError(f"unknown texture {kind!r}")
    # one entry per grey level, looked up per pixel (the same values as evaluating per pixel)
    g = np.arange(256, dtype=np.int32)[:, None]
    table = np.zeros((256, 4), np.uint8)
    table[:, :3] = xi.div255((255 - g) * c1[None, :] + g * c2[None, :])
    return grey, table, params


def random_blob(rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, dict[str, Any]]:
    """A textured Bézier blob: (size, size, 4) uint8 RGBA (straight alpha) and every drawn parameter.

    Draw order (fixed): n points, phase, angle jitters, radii, smoothness, texture kind, texture parameters,
    transparency coin, opacity.
    """
    n = int(rng.integers(POINTS[0], POINTS[1] + 1))
    phase = grid_uniform(rng, 0, 360, GRID["angle_deg"])
    jitter = [grid_uniform(rng, -ANGLE_JITTER, ANGLE_JITTER, GRID["unit"]) for _ in range(n)]
    radii = np.array([grid_uniform(rng, 0.35, 1.0, GRID["unit"]) for _ in range(n)])
    smoothness = grid_uniform(rng, 0.5, 1.0, GRID["unit"])
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    grey, table, tex_params = _texture_grey(kind, size, rng)
    transparent = bool(rng.random() < TRANSPARENT_P)
    opacity = grid_uniform(rng, *OPACITY, GRID["opacity"])
    if not transparent:
        opacity = 1.0
    angles = (phase + 360.0 * (np.arange(n) + np.array(jitter)) / n) * (exactmath.PI / 180.0)
    ctrl = np.stack([exactmath.cos_array(angles) * radii, exactmath.sin_array(angles) * radii], axis=1)
    curve = bezier_outline(ctrl, smoothness)
    # fit into the canvas with a 4 % margin
    lo, hi = curve.min(axis=0), curve.max(axis=0)
    scale = 0.92 * size / float(max(hi - lo))
    xy = (curve - (lo + hi) / 2) * scale + (size - 1) / 2
    alpha = fill_polygon(np.rint(xy * SUBPIXEL).astype(np.int64), size)
    if transparent:
        op = round(opacity * (1 << GRID["opacity"]))
        alpha = ((alpha.astype(np.int32) * op + (1 << (GRID["opacity"] - 1))) >> GRID["opacity"]).astype(np.uint8)
    params = {
        "n_points": n,
        "control_points": ((ctrl - (lo + hi) / 2) * scale / size + 0.5).round(5).tolist(),
        "phase_deg": phase,
        "smoothness": smoothness,
        "texture": tex_params,
        "transparent": transparent,
        "opacity": opacity,
    }
    # RGBA: the 4-byte table entries looked up as one word per pixel, then the alpha bytes
    out = np.take(table.view(np.uint32).reshape(-1), grey).view(np.uint8).reshape(size, size, 4)
    out[..., 3] = alpha
    return out, params
