"""Pixel steps of NatOcc compositing (steps 4–8 of :mod:`builders.compositing`): the premultiplied cut-out, straight
colour after the warp, the occluder's blur, the blend with its soft edge, the JPEG step; integer operations of
:mod:`..exact_image`, :mod:`..exact_filter` and :mod:`..exact_jpeg` only."""

from __future__ import annotations

import weakref

import cv2
import numpy as np

from .. import exact_filter as xf
from .. import exact_image as xi
from .. import kernels
from ..exact_jpeg import jpeg_roundtrip
from ..occluders.library import OPAQUE
from .placement import axis_angle

_PREMULTIPLIED: dict[int, tuple[weakref.ref, np.ndarray, tuple[int, int, int, int], list[float | None]]] = {}


def nonzero_box(plane: np.ndarray) -> tuple[int, int, int, int] | None:
    """[x0, y0, x1, y1) bounding box of the nonzero values of an (h, w) uint8 plane, None when there are none.
    ``cv2.boundingRect`` of a uint8 plane: the extreme coordinates of its nonzero values, integer logic with no
    rounding (the same on every machine and release)."""
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(plane))
    return None if w == 0 or h == 0 else (x, y, x + w, y + h)


def alpha_box(rgba: np.ndarray) -> tuple[int, int, int, int]:
    """[x0, y0, x1, y1) bounding box of the pixels with α > 0 of an (h, w, 4) uint8 image (the whole image when there
    are none): outside it a premultiplied image is all 0."""
    return nonzero_box(rgba[..., 3]) or (0, 0, rgba.shape[1], rgba.shape[0])


def prepared(rgba: np.ndarray, with_axis: bool = True) -> tuple[np.ndarray, tuple[int, int, int, int], float | None]:
    """The premultiplied cut-out (read-only uint8 RGBA), its :func:`alpha_box` and its :func:`axis_angle` (None unless
    ``with_axis``: only cut-outs that point at the face need it), remembered per occluder array while that array
    lives (a library's cut-outs are drawn many times)."""
    hit = _PREMULTIPLIED.get(id(rgba))
    if hit is None or hit[0]() is not rgba:
        out = xi.premultiply(rgba)
        out.setflags(write=False)
        if len(_PREMULTIPLIED) >= 1024:
            _PREMULTIPLIED.clear()
        hit = (weakref.ref(rgba), out, alpha_box(out), [None])
        _PREMULTIPLIED[id(rgba)] = hit
    if with_axis and hit[3][0] is None:
        hit[3][0] = axis_angle(rgba[..., 3])
    return hit[1], hit[2], hit[3][0]


def binomial(n: int) -> np.ndarray:
    """Row n − 1 of Pascal's triangle (the n-tap binomial kernel, OpenCV's Gaussian for n ≤ 7 and σ = 0 up to the
    weights' rounding)."""
    row = [1]
    for _ in range(n - 1):
        row = [a + b for a, b in zip([0, *row], [*row, 0], strict=True)]
    return np.array(row, np.int64)


def straight_colour(warped: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Straight colour, alpha and the solid mask (α ≥ 128) of a warped premultiplied cut-out. Solid pixels are
    un-premultiplied; the others are extended by a normalised 3×3 box (255·Σ pm / Σ α, rounded), so the blurred alpha
    below never meets undefined colour (no dark or bright rims); 0 where Σ α = 0.

    Solid pixels: one table look-up each (:data:`.exact_image.UNPREMULTIPLY`, whose row α = 0 is all zeros, so
    non-solid pixels start at 0), needed only where 0 < α < 255. Rim pixels (not solid, Σ α > 0 ⟺ some α > 0 in
    the 3×3 window: a 3×3 dilation of α > 0): their 3×3 sums (:func:`.exact_image.box3_sums_at`) give
    ⌊255·Σ pm / Σ α + ½⌋ (:func:`.exact_image.round_div`, exact), clipped to 255. With the numba backend
    (:mod:`..kernels`) the compiled kernel computes the same integers per pixel.
    """
    jit = kernels.compiled()
    if jit is None:
        return _straight_colour_numpy(warped)
    h, w = warped.shape[:2]
    colour, alpha, solid = np.empty((h, w, 3), np.uint8), np.empty((h, w), np.uint8), np.empty((h, w), bool)
    jit.straight_colour(np.ascontiguousarray(warped), xi.UNPREMULTIPLY, colour, alpha, solid)
    return colour, alpha, solid


def _straight_colour_numpy(warped: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`straight_colour` in numpy (the reference)."""
    pm, alpha = warped[..., :3], warped[..., 3]
    solid = alpha >= OPAQUE
    # α = 255: 255·pm/255 = pm; α = 0: pm = 0 (bilinear weights are shared by all channels and pm ≤ α in every tap,
    # so pm ≤ α after the warp): only 0 < α < 255 needs the table (rows α < 128 → 0, the non-solid start)
    colour = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)  # drops the alpha bytes: a pure copy, exact everywhere
    part = np.flatnonzero((alpha - np.uint8(1)) < np.uint8(254))  # 1 ≤ α ≤ 254 (uint8 wrap-around)
    if part.size:
        a = alpha.reshape(-1)[part]
        colour.reshape(-1, 3)[part] = xi.unpremultiply(pm.reshape(-1, 3)[part], a * (a >= OPAQUE))
    rim = np.flatnonzero(xf.dilate(alpha > 0, 3) > solid)
    if rim.size:
        sums = xf.box3_sums_at(warped, rim)
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


def blur(colour: np.ndarray, alpha: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blur of the occluder in premultiplied alpha: (colour, alpha) after it (the four premultiplied
    channels filtered together; colour kept where the blurred α is 0). Un-premultiplying: 255·p/255 = p where the
    blurred α is 255, a table look-up where 0 < α < 255. With the numba backend (:mod:`..kernels`) one compiled
    kernel does all three steps (the same integers)."""
    taps = xf.gaussian_taps(sigma)
    jit = kernels.compiled()
    if jit is not None:
        out, a = np.empty_like(colour), np.empty_like(alpha)
        plan = xf.filter_plan(taps, *alpha.shape)
        c, a0 = np.ascontiguousarray(colour), np.ascontiguousarray(alpha)
        jit.blur_premultiplied(c, a0, *plan, xi.PREMULTIPLY, xi.UNPREMULTIPLY, out, a)
        return out, a
    rgba = cv2.merge((colour, alpha))  # byte interleave (no arithmetic): exact everywhere
    blurred = xf.separable_filter(xi.premultiply(rgba), taps)
    alpha = np.ascontiguousarray(blurred[..., 3])
    pm = cv2.cvtColor(blurred, cv2.COLOR_RGBA2RGB)  # drops the alpha bytes: a pure copy
    out = colour.copy()
    xi.copy_where(out, pm, alpha == 255)
    part = np.flatnonzero((alpha - np.uint8(1)) < np.uint8(254))  # 1 ≤ α ≤ 254 (uint8 wrap-around)
    if part.size:
        out.reshape(-1, 3)[part] = xi.unpremultiply(pm.reshape(-1, 3)[part], alpha.reshape(-1)[part])
    return out, alpha


def soft_blend(
    colour: np.ndarray, alpha: np.ndarray, back: np.ndarray, erode: int, gauss: int, edge_blur: int
) -> tuple[np.ndarray, np.ndarray]:
    """NatOcc blending (step 7): α = G_gauss(erode_erode(alpha)) on the 0–255 scale, ``back`` blended with ``colour``
    by α, the edge band (0 < α < 255, grown by 1 px, inside the mask) replaced by its ``edge_blur`` binomial blur.
    Returns the blended ROI and the mask α > 0."""
    a8 = xf.separable_filter(xf.erode(alpha, erode), binomial(gauss))
    m_roi = a8 > 0
    res = xi.blend(colour, back, a8)
    band = xf.dilate(m_roi & (a8 < 255), 3) & m_roi
    if band.any():
        # the band's binomial blur, computed for the whole ROI in uint16 (cheaper than gathering its neighbourhoods)
        xi.copy_where(res, xf.separable_filter(res, binomial(edge_blur)), band)
    return res, m_roi


def jpeg_step(
    out: np.ndarray,
    res: np.ndarray,
    m_roi: np.ndarray,
    roi: tuple[int, int, int, int],
    q: int,
    part: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """The pixels of the box ``part`` (default: the ROI; ``res`` and ``m_roi`` cover it) after JPEG's lossy steps on
    the 16-aligned tile around the ROI (the source JPEG's 4:2:0 MCU grid, so its 8×8 luma blocks and its 16×16 chroma
    blocks both fall on the image's grid); pixels outside the mask enter the tile as they are in the image. Only the
    blocks the mask's pixels depend on are computed (:func:`.exact_jpeg.jpeg_roundtrip` with ``where``); the box's
    pixels outside the mask are returned as the tile holds them.

    With ``part`` inside the ROI (the mask inside ``part``), only the tile's MCUs within one MCU of ``part`` are
    used: the mask's values depend on its own MCUs and, through the chroma upsampling (one chroma sample beyond an
    MCU), their neighbours, and on nothing else; where the cut follows the ROI tile's edge (its edge replication
    included) nothing changes, elsewhere it falls on the MCU grid. The same pixels as with the whole tile."""
    H, W = out.shape[:2]
    rx0, ry0, rx1, ry1 = part or roi
    jx0, jy0 = max(rx0 - rx0 % 16 - 16, roi[0] - roi[0] % 16), max(ry0 - ry0 % 16 - 16, roi[1] - roi[1] % 16)
    jx1 = min(W, rx1 + (-rx1) % 16 + 16, roi[2] + (-roi[2]) % 16)
    jy1 = min(H, ry1 + (-ry1) % 16 + 16, roi[3] + (-roi[3]) % 16)
    tile = out[jy0:jy1, jx0:jx1].copy()
    inner = (slice(ry0 - jy0, ry1 - jy0), slice(rx0 - jx0, rx1 - jx0))
    xi.copy_where(tile[inner], res, m_roi)
    where = np.zeros(tile.shape[:2], bool)
    where[inner] = m_roi
    return jpeg_roundtrip(tile, q, where)[inner]
