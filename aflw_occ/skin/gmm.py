"""The plain YCbCr Gaussian-mixture skin classifier (parameters: Deep3DFaceRecon, MIT; see ``assets/``).

P(skin | x) = π·p_s(x) / (π·p_s(x) + (1 − π)·p_n(x)), π = 0.8, with p(x) = Σ_k w_k N(x; μ_k, Σ_k) over 4 components
each, x = (Y, Cb, Cr) (BT.601). A pixel is skin when the posterior exceeds 0.5.

On its own this is not a fair visibility measure (grey images have Cb = Cr = 128 and get no skin, dark or low-light
skin falls outside the mixture): :mod:`aflw_occ.skin.adaptive` only uses it as a prior.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .. import exactmath
from .colour import rgb_to_ycbcr
from .segmenter import Segmenter, SegmenterError

ASSET = "skin_gmm.json"


@dataclass(frozen=True)
class GaussianMixture:
    """Mixture parameters: weights (K,), means (K, D), inverse covariances (K, D, D), covariance determinants (K,)."""

    weights: np.ndarray
    means: np.ndarray
    cov_inv: np.ndarray
    cov_det: np.ndarray

    def density(self, x: np.ndarray) -> np.ndarray:
        """p(x) = Σ_k w_k (2π)^(−D/2) |Σ_k|^(−1/2) exp(−½ (x − μ_k)ᵀ Σ_k⁻¹ (x − μ_k)); x (N, D) → (N,) float64.

        The same bits on every machine: m² = Σ_j (Σ_i δ_i·A_ij)·δ_j accumulated i, j = 0, 1, … element-wise (no
        BLAS, no einsum), exp from :func:`aflw_occ.exactmath.exp_array` (0 below e^−699, where the float64 result
        would be subnormal or 0 anyway), c_k = w_k / √((2π)^D·|Σ_k|) with the power as repeated products and a
        correctly rounded square root; components summed k = 0, 1, … ."""
        x = np.asarray(x, dtype=np.float64)
        d = x.shape[1]
        two_pi_d = 1.0
        for _ in range(d):
            two_pi_d *= 2.0 * exactmath.PI
        # all components at once, (K, N) arrays: every entry gets the same operations in the same order as one
        # component at a time (element-wise ufuncs), with a quarter of the numpy calls
        mu = np.asarray(self.means, dtype=np.float64)[:, :, None]  # (K, D, 1)
        inv = np.asarray(self.cov_inv, dtype=np.float64)[:, :, :, None]  # (K, D, D, 1)
        diff = [x[:, i][None, :] - mu[:, i] for i in range(d)]
        m2 = np.zeros((len(self.weights), len(x)))
        for j in range(d):
            t = diff[0] * inv[:, 0, j]
            for i in range(1, d):
                t += diff[i] * inv[:, i, j]
            t *= diff[j]
            m2 += t
        arg = -0.5 * m2
        e = exactmath.exp_array(np.maximum(arg, -699.0))
        e[arg < -699.0] = 0.0
        out = np.zeros(len(x))
        for k, (w, det) in enumerate(zip(self.weights, self.cov_det, strict=True)):
            out += e[k] * (float(w) / math.sqrt(two_pi_d * float(det)))
        return out


@dataclass(frozen=True)
class SkinGmm:
    """Skin and non-skin mixtures and the skin prior."""

    skin: GaussianMixture
    nonskin: GaussianMixture
    prior: float

    def posterior(self, ycbcr: np.ndarray) -> np.ndarray:
        """P(skin | x) for x (N, 3) YCbCr → (N,) float64 in [0, 1] (0 where both densities underflow)."""
        ps = self.prior * self.skin.density(ycbcr)
        pn = (1.0 - self.prior) * self.nonskin.density(ycbcr)
        total = ps + pn
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, ps / np.where(total > 0, total, 1.0), 0.0)


def _mixture(raw: dict, prefix: str, path: str) -> GaussianMixture:
    try:
        w = np.asarray(raw[f"{prefix}_w"], dtype=np.float64)
        mu = np.asarray(raw[f"{prefix}_mu"], dtype=np.float64)
        inv = np.asarray(raw[f"{prefix}_cov_inv"], dtype=np.float64)
        det = np.asarray(raw[f"{prefix}_cov_det"], dtype=np.float64)
    except KeyError as exc:
        raise SegmenterError(f"{path}: field {exc.args[0]} is missing") from None
    k = len(w)
    if mu.shape != (k, 3) or inv.shape != (k, 3, 3) or det.shape != (k,) or np.any(det <= 0):
        raise SegmenterError(f"{path}: inconsistent {prefix} mixture shapes or non-positive determinants")
    return GaussianMixture(w, mu, inv, det)


def load_skin_gmm(path: str | Path | None = None) -> SkinGmm:
    """Read the mixture parameters (default: the packaged ``assets/skin_gmm.json``)."""
    if path is None:
        return _packaged_gmm()
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise SegmenterError(f"{p}: cannot read skin GMM parameters ({exc})") from None
    return _parse(raw, str(p))


def _parse(raw: dict, where: str) -> SkinGmm:
    prior = float(raw.get("prior_skin", 0.8))
    if not 0.0 < prior < 1.0:
        raise SegmenterError(f"{where}: prior_skin must be in (0, 1), got {prior}")
    return SkinGmm(_mixture(raw, "skin", where), _mixture(raw, "nonskin", where), prior)


@lru_cache(maxsize=1)
def _packaged_gmm() -> SkinGmm:
    text = resources.files("aflw_occ").joinpath("assets", ASSET).read_text()
    return _parse(json.loads(text), f"aflw_occ/assets/{ASSET}")


def skin_posterior(image: np.ndarray, gmm: SkinGmm | None = None) -> np.ndarray:
    """(H, W) float64 P(skin | pixel colour) of an RGB uint8 image.

    Evaluated once per distinct colour (24-bit key), so the cost follows the number of colours, not of pixels.
    """
    gmm = gmm or _packaged_gmm()
    img = np.ascontiguousarray(image, dtype=np.uint8)
    key = (img[..., 0].astype(np.uint32) << 16) | (img[..., 1].astype(np.uint32) << 8) | img[..., 2]
    uniq, inverse = np.unique(key.ravel(), return_inverse=True)
    rgb = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.uint8)
    post = gmm.posterior(rgb_to_ycbcr(rgb))
    return post[inverse].reshape(img.shape[:2])


class GmmSkinSegmenter:
    """F = {pixels with GMM skin posterior > ``threshold``} (no use of the landmarks). Baseline, not fair."""

    name = "gmm"

    def __init__(self, threshold: float = 0.5, params: str | Path | None = None) -> None:
        self.threshold = float(threshold)
        self.gmm = load_skin_gmm(params)

    def __call__(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise SegmenterError(f"gmm segmenter: image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        return skin_posterior(img, self.gmm) > self.threshold


SEGMENTER = Segmenter(
    kind="gmm",
    summary="the plain YCbCr Gaussian mixture (biased: it finds no skin in grey photos)",
    factory=lambda path: GmmSkinSegmenter(),
)
