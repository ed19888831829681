"""The default skin segmenter: a per-image skin model seeded from the landmark-defined central face.

Why: a fixed colour model (:mod:`aflw_occ.skin.gmm`) finds no skin in grey images and little in dark-skinned or
low-light faces, which would bias any visibility benchmark by skin tone and camera. Here every image is its own
reference: the skin of its cheeks, nose bridge and glabella defines what "skin" looks like in that image.

Per image (all inside a crop around the landmarks, halved when its shorter side is ≥ 160 px):

1. features x = (Y, T, r, g) for colour images, x = (Y, T) for grey ones (:func:`aflw_occ.skin.is_grayscale`):
   Y = luma 0.299 R + 0.587 G + 0.114 B (integer, 15-bit fixed point), T = local contrast = std of Y in a 5×5
   window (3×3 at half resolution; skin is smooth, hair and fabric are not), r, g = chromaticity
   (shading-invariant colour); half resolution = area means (exact integers, :func:`.exact.resize_area_u8`);
2. seed S = :func:`aflw_occ.landmark_patches.central_face_mask`; seed weights ω = 0.3 + 0.7·P_gmm(skin | colour)
   (the packaged GMM as a prior; ω ≡ 1 for grey images), so seed pixels of occluders count less;
3. a robust Gaussian (μ, Σ) of the seed (:func:`robust_gaussian`: median/MAD start, then weighted
   mean/covariance re-estimated on the pixels with d² ≤ χ²_D(0.9)), which drops hands, hair and objects
   covering up to half of the seed;
4. skin = d²(x) ≤ τ (τ = 22 colour, 16.5 grey) with Σ' = K^½ Σ K^½ + diag(floor²), K = diag(κ),
   κ = (16, 4.5, 3.5, 3.5): the seed is a small patch, the whole face varies more (lighting above all);
5. clean-up: median 5×5 (3×3 at half resolution), opening 3×3, closing 5×5 (binary, as integer box counts);
6. facial parts (brows, eyes, nostrils, mouth; :func:`aflw_occ.face_region.part_masks`) count as visible
   where at least 35 % of their surroundings is skin (:meth:`AdaptiveSkinSegmenter.visible_parts`).

τ, κ and the part rule were set on a 400-image subsample (indices ≡ 0, 1 mod 10) so that the NOD count lands near the
paper's 127 (``docs/nod.md`` lists the alternatives tried and their counts); nothing else was tuned.

Every step is exact (:mod:`aflw_occ.skin.exact`): integer image operations, integer sums for the seed statistics,
fixed-order float64 element-wise arithmetic for the distances and :mod:`aflw_occ.exactmath` for the GMM prior, so
the mask has the same bits on every CPU, BLAS, thread count and OpenCV release (``docs/reproducibility.md``); OpenCV
only draws the landmark polygons (integer fixed-point scan conversion).
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from ..geometry import PIXEL_OFFSET
from ..landmark_patches import central_face_mask, face_scale, landmark_box, parts_mask
from . import exact
from .colour import is_grayscale, rgb_to_ycbcr
from .exact import box_sum
from .segmenter import Segmenter, SegmenterError

#: χ²_D quantiles used for trimming the seed (0.9) — D = 2 (grey) or 4 (colour)
_CHI2_TRIM = {2: 4.605, 4: 7.779}
_CHROMA_K = 12.0
#: crops whose shorter side reaches this are classified at half resolution (mask scaled back, nearest)
WORK_HALF_MIN_SIDE = 160
#: at most this many seed pixels (a regular subsample) enter the robust fit
SEED_MAX_PIXELS = 3000
#: the seed's features and weights enter the robust fit on these grids (2^−8 feature units, 2^−10 weight units)
FEATURE_FRAC_BITS = 8
WEIGHT_FRAC_BITS = 10
#: default acceptance thresholds (squared Mahalanobis distance) — D = 2 (grey) or 4 (colour)
DEFAULT_TAU = {2: 16.5, 4: 22.0}


def local_contrast(lum: np.ndarray, ksize: int = 5) -> np.ndarray:
    """T = standard deviation of the integer luma Y over a ksize×ksize box (BORDER_REFLECT), exactly:
    with n = ksize², S₁ = Σ Y and S₂ = Σ Y² (int64 box sums, :func:`aflw_occ.skin.exact.box_sum`),
    T = √(n·S₂ − S₁²) / n (the integer under the root is exact; one correctly rounded sqrt and one division).
    ``lum`` (h, w) integer-valued (uint8 luma) → (h, w) float64."""
    y = np.asarray(lum)
    if not np.issubdtype(y.dtype, np.integer):
        if not np.array_equal(y, np.rint(y)):
            raise ValueError("local_contrast: the luma must be integer-valued")
        y = y.astype(np.int64)
    n = ksize * ksize
    if y.size and int(y.min()) >= 0 and int(y.max()) <= 255:
        y = y.astype(np.uint8)  # Y² fits uint16: both box sums take the integer OpenCV path
        sq = y.astype(np.uint16) * y.astype(np.uint16)
    else:
        sq = y.astype(np.int64) * y.astype(np.int64)
    s1 = box_sum(y, ksize, "reflect").astype(np.int64)
    s2 = box_sum(sq, ksize, "reflect").astype(np.int64)
    return np.sqrt((n * s2 - s1 * s1).astype(np.float64)) / float(n)


def mahalanobis_sq(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """d²(x) = (x − μ)ᵀ Σ⁻¹ (x − μ) for rows of x (N, D), via the Cholesky factor Σ = L Lᵀ: d² = ‖L⁻¹(x − μ)‖²,
    in a fixed order of float64 element-wise operations (:func:`aflw_occ.skin.exact.mahalanobis_sq`). Raises
    :class:`SegmenterError` when Σ is not positive definite."""
    try:
        return exact.mahalanobis_sq(x, mean, cov)
    except ValueError as exc:
        raise SegmenterError(f"adaptive segmenter: {exc}") from None


def robust_gaussian(
    x: np.ndarray, weights: np.ndarray, trim: float, iterations: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Robust weighted mean (D,) and covariance (D, D) of x (N, D).

    Start: per-feature median m and scale s = 1.4826·MAD; keep the points with |x − m| ≤ 2.5·s in every
    feature (tolerates up to half of the points being something else). Then, ``iterations`` times:
    μ = Σ ω x / Σ ω, Σ = Σ ω (x − μ)(x − μ)ᵀ / Σ ω over the kept points (a tiny ridge keeps Σ invertible),
    and keep the points with d² ≤ ``trim``. Stops early when fewer than D + 2 points would remain.

    Exact: medians by sorting; μ and Σ from integer sums of x on the grid 2^−:data:`FEATURE_FRAC_BITS` and ω on
    the grid 2^−:data:`WEIGHT_FRAC_BITS` (:func:`aflw_occ.skin.exact.weighted_moments`), d² element-wise.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    d = x.shape[1]
    med = exact.median_columns(x)
    mad = np.maximum(1.4826 * exact.median_columns(np.abs(x - med)), 1e-3)
    keep = np.all(np.abs(x - med) <= 2.5 * mad, axis=1)
    if keep.sum() < d + 2:
        keep = np.ones(len(x), dtype=bool)
    mean = med
    cov = np.diag(mad**2)
    rows = exact.QuantisedRows(x, FEATURE_FRAC_BITS)  # x on its grid once, for every iteration's moments
    for it in range(iterations + 1):
        ww = w * keep
        if not np.any(np.rint(ww * float(1 << WEIGHT_FRAC_BITS)) > 0):
            break
        mean, cov = rows.moments(ww, WEIGHT_FRAC_BITS)
        cov = cov + 1e-6 * np.eye(d)
        if it == iterations:
            break
        new_keep = mahalanobis_sq(x, mean, cov) <= trim
        if new_keep.sum() < d + 2:
            break
        keep = new_keep
    return mean, cov


class AdaptiveSkinSegmenter:
    """Per-image skin model seeded from the central face; works on grey and colour images without learned weights.

    Args:
        kappa: per-feature variance inflation κ (Y, T, r, g): lighting changes luminance across a face far
            more than chromaticity.
        tau: acceptance threshold on d² per feature count (default :data:`DEFAULT_TAU`).
        floors: per-feature standard-deviation floors (Y, T, r, g) in 0–255 units.
        use_gmm_prior: weight the seed with the packaged GMM's skin posterior (colour images only).
        ring_min: skin fraction of a part pixel's surroundings for it to count as visible.
        part_radius: radius of those surroundings as a fraction of the face scale (interocular distance).
    """

    name = "adaptive"

    def __init__(
        self,
        kappa: tuple[float, float, float, float] = (16.0, 4.5, 3.5, 3.5),
        tau: dict[int, float] | None = None,
        floors: tuple[float, float, float, float] = (8.0, 2.0, 1.5, 1.5),
        use_gmm_prior: bool = True,
        ring_min: float = 0.35,
        part_radius: float = 0.2,
    ) -> None:
        self.kappa = np.asarray(kappa, dtype=np.float64)
        self.tau = dict(DEFAULT_TAU if tau is None else tau)
        self.floors = np.asarray(floors, dtype=np.float64)
        self.use_gmm_prior = bool(use_gmm_prior)
        self.ring_min = float(ring_min)
        self.part_radius = float(part_radius)

    # the pieces are public so that tests and docs can show them ---------------------------------------------------
    def features(self, crop: np.ndarray, grey: bool, ksize: int = 5) -> np.ndarray:
        """(h, w, D) float64 features of an RGB crop: (Y, T, r, g), or (Y, T) when ``grey``.

        Y = integer BT.601 luma (:func:`aflw_occ.skin.exact.luma_u8`), T = :func:`local_contrast`;
        r, g = 255·(R + k)/(R + G + B + 3k), 255·(G + k)/(R + G + B + 3k) with k = 12: chromaticity, which
        does not change with shading; k damps the noise of dark pixels (integer numerator and denominator, one
        correctly rounded division each).
        """
        # the channel planes once (cv2.split only moves bytes: numpy reads a channel of (h, w, 3) slowly)
        c = [p.astype(np.int32) for p in cv2.split(np.ascontiguousarray(crop, dtype=np.uint8))]
        lum = exact.luma_of_planes(*c)
        planes = [lum.astype(np.float64), local_contrast(lum, ksize)]
        if not grey:
            # int32 holds every numerator and denominator (≤ 255·(255 + k) and 3·(255 + k)); each is converted to
            # float64 exactly and divided once
            k = int(_CHROMA_K)
            total = (c[0] + c[1] + c[2] + 3 * k).astype(np.float64)
            planes += [np.divide((255 * (c[i] + k)).astype(np.float64), total) for i in (0, 1)]
        return cv2.merge(planes).reshape(lum.shape + (len(planes),))  # interleaved (h, w, D): byte moves

    def skin_model(
        self, crop: np.ndarray, feats: np.ndarray, seed: np.ndarray, grey: bool
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Robust (μ, Σ') of the seed pixels, or None when the seed is (almost) empty."""
        rows, cols = np.nonzero(seed)
        step = -(-len(rows) // SEED_MAX_PIXELS) if len(rows) > SEED_MAX_PIXELS else 1
        rows, cols = rows[::step], cols[::step]  # a regular subsample of big seeds (deterministic)
        x = feats[rows, cols].astype(np.float64)
        d = x.shape[1]
        if len(x) < 4 * d:
            return None
        if grey or not self.use_gmm_prior:
            w = np.ones(len(x))
        else:
            from .gmm import _packaged_gmm

            w = 0.3 + 0.7 * _packaged_gmm().posterior(rgb_to_ycbcr(crop[rows, cols]))
        mean, cov = robust_gaussian(x, w, _CHI2_TRIM[d])
        k = np.sqrt(self.kappa[:d])  # correctly rounded
        cov = cov * (k[:, None] * k[None, :]) + np.diag(self.floors[:d] * self.floors[:d])
        return mean, cov

    def visible_parts(self, skin: np.ndarray, parts: np.ndarray, scale: float) -> np.ndarray:
        """Part pixels (``parts``: the union of the facial parts, :func:`aflw_occ.face_region.parts_mask`) whose
        neighbourhood (square of half-side ``part_radius``·scale, part pixels left out) is skin for at least
        ``ring_min`` of its area.

        visible(p) ⇔ Σ_box skin·¬part / Σ_box ¬part ≥ ``ring_min`` (two box filters over the parts' bounding
        box). A part half covered by an object keeps only its uncovered half. Exact: int64 box counts (zero border)
        compared as integers, num·q ≥ p·den with ``ring_min`` = p/q (a fraction with q ≤ 10⁶).
        """
        any_part = parts
        if not any_part.any():
            return any_part
        r = max(2, int(round(self.part_radius * scale)))
        ys, xs = np.nonzero(any_part)
        y0, y1 = max(0, ys.min() - r), min(skin.shape[0], ys.max() + r + 1)
        x0, x1 = max(0, xs.min() - r), min(skin.shape[1], xs.max() + r + 1)
        parts_win = any_part[y0:y1, x0:x1]
        outside = ~parts_win
        num = box_sum(skin[y0:y1, x0:x1] & outside, 2 * r + 1, "constant")
        den = box_sum(outside, 2 * r + 1, "constant")
        ratio = Fraction(self.ring_min).limit_denominator(1_000_000)
        out = np.zeros(skin.shape, dtype=bool)
        out[y0:y1, x0:x1] = parts_win & (num * ratio.denominator >= ratio.numerator * den) & (den > 0)
        return out

    def __call__(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise SegmenterError(f"adaptive segmenter: image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        lm = np.asarray(landmarks, dtype=np.float64)
        if lm.ndim != 2 or lm.shape[0] != 68 or lm.shape[1] not in (2, 3) or not np.all(np.isfinite(lm)):
            raise SegmenterError(f"adaptive segmenter: landmarks must be finite (68, 2|3), got {lm.shape}")
        h, w = img.shape[:2]
        out = np.zeros((h, w), dtype=bool)
        xy = lm[:, :2] - PIXEL_OFFSET
        x0, y0, x1, y1 = landmark_box(xy, (h, w))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return out
        crop = img[y0:y1, x0:x1]
        local = xy - np.array([x0, y0], dtype=np.float64)
        full_shape = crop.shape[:2]
        if min(full_shape) >= WORK_HALF_MIN_SIDE:  # big faces are classified at half resolution
            crop = exact.resize_area_u8(crop, (full_shape[0] // 2, full_shape[1] // 2))  # exact area means
            local = (local + 0.5) / 2.0 - 0.5
        shape = crop.shape[:2]
        half = shape != full_shape
        grey = is_grayscale(img)
        seed = central_face_mask(local, shape)
        feats = self.features(crop, grey, 3 if half else 5)
        model = self.skin_model(crop, feats, seed, grey)
        if model is None:
            return out
        mean, cov = model
        d = feats.shape[-1]
        m2 = mahalanobis_sq(feats.reshape(-1, d), mean, cov).reshape(shape)
        skin = exact.binary_median(m2 <= self.tau[d], 3 if half else 5)
        skin = exact.open_close(skin, 3, 5)
        visible = skin | self.visible_parts(skin, parts_mask(local, shape), face_scale(local))
        if half:
            visible = exact.resize_nearest(visible, full_shape)
        out[y0:y1, x0:x1] = visible
        return out


SEGMENTER = Segmenter(
    kind="adaptive",
    summary="a per-image skin model seeded from the landmark-defined central face (no learned weights; the default)",
    factory=lambda path: AdaptiveSkinSegmenter(),
)
