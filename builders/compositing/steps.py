"""The NatOcc composite, step by step (definition: :mod:`builders.compositing`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import exact_image as xi
from ..exact_filter import gaussian_radius
from ..exact_warp import warp_bilinear
from ..grid import quantise
from .blend import alpha_box, blur, jpeg_step, nonzero_box, prepared, soft_blend, straight_colour
from .colour import (
    COLOUR_BITS,
    GREY,
    IDENTITY,
    MONOCHROME_SPREAD,
    Matrix34,
    compose_affine,
    dot,
    fixed_point,
    rgb_moments,
    transfer_matrix,
    ycc_stats,
)
from .config import GRID_BITS, NatOccConfig, draw
from .placement import affine_matrix, inverse_map, pointing_rotation, roi_box
from .stats import ImageStats


@dataclass
class Composite:
    """The result of :func:`composite`: RGB uint8 image, (H, W) bool mask (α > 0), JSON-serialisable params."""

    image: np.ndarray
    mask: np.ndarray
    params: dict[str, Any]


def _pose(
    d: dict[str, Any], stats: ImageStats, occ_size: tuple[int, int], points_at_face: bool, occ_axis: float | None
) -> dict[str, Any]:
    """Steps 1–4 as params: size ``s₀`` (times the jitter scale), pointing rotation, jitter rotation and shear, each on
    its grid; ``occ_size`` = (w₀, h₀)."""
    box = stats.box
    ow, oh = occ_size
    face_area = (box[2] - box[0]) * (box[3] - box[1])
    s0 = quantise(math.sqrt(d["area_fraction"] * face_area / (oh * ow)), GRID_BITS["scale"])
    axis = occ_axis if points_at_face and occ_axis is not None else 0.0
    face_centre = stats.centroid()
    base_rot = pointing_rotation(axis, d["centre"], face_centre) if points_at_face else 0.0
    jit = d["jitter"]
    rot = quantise(base_rot + jit["rotation_deg"], GRID_BITS["angle_deg"]) if jit["applied"] else base_rot
    return {
        "face_box": list(box),
        "face_centre": face_centre,
        "occluder_size": [ow, oh],
        **d,
        "scale": quantise(s0 * jit["scale"], GRID_BITS["scale"]) if jit["applied"] else s0,
        "points_at_face": bool(points_at_face),
        "axis_deg": axis,
        "pointing_rotation_deg": base_rot,
        "rotation_deg": rot,
        "shear_deg": jit["shear_deg"] if jit["applied"] else 0.0,
    }


def _placed(
    src: np.ndarray, box: tuple[int, int, int, int], params: dict[str, Any]
) -> tuple[np.ndarray, tuple[int, int, int, int], list[list[float]]]:
    """The premultiplied source, area-downscaled first when shrinking (no aliasing), its :func:`.blend.alpha_box`
    (``box`` when not resized), and the 2×3 map of the residual (bilinear) warp into the image."""
    oh, ow = src.shape[:2]
    scale, pre = params["scale"], 1.0
    if scale < 0.8:
        nw, nh = max(2, round(ow * scale)), max(2, round(oh * scale))
        src = xi.area_resize(src, (nw, nh))
        box = alpha_box(src)
        pre = nw / ow
    origin = ((src.shape[1] - 1) / 2.0, (src.shape[0] - 1) / 2.0)
    centre = (params["centre"][0], params["centre"][1])
    return src, box, affine_matrix(centre, origin, scale / pre, params["rotation_deg"], params["shear_deg"])


def _work_box(alpha: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """[x0, y0, x1, y1) in the ROI: the bounding box of α > 0 grown by ``margin`` and clipped, x0 and y0 even (the
    stride-2 colour statistics keep their sample grid); the whole ROI when α is all 0.

    Steps 5–8 computed on this box give the ROI's pixels exactly when ``margin`` ≥ r + 3 (r: the blur's radius, 0
    without blur): the occluder's colour and α are 0 outside the α box, so every mirrored or zero border of a filter
    meets only zeros until the blur has spread α by r; the erosion, the 5×5 α filter (2 px) and the edge band's
    3×3 blur (1 px) need 3 px more; where the box meets the ROI's edge, the border is the ROI's own."""
    box = nonzero_box(alpha)
    if box is None:
        return 0, 0, alpha.shape[1], alpha.shape[0]
    x0, y0 = max(0, box[0] - margin), max(0, box[1] - margin)
    return x0 - x0 % 2, y0 - y0 % 2, min(alpha.shape[1], box[2] + margin), min(alpha.shape[0], box[3] + margin)


def _colour_map(
    colour: np.ndarray, solid: np.ndarray, d: dict[str, Any], grey: bool, stats: ImageStats
) -> tuple[Matrix34, dict[str, Any]]:
    """The composed colour map (grey ∘ transfer ∘ brightness/contrast) and its diagnostics (step 5)."""
    a: Matrix34 = GREY if grey else IDENTITY
    diag: dict[str, Any] = {}
    ct, bc = d["colour_transfer"], d["brightness_contrast"]
    has_solid = bool(solid.any())
    if ct["applied"] and has_solid:
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


def _recolour(
    colour: np.ndarray, solid: np.ndarray, d: dict[str, Any], stats: ImageStats, params: dict[str, Any]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Step 5 applied: the colour map in fixed point (recorded in ``params``) on the straight colour; its
    diagnostics."""
    grey = stats.grey()
    params["grey_source"] = grey
    cmap, diagnostics = _colour_map(colour, solid, d, grey, stats)
    fixed = fixed_point(cmap)
    params["colour_matrix"] = [[math.ldexp(int(v), -COLOUR_BITS) for v in row] for row in fixed]
    if not np.array_equal(fixed, fixed_point(IDENTITY)):
        colour = xi.apply_colour_matrix(colour, fixed, COLOUR_BITS)
    return colour, diagnostics


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
    stats = ImageStats.of(image, region)  # per source image and region: shared by the composites on it
    d = draw(rng, cfg, stats.box)
    src, box, occ_axis = prepared(occluder, with_axis=points_at_face)
    params = _pose(d, stats, (occluder.shape[1], occluder.shape[0]), points_at_face, occ_axis)
    src, box, m = _placed(src, box, params)
    cbox = stats.content_box()
    params["content_box"] = list(cbox)
    rx0, ry0, rx1, ry1 = roi_box(m, (src.shape[1], src.shape[0]), cbox)
    out = image.copy()
    mask = np.zeros((H, W), bool)
    if rx1 <= rx0 or ry1 <= ry0:
        params.update(roi=[0, 0, 0, 0], grey_source=False, covered_pixels=0)
        return Composite(out, mask, params)
    params["roi"] = [rx0, ry0, rx1, ry1]
    # the cut-out's α box only (all 0 around it), then steps 5–8 on the work box around the warped α (same pixels)
    crop = np.ascontiguousarray(src[box[1] : box[3], box[0] : box[2]])
    warped = warp_bilinear(crop, inverse_map(m, (rx0, ry0)), (rx1 - rx0, ry1 - ry0), origin=(box[0], box[1]))
    radius = gaussian_radius(d["blur"]["sigma"]) if d["blur"]["applied"] else 0
    wx0, wy0, wx1, wy1 = _work_box(warped[..., 3], radius + 3)
    px0, py0, px1, py1 = rx0 + wx0, ry0 + wy0, rx0 + wx1, ry0 + wy1
    colour, alpha, solid = straight_colour(np.ascontiguousarray(warped[wy0:wy1, wx0:wx1]))
    colour, diagnostics = _recolour(colour, solid, d, stats, params)
    if d["blur"]["applied"]:
        colour, alpha = blur(colour, alpha, d["blur"]["sigma"])
    res, m_roi = soft_blend(colour, alpha, image[py0:py1, px0:px1], cfg.erode, cfg.gauss, cfg.edge_blur)
    if d["jpeg"]["applied"] and m_roi.any():
        res = jpeg_step(out, res, m_roi, (rx0, ry0, rx1, ry1), d["jpeg"]["quality"], (px0, py0, px1, py1))
    xi.copy_where(out[py0:py1, px0:px1], res, m_roi)
    mask[py0:py1, px0:px1] = m_roi
    params["covered_pixels"] = int(np.count_nonzero(m_roi))
    if diagnostics:
        params["diagnostics"] = diagnostics
    return Composite(out, mask, params)
