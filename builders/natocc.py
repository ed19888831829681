"""NatOcc compositing: paste one cut-out object over the face region P (Voo, Jiang, Loy, CVPRW 2022; reference values
in ``docs/occlusion.md`` of the shared data, this toolkit's exact definition in ``docs/nsod.md``).

:func:`composite` is pure: the same image, region, occluder and generator state give the same pixels. All work is done
in the occluder's region of interest (ROI), so it costs a few milliseconds per image. Steps and drawn values:

1. **Size** — face box = bounding box of P (``w × h``); the occluder's alpha box (``w₀ × h₀``) is scaled by
   ``s₀ = √(a·w·h / (w₀·h₀))``, ``a ~ U(0.5, 1.0)``.
2. **Placement** — centre ``c`` uniform in the face box.
3. **Pointing** — hands and elongated objects (principal-axis ratio ≥ 2.5) are rotated by
   ``φ = atan2(f − c) − θ`` (``f``: centroid of P, ``θ``: the object's long-axis angle) so that the long axis lies on
   the line to the face centre, ``+180°`` when ``c`` is below ``f``.
4. **Affine jitter** (p = 0.7) — scale ``U(0.8, 1.2)``, rotation ``U(−15°, 15°)``, shear ``U(−8°, 8°)`` (x-shear).
   The full map is ``x ↦ c + R(φ + ρ)·Sh(σ)·(s₀·s)·(x − x̄)`` (``x̄``: centre of the occluder's box). Downscaling is
   area-averaged first, then the residual map is applied with bilinear interpolation, in premultiplied alpha.
5. **Colour** — one affine colour map ``x ↦ A·x + b`` (RGB, applied with a single ``cv2.transform``) composed of:
   grey conversion when the source image is grey (all channels equal); colour transfer toward the face's statistics
   in YCbCr (BT.601, linear in RGB) — with ``μ_f, σ_f`` over P and ``μ_o, σ_o`` over the occluder,
   ``Y ← Y + t_Y(μ_f − μ_o)`` for the mean and ``(Y − μ) · (1 + t_Y(clip(σ_f/σ_o, 0.5, 2) − 1))`` for the contrast,
   ``Cb, Cr ← Cb, Cr + t_C(μ_f − μ_o)``, ``t_Y ~ U(0.3, 0.7)``, ``t_C ~ U(0, 0.3)`` (lighting and colour cast are
   matched, the object keeps its own colours; the original uses sliced optimal transport of the full distribution);
   in near-monochrome (tinted, sepia) photos — image chroma spread ``σ_C < 6`` — the occluder's chroma deviations are
   scaled by ``k = σ_C/6`` and its mean chroma moves to the face's by ``t_C + (1 − t_C)(1 − k)``;
   brightness/contrast (p = 0.5) ``x ← (x − x̄)(1 + κ) + x̄ + 255β``, ``κ, β ~ U(−0.1, 0.1)``.
6. **Blur** (p = 0.3) of the occluder — Gaussian ``σ ~ U(0.5, 1.5)`` px (defocus), in premultiplied alpha.
7. **Blending** — ``α = G₅(erode₃(α_occ))`` (3×3 erosion, 5×5 Gaussian), quantised to 1/255;
   ``out = α·occ + (1 − α)·face``; the edge band (0 < α < 1, grown by 1 px) is replaced by its 3×3 Gaussian blur.
8. **JPEG** (p = 0.5) — the 8-pixel-aligned ROI is re-encoded at quality ``U{70, …, 100}`` and decoded.

The occluder is clipped to the photo inside any black padding bars (:func:`content_box`).
Steps 5–8 only change pixels where ``α > 0``: every pixel outside the returned mask equals the source image's pixel.
Every random number is drawn in a fixed order, whether or not the step is applied, and recorded in ``params``.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from .occluders.library import OPAQUE

#: RGB → YCbCr (BT.601, full range, chroma centred on 0)
YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float64
)
YCC_INV = np.linalg.inv(YCC)
LUMA = YCC[0]
#: the identity as a 3×4 affine colour map
IDENTITY_34 = np.hstack([np.eye(3), np.zeros((3, 1))])
IDENTITY_34.setflags(write=False)
#: images whose chroma spread is below this are near-monochrome (tinted, sepia): the occluder's chroma is scaled down
MONOCHROME_SPREAD = 6.0


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


def ycc_stats(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (3,) of YCbCr (BT.601, [0, 255] scale) of an RGB image over a bool mask."""
    if not mask.any():
        return np.zeros(3), np.ones(3)
    ycc = cv2.transform(np.asarray(rgb, np.float32), YCC.astype(np.float32))
    mean, std = cv2.meanStdDev(ycc, mask=mask.astype(np.uint8))
    return mean.ravel(), std.ravel()


def transfer_matrix(
    occ_mean: np.ndarray,
    occ_std: np.ndarray,
    face_mean: np.ndarray,
    face_std: np.ndarray,
    t_y: float,
    t_c: float,
    chroma_gain: float = 1.0,
) -> np.ndarray:
    """3×4 affine RGB map of the YCbCr colour transfer (formula: module docstring).

    In YCbCr: Y' = g·Y + (1 − g)·μ_o + t_Y(μ_f − μ_o) with g = 1 + t_Y(clip(σ_f/σ_o, 0.5, 2) − 1);
    C' = k·C + (1 − k)·μ_o + t'(μ_f − μ_o) with k = ``chroma_gain`` and t' = t_C + (1 − t_C)(1 − k).
    In RGB: x' = YCC⁻¹·D·YCC·x + YCC⁻¹·b.
    """
    g = 1.0 + t_y * (float(np.clip(face_std[0] / max(float(occ_std[0]), 1e-3), 0.5, 2.0)) - 1.0)
    k = float(chroma_gain)
    tc = t_c + (1.0 - t_c) * (1.0 - k)
    d = np.diag([g, k, k])
    b = np.array(
        [
            (1.0 - g) * occ_mean[0] + t_y * (face_mean[0] - occ_mean[0]),
            (1.0 - k) * occ_mean[1] + tc * (face_mean[1] - occ_mean[1]),
            (1.0 - k) * occ_mean[2] + tc * (face_mean[2] - occ_mean[2]),
        ]
    )
    return np.hstack([YCC_INV @ d @ YCC, (YCC_INV @ b)[:, None]])


def chroma_spread(image: np.ndarray, stride: int = 8) -> float:
    """√(var Cb + var Cr) of the whole image (every ``stride``-th pixel): ≈ 0 grey, < 6 tinted/sepia, median ≈ 13."""
    ycc = cv2.transform(np.ascontiguousarray(image[::stride, ::stride], dtype=np.float32), YCC.astype(np.float32))
    _, std = cv2.meanStdDev(ycc)
    return float(np.hypot(std[1, 0], std[2, 0]))


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """3×4 affine maps: (outer ∘ inner)(x) = outer(inner(x))."""
    return np.hstack([outer[:, :3] @ inner[:, :3], (outer[:, :3] @ inner[:, 3] + outer[:, 3])[:, None]])


def affine_matrix(
    centre: tuple[float, float], origin: tuple[float, float], scale: float, rotation_deg: float, shear_deg: float
) -> np.ndarray:
    """2×3 map ``x ↦ centre + R(rotation)·Sh(shear)·scale·(x − origin)`` (image coordinates, y down)."""
    th = np.radians(rotation_deg)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    sh = np.array([[1.0, np.tan(np.radians(shear_deg))], [0.0, 1.0]])
    lin = rot @ sh * scale
    t = np.asarray(centre, np.float64) - lin @ np.asarray(origin, np.float64)
    return np.hstack([lin, t[:, None]])


def _draw(rng: np.random.Generator, cfg: NatOccConfig, box: tuple[int, int, int, int]) -> dict[str, Any]:
    """Every random value of one composite, in a fixed order."""
    x0, y0, x1, y1 = box
    d: dict[str, Any] = {}
    d["area_fraction"] = float(rng.uniform(*cfg.area))
    d["centre"] = [float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))]
    d["jitter"] = {
        "applied": bool(rng.random() < cfg.jitter_p),
        "scale": float(rng.uniform(*cfg.jitter_scale)),
        "rotation_deg": float(rng.uniform(-cfg.jitter_rotation, cfg.jitter_rotation)),
        "shear_deg": float(rng.uniform(-cfg.jitter_shear, cfg.jitter_shear)),
    }
    d["colour_transfer"] = {
        "applied": bool(rng.random() < cfg.transfer_p),
        "t_y": float(rng.uniform(*cfg.transfer_y)),
        "t_c": float(rng.uniform(*cfg.transfer_c)),
    }
    d["brightness_contrast"] = {
        "applied": bool(rng.random() < cfg.bc_p),
        "brightness": float(rng.uniform(-cfg.brightness, cfg.brightness)),
        "contrast": float(rng.uniform(-cfg.contrast, cfg.contrast)),
    }
    d["blur"] = {"applied": bool(rng.random() < cfg.blur_p), "sigma": float(rng.uniform(*cfg.blur_sigma))}
    d["jpeg"] = {
        "applied": bool(rng.random() < cfg.jpeg_p),
        "quality": int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)),
    }
    return d


def axis_angle(alpha: np.ndarray) -> float:
    """Long-axis angle (degrees, x right / y down, in (−90, 90]) of the pixels with alpha ≥ 128 (second moments)."""
    m = cv2.moments((alpha >= OPAQUE).astype(np.uint8), binaryImage=True)
    return float(0.5 * np.degrees(np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])))


def pointing_rotation(theta: float, centre: list[float], face_centre: list[float]) -> float:
    """Rotation φ (degrees) putting an axis at angle θ on the line centre → face centre (+180° when below)."""
    direction = np.degrees(np.arctan2(face_centre[1] - centre[1], face_centre[0] - centre[0]))
    phi = direction - theta + (180.0 if centre[1] > face_centre[1] else 0.0)
    return float((phi + 180.0) % 360.0 - 180.0)


_PREMULTIPLIED: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def _premultiplied_u8(rgba: np.ndarray) -> np.ndarray:
    """uint8 RGBA with colour × alpha / 255 (rounded); remembered per occluder array while that array lives (a
    library's cut-outs are drawn many times). Read-only result."""
    hit = _PREMULTIPLIED.get(id(rgba))
    if hit is not None and hit[0]() is rgba:
        return hit[1]
    a = rgba[..., 3]
    rgb = cv2.multiply(np.ascontiguousarray(rgba[..., :3]), cv2.merge([a, a, a]), scale=1.0 / 255.0)
    out = cv2.merge([rgb, a])
    out.setflags(write=False)
    if len(_PREMULTIPLIED) >= 1024:
        _PREMULTIPLIED.clear()
    _PREMULTIPLIED[id(rgba)] = (weakref.ref(rgba), out)
    return out


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
    box = region_box(region)
    crop = region[box[1] : box[3], box[0] : box[2]]
    col_n, row_n = np.count_nonzero(crop, axis=0), np.count_nonzero(crop, axis=1)
    total = float(col_n.sum())
    face_centre = [
        box[0] + float(np.arange(col_n.size) @ col_n) / total,
        box[1] + float(np.arange(row_n.size) @ row_n) / total,
    ]
    d = _draw(rng, cfg, box)
    oh, ow = occluder.shape[:2]
    face_area = float((box[2] - box[0]) * (box[3] - box[1]))
    s0 = float(np.sqrt(d["area_fraction"] * face_area / (oh * ow)))
    axis = axis_angle(occluder[..., 3]) if points_at_face else 0.0
    base_rot = pointing_rotation(axis, d["centre"], face_centre) if points_at_face else 0.0
    jit = d["jitter"]
    scale = s0 * (jit["scale"] if jit["applied"] else 1.0)
    rot = base_rot + (jit["rotation_deg"] if jit["applied"] else 0.0)
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
    src = _premultiplied_u8(occluder)
    pre = 1.0
    if scale < 0.8:
        nw, nh = max(2, round(ow * scale)), max(2, round(oh * scale))
        src = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA)
        pre = nw / ow
    origin = ((src.shape[1] - 1) / 2.0, (src.shape[0] - 1) / 2.0)
    M = affine_matrix((d["centre"][0], d["centre"][1]), origin, scale / pre, rot, shear)
    sw, sh_ = src.shape[1], src.shape[0]
    pts = np.array([[0, 0, 1], [sw, 0, 1], [0, sh_, 1], [sw, sh_, 1]], float) @ M.T
    pad = 6
    cx0, cy0, cx1, cy1 = content_box(image)
    params["content_box"] = [cx0, cy0, cx1, cy1]
    rx0 = int(max(cx0, np.floor(pts[:, 0].min()) - pad))
    ry0 = int(max(cy0, np.floor(pts[:, 1].min()) - pad))
    rx1 = int(min(cx1, np.ceil(pts[:, 0].max()) + pad))
    ry1 = int(min(cy1, np.ceil(pts[:, 1].max()) + pad))
    out = image.copy()
    mask = np.zeros((H, W), bool)
    if rx1 <= rx0 or ry1 <= ry0:
        params.update(roi=[0, 0, 0, 0], grey_source=False, covered_pixels=0)
        return Composite(out, mask, params)
    params["roi"] = [rx0, ry0, rx1, ry1]
    Mr = M.copy()
    Mr[:, 2] -= (rx0, ry0)
    rw, rh = rx1 - rx0, ry1 - ry0
    warped = cv2.warpAffine(src, Mr, (rw, rh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # straight colour (uint8); where alpha is small or 0 it is extended by a normalised 3×3 box filter, so the
    # blurred alpha below never meets undefined colour (no dark or bright rims)
    r_, g_, b_, a_u8 = cv2.split(warped)
    pm = cv2.merge([r_, g_, b_])
    a3 = cv2.merge([a_u8, a_u8, a_u8])
    colour = cv2.divide(cv2.blur(pm, (3, 3)), cv2.blur(a3, (3, 3)), scale=255)
    solid = a_u8 >= OPAQUE
    cv2.copyTo(cv2.divide(pm, a3, scale=255), solid.view(np.uint8), colour)

    # one affine colour map: grey conversion ∘ colour transfer ∘ brightness/contrast
    grey = is_grey(image, box)
    params["grey_source"] = grey
    A = IDENTITY_34
    if grey:
        A = np.hstack([np.repeat(LUMA[None, :], 3, axis=0), np.zeros((3, 1))])
    ct = d["colour_transfer"]
    has_solid = bool(solid.any())
    if ct["applied"] and has_solid:
        x0, y0, x1, y1 = box
        f_mean, f_std = ycc_stats(image[y0:y1:3, x0:x1:3], region[y0:y1:3, x0:x1:3])
        sub = cv2.transform(colour[::2, ::2].astype(np.float32), A.astype(np.float32))
        o_mean, o_std = ycc_stats(sub, solid[::2, ::2])
        spread = chroma_spread(image)
        k = 1.0 if grey else float(np.clip(spread / MONOCHROME_SPREAD, 0.0, 1.0))
        T = transfer_matrix(o_mean, o_std, f_mean, f_std, ct["t_y"], 0.0 if grey else ct["t_c"], k)
        A = compose_affine(T, A)
        params["colour_transfer"].update(
            face_ycc_mean=[float(v) for v in f_mean], face_ycc_std=[float(v) for v in f_std],
            occluder_ycc_mean=[float(v) for v in o_mean], occluder_ycc_std=[float(v) for v in o_std],
            image_chroma_spread=spread, chroma_gain=k,
        )
    bc = d["brightness_contrast"]
    if bc["applied"] and has_solid:
        m = A[:, :3] @ np.asarray(cv2.mean(colour, mask=solid.view(np.uint8))[:3]) + A[:, 3]
        kc = 1.0 + bc["contrast"]
        B = np.hstack([np.eye(3) * kc, ((1.0 - kc) * m + 255.0 * bc["brightness"])[:, None]])
        A = compose_affine(B, A)
    params["colour_matrix"] = [[round(float(v), 6) for v in row] for row in A]
    if not np.array_equal(A, IDENTITY_34):
        colour = cv2.transform(colour, A.astype(np.float32))  # uint8 in, saturated uint8 out
    if d["blur"]["applied"]:
        sig = d["blur"]["sigma"]
        pmb = cv2.GaussianBlur(cv2.multiply(colour, a3, scale=1.0 / 255.0), (0, 0), sig)
        a_u8 = cv2.GaussianBlur(a_u8, (0, 0), sig)
        a3 = cv2.merge([a_u8, a_u8, a_u8])
        cv2.copyTo(cv2.divide(pmb, a3, scale=255), (a_u8 > 0).view(np.uint8), colour)

    # NatOcc blending: α = G5(erode3(alpha)) on the 0–255 scale: the mask is exactly where α > 0
    a8 = cv2.GaussianBlur(cv2.erode(a_u8, np.ones((cfg.erode, cfg.erode), np.uint8)), (cfg.gauss, cfg.gauss), 0)
    m_roi = a8 > 0
    w = a8.astype(np.float32) * np.float32(1.0 / 255.0)
    blended = cv2.blendLinear(colour, np.ascontiguousarray(image[ry0:ry1, rx0:rx1]), w, np.float32(1.0) - w)
    band = cv2.dilate((m_roi & (a8 < 255)).view(np.uint8), np.ones((3, 3), np.uint8)).view(bool) & m_roi
    if band.any():
        cv2.copyTo(cv2.GaussianBlur(blended, (cfg.edge_blur, cfg.edge_blur), 0), band.view(np.uint8), blended)
    res = blended
    if d["jpeg"]["applied"] and m_roi.any():
        # 8-aligned block grid of the full image, so the blocks match the source JPEG's grid
        jx0, jy0 = rx0 - rx0 % 8, ry0 - ry0 % 8
        jx1, jy1 = min(W, rx1 + (-rx1) % 8), min(H, ry1 + (-ry1) % 8)
        tile = out[jy0:jy1, jx0:jx1].copy()
        cv2.copyTo(res, m_roi.view(np.uint8), tile[ry0 - jy0 : ry1 - jy0, rx0 - jx0 : rx1 - jx0])
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(tile, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, d["jpeg"]["quality"]]
        )
        if ok:
            dec = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            res = np.ascontiguousarray(dec[ry0 - jy0 : ry1 - jy0, rx0 - jx0 : rx1 - jx0])
    cv2.copyTo(res, m_roi.view(np.uint8), out[ry0:ry1, rx0:rx1])
    mask[ry0:ry1, rx0:rx1] = m_roi
    params["covered_pixels"] = int(np.count_nonzero(m_roi))
    return Composite(out, mask, params)


def config_dict(config: NatOccConfig | None = None) -> dict[str, Any]:
    """The configuration as a JSON-serialisable dict (recorded in the build's provenance)."""
    return asdict(config or NatOccConfig())
