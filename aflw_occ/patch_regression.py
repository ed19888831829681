"""A tiny landmark model that looks at the pixels: cascaded local linear regression on grey patches, with a PCA
shape model (the supervised-descent idea of Xiong & De la Torre, CVPR 2013, with one small regressor per landmark).

It is the demo's predictor (``aflw-occ demo`` trains it in about a second on procedural faces): small enough to train
at run time, and dependent on the pixels, so an occluder over a landmark visibly moves its error. It is not a
face-alignment model for real photographs.

Frame. A face box ``[x0, y0, x1, y1]`` (the benchmark's ground-truth 68-point box) gives the centre ``c`` and the
scale ``s = √(w·h)`` (the NME normaliser); a shape ``p`` (68, 2) in image pixels is ``u = (p − c) / s`` in the frame.

Prediction. Start at the training mean shape ``u⁰``; stage ``k`` (patch radius ``r_k``, shrinking) samples, around
each landmark ``l``, a ``G × G`` grid of grey values spanning ``±r_k·s`` (bilinear; landmarks are 1-based pixels,
the centre of ``img[y, x]`` is ``(x + 1, y + 1)``), standardises it (``(v − mean) / (std + 4)``), appends 1 and
moves the landmark by ``Δu_l = W_{k,l}ᵀ φ_l`` (``W_{k,l}``: (G² + 1, 2)); then the shape is projected on the mean +
the first ``modes`` principal components of the training shapes.

Training. Ridge regression per stage and landmark, ``W = (XᵀX + λI)⁻¹ XᵀΔ``, on ``per_image`` perturbed starts per
training face (mean shape scaled by U(0.9, 1.1), shifted by N(0, 0.04)), each stage trained on where the previous
stages leave them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

#: patch radius of each stage, in units of the face scale s (coarse to fine)
RADII = (0.30, 0.18, 0.10, 0.06)
GRID = 7  # G: samples per patch side
#: added to a patch's standard deviation (grey levels): a flat patch (the inside of an occluder) stays near zero
FLAT = 4.0


def frame(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) boxes [x0, y0, x1, y1] → centres (N, 2) and scales s = √(w·h) (N,)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    size = boxes[:, 2:] - boxes[:, :2]
    return (boxes[:, :2] + boxes[:, 2:]) / 2, np.sqrt(size[:, 0] * size[:, 1])


def landmark_boxes(landmarks: np.ndarray) -> np.ndarray:
    """(N, 68, 2+) landmarks → (N, 4) tight boxes [x0, y0, x1, y1]."""
    xy = np.asarray(landmarks)[..., :2]
    return np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)


def grey(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) → float32 grey (H, W)."""
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def patch_features(
    image: np.ndarray, shapes: np.ndarray, centre: np.ndarray, scale: float, radius: float, grid: int = GRID
) -> np.ndarray:
    """Standardised grey patches of one image around each landmark of each shape, with a bias term.

    ``image``: float32 grey (H, W); ``shapes``: (M, 68, 2) in the frame of (``centre``, ``scale``) →
    (M, 68, grid² + 1) float64."""
    t = np.linspace(-radius, radius, grid)
    gx, gy = np.meshgrid(t, t)
    offsets = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (G², 2)
    points = centre + scale * (shapes[:, :, None, :] + offsets)  # (M, 68, G², 2) image pixels, 1-based
    xy = (points - 1.0).astype(np.float32).reshape(1, -1, 2)
    values = cv2.remap(image, xy, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    v = values.reshape(*shapes.shape[:2], grid * grid).astype(np.float64)
    v = (v - v.mean(axis=2, keepdims=True)) / (v.std(axis=2, keepdims=True) + FLAT)
    return np.concatenate([v, np.ones((*v.shape[:2], 1))], axis=2)


@dataclass(frozen=True)
class PatchRegressor:
    """A trained model (module docstring): ``start`` (68, 2) mean shape in the frame; the shape model
    ``shape_mean`` (136,) and ``shape_basis`` (modes, 136); per stage the radius and the weights (68, G² + 1, 2)."""

    start: np.ndarray
    shape_mean: np.ndarray
    shape_basis: np.ndarray
    radii: tuple[float, ...]
    weights: tuple[np.ndarray, ...]
    grid: int
    trained_on: int
    name: str = "patch-regression"

    def describe(self) -> str:
        """One line: what the model is."""
        return (f"{self.name}: per-landmark linear regression on {self.grid}x{self.grid} grey patches, "
                f"{len(self.radii)} stages, {len(self.shape_basis)}-mode PCA shape")  # fmt: skip

    def _constrain(self, shapes: np.ndarray) -> np.ndarray:
        flat = shapes.reshape(len(shapes), -1) - self.shape_mean
        return (self.shape_mean + flat @ self.shape_basis.T @ self.shape_basis).reshape(shapes.shape)

    def _stage(self, k: int, greys: Sequence[np.ndarray], shapes: np.ndarray, centres: np.ndarray,
               scales: np.ndarray, owner: np.ndarray) -> np.ndarray:  # fmt: skip
        """Features of every shape under stage ``k`` (``owner[m]``: the image of shape ``m``) → (M, 68, G² + 1)."""
        out = np.empty((*shapes.shape[:2], self.grid * self.grid + 1))
        for i, g in enumerate(greys):
            rows = np.flatnonzero(owner == i)
            out[rows] = patch_features(g, shapes[rows], centres[i], float(scales[i]), self.radii[k], self.grid)
        return out

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> np.ndarray:
        """(N, 68, 2) landmarks in image pixels of RGB images, given their face boxes: an (N, 4) array
        [x0, y0, x1, y1], or an object with ``.face`` (``aflw_occ.evaluate.FaceBoxes``)."""
        face = np.asarray(getattr(boxes, "face", boxes), dtype=np.float64)
        centres, scales = frame(face)
        greys = [grey(im) for im in images]
        shapes = np.repeat(self.start[None], len(images), axis=0)
        owner = np.arange(len(images))
        for k, w in enumerate(self.weights):
            x = self._stage(k, greys, shapes, centres, scales, owner)
            shapes = self._constrain(shapes + np.einsum("mld,ldc->mlc", x, w))
        return centres[:, None, :] + scales[:, None, None] * shapes


def train(
    images: Sequence[np.ndarray],
    landmarks: np.ndarray,
    *,
    seed: int = 0,
    per_image: int = 8,
    ridge: float = 10.0,
    modes: int = 12,
    radii: tuple[float, ...] = RADII,
    grid: int = GRID,
) -> PatchRegressor:
    """Train on RGB ``images`` with their (N, 68, 2) ground-truth ``landmarks`` (image pixels; the face box of each
    is the tight box of its landmarks, as at prediction)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)[..., :2]
    centres, scales = frame(landmark_boxes(landmarks))
    truth = (landmarks - centres[:, None]) / scales[:, None, None]  # (N, 68, 2)
    flat = truth.reshape(len(truth), -1)
    shape_mean = flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat - shape_mean, full_matrices=False)
    start = shape_mean.reshape(68, 2)
    rng = np.random.default_rng(seed)
    owner = np.repeat(np.arange(len(images)), per_image)
    shapes = start[None] * rng.uniform(0.9, 1.1, (len(owner), 1, 1)) + rng.normal(0, 0.04, (len(owner), 1, 2))
    model = PatchRegressor(start, shape_mean, vt[:modes], tuple(radii), (), grid, len(images))
    greys = [grey(im) for im in images]
    weights = []
    for k in range(len(radii)):
        x = model._stage(k, greys, shapes, centres, scales, owner)  # (M, 68, d)
        delta = truth[owner] - shapes  # (M, 68, 2)
        xl = x.transpose(1, 0, 2)  # (68, M, d)
        gram = xl.transpose(0, 2, 1) @ xl + ridge * np.eye(x.shape[2])
        w = np.linalg.solve(gram, xl.transpose(0, 2, 1) @ delta.transpose(1, 0, 2))  # (68, d, 2)
        weights.append(w)
        shapes = model._constrain(shapes + np.einsum("mld,ldc->mlc", x, w))
    return PatchRegressor(start, shape_mean, vt[:modes], tuple(radii), tuple(weights), grid, len(images))
