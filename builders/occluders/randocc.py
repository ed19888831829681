"""RandOcc: random closed Bézier blobs filled with a texture (NatOcc's synthetic-occluder variant).

A blob has ``n ~ U{3, …, 15}`` control points around the centre, point ``k`` at angle
``φ + 2π(k + U(−0.35, 0.35))/n`` (random phase ``φ``) and radius ``U(0.35, 1)``; each
pair of consecutive points is joined by a cubic Bézier segment whose handles follow the Catmull-Rom tangent
``(p[i+1] − p[i−1]) · k / 2`` with smoothness ``k ~ U(0.5, 1)``, giving a smooth closed curve through every point.
The shape is filled (anti-aliased) with one texture:

* ``brick``, ``grass``, ``gravel``: a random crop of the CC0 texture photographs bundled with scikit-image, tinted with
  a random colour;
* ``noise``: smooth multi-octave value noise in two random colours;
* ``stripes``: sinusoidal stripes of random period, angle and two random colours.

With probability 0.3 the blob is semi-transparent: alpha × ``U(0.4, 0.7)`` (recorded as ``opacity``).
Everything is drawn from the generator passed in.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import cv2
import numpy as np

TEXTURES = ("brick", "grass", "gravel", "noise", "stripes")
POINTS = (3, 15)
TRANSPARENT_P = 0.3
OPACITY = (0.4, 0.7)
SIZE = 192
SAMPLES_PER_SEGMENT = 24
#: control point k sits at angle phase + 2π(k + U(−j, j))/n: evenly spread, never collapsing into a sliver
ANGLE_JITTER = 0.35


@cache
def _skimage_texture(name: str) -> np.ndarray:
    from skimage import data

    tex = getattr(data, name)()
    tex.setflags(write=False)
    return tex


def bezier_outline(points: np.ndarray, smoothness: float, samples: int = SAMPLES_PER_SEGMENT) -> np.ndarray:
    """(n·samples, 2) points of the closed curve through ``points`` (n, 2), cubic segments with Catmull-Rom handles.

    Segment i: B(t) = (1−t)³·P_i + 3(1−t)²t·(P_i + T_i) + 3(1−t)t²·(P_{i+1} − T_{i+1}) + t³·P_{i+1},
    T_i = smoothness · (P_{i+1} − P_{i−1}) / 6 (the Catmull-Rom handle length for smoothness 1 … 0.5 × it).
    """
    p0 = points
    p3 = np.roll(points, -1, axis=0)
    tangent = smoothness * (np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)) / 6.0
    p1 = p0 + tangent
    p2 = p3 - np.roll(tangent, -1, axis=0)
    t = np.linspace(0.0, 1.0, samples, endpoint=False)[None, :, None]
    curve = (
        (1 - t) ** 3 * p0[:, None] + 3 * (1 - t) ** 2 * t * p1[:, None] + 3 * (1 - t) * t**2 * p2[:, None]
        + t**3 * p3[:, None]
    )
    return curve.reshape(-1, 2)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def texture(kind: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """(size, size, 3) uint8 RGB texture of ``kind`` and its drawn parameters.

    Every kind first makes a grey pattern ``g`` in [0, 1]; the texture is ``(1 − g)·c₁ + g·c₂`` (a 256-entry table).
    """
    c1, c2 = _colour(rng), _colour(rng)
    params: dict[str, Any] = {"kind": kind, "colours": [c1.astype(int).tolist(), c2.astype(int).tolist()]}
    if kind in ("brick", "grass", "gravel"):
        tex = _skimage_texture(kind)
        crop = int(rng.integers(size // 2, tex.shape[0] + 1))
        y, x = (int(v) for v in rng.integers(0, tex.shape[0] - crop + 1, size=2))
        grey = cv2.resize(tex[y : y + crop, x : x + crop], (size, size), interpolation=cv2.INTER_AREA)
        params.update(crop=[x, y, crop])
    elif kind == "noise":
        acc = np.zeros((size, size), np.float32)
        for o in range(4):
            cells = 2 ** (o + 2)
            grid = rng.random((cells, cells)).astype(np.float32)
            acc += cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC) * np.float32(0.5**o)
        grey = cv2.normalize(acc, None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U)
    elif kind == "stripes":
        period = float(rng.uniform(6, 40))
        angle = float(rng.uniform(0, np.pi))
        phase = 2 * np.pi * np.arange(size, dtype=np.float32) / period
        grey = (127.5 + 127.5 * np.sin(np.add.outer(phase * np.sin(angle), phase * np.cos(angle)))).astype(np.uint8)
        params.update(period=period, angle_rad=angle)
    else:
        raise ValueError(f"unknown texture {kind!r}")
    v = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]
    lut = np.clip((1 - v) * c1 + v * c2 + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(cv2.merge([grey, grey, grey]), lut.reshape(256, 1, 3)), params


def random_blob(rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, dict[str, Any]]:
    """A textured Bézier blob: (size, size, 4) uint8 RGBA (straight alpha) and every drawn parameter.

    Draw order (fixed): n points, phase, angle jitters, radii, smoothness, texture kind, texture parameters,
    transparency coin, opacity.
    """
    n = int(rng.integers(POINTS[0], POINTS[1] + 1))
    phase = float(rng.uniform(0.0, 2 * np.pi))
    angles = phase + 2 * np.pi * (np.arange(n) + rng.uniform(-ANGLE_JITTER, ANGLE_JITTER, size=n)) / n
    radii = rng.uniform(0.35, 1.0, size=n)
    smoothness = float(rng.uniform(0.5, 1.0))
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    rgb, tex_params = texture(kind, size, rng)
    transparent = bool(rng.random() < TRANSPARENT_P)
    opacity = float(rng.uniform(*OPACITY))
    if not transparent:
        opacity = 1.0
    ctrl = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
    curve = bezier_outline(ctrl, smoothness)
    # fit into the canvas with a 4 % margin
    lo, hi = curve.min(axis=0), curve.max(axis=0)
    scale = 0.92 * size / float(max(hi - lo))
    xy = (curve - (lo + hi) / 2) * scale + size / 2
    shift = 4
    alpha = np.zeros((size, size), np.uint8)
    cv2.fillPoly(alpha, [np.rint(xy * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
    if transparent:
        alpha = np.clip(alpha.astype(np.float32) * opacity + 0.5, 0, 255).astype(np.uint8)
    params = {
        "n_points": n,
        "control_points": ((ctrl - (lo + hi) / 2) * scale / size + 0.5).round(5).tolist(),
        "smoothness": smoothness,
        "texture": tex_params,
        "transparent": transparent,
        "opacity": opacity,
    }
    return cv2.merge([rgb[..., 0], rgb[..., 1], rgb[..., 2], alpha]), params
