"""Pre- and post-processing exactly as the official evaluation (docs/dsfnet.md §3).

* Crop: box ``[l, t, r, b]`` (a 68-landmark bounding box or an equivalent detector box), centre
  ``c = ((l + r)/2, (t + b)/2)``, side ``s = int(1.5·((r - l) + (b - t))/2)``; the square ``[c - s/2, c + s/2]``
  is warped to 256×256 (bilinear, zero fill): ``p_crop = (p - (c - s/2))·256/s``.
* Standardisation: ``x = rgb/255``; per image and channel ``(x - mean)/sqrt(var + 0.001)`` (population variance).
* Back to image pixels: ``P = 280·p``; ``X = P_x·s/256 + c_x - s/2``, ``Y = P_y·s/256 + c_y - s/2``, ``Z = P_z·s/256``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InputError

CROP = 256
BOX_SCALE = 1.5
K_IMG = 280.0


@dataclass(frozen=True)
class CropTransform:
    """Square crop ``[cx - size/2, cx + size/2] × [cy - size/2, cy + size/2]`` resampled to ``CROP`` pixels."""

    cx: float
    cy: float
    size: float

    @property
    def origin(self) -> tuple[float, float]:
        return self.cx - self.size / 2.0, self.cy - self.size / 2.0

    def matrix(self) -> np.ndarray:
        """2×3 affine from image pixels to crop pixels."""
        k = CROP / self.size
        x0, y0 = self.origin
        return np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]], dtype=np.float64)

    def to_image(self, crop_px: np.ndarray) -> np.ndarray:
        """Crop-pixel points ``(..., 3)`` → image pixels (z scaled by the same factor)."""
        k = self.size / CROP
        x0, y0 = self.origin
        out = np.asarray(crop_px, dtype=np.float64) * k
        out[..., 0] += x0
        out[..., 1] += y0
        return out


def crop_from_box(box: np.ndarray, scale: float = BOX_SCALE) -> CropTransform:
    """``box [l, t, r, b]`` → crop transform (centre of the box, side ``int(scale·mean(w, h))``)."""
    box = np.asarray(box, dtype=np.float64)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise InputError(f"box must be 4 finite numbers [x0, y0, x1, y1], got {box.tolist()}")
    left, top, right, bottom = box
    if right <= left or bottom <= top:
        raise InputError(f"box {box.tolist()} is empty (need x1 > x0 and y1 > y0)")
    size = int(scale * ((right - left) + (bottom - top)) / 2.0)
    if size < 1:
        raise InputError(f"box {box.tolist()} is smaller than one pixel")
    return CropTransform((left + right) / 2.0, (top + bottom) / 2.0, float(size))


def crop_image(image: np.ndarray, transform: CropTransform) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` → the 256×256 crop (bilinear, zero fill)."""
    return cv2.warpAffine(
        image, transform.matrix(), (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def standardise(crops: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 256, 256, 3)`` RGB → float32 ``(N, 3, 256, 256)``: per image and channel
    ``(x - mean)/sqrt(var + 0.001)`` with ``x = rgb/255`` (float32 arithmetic, population variance)."""
    crops = check_images(crops, square=CROP)
    out = np.empty((crops.shape[0], 3, CROP, CROP), np.float32)
    for n in range(crops.shape[0]):
        img = crops[n].astype(np.float32) / np.float32(255.0)
        for c in range(3):
            ch = img[:, :, c]
            out[n, c] = (ch - ch.mean()) / np.sqrt(ch.var() + np.float32(0.001))
    return out


def check_images(images: np.ndarray, square: int | None = None) -> np.ndarray:
    """Validate uint8 RGB ``(N, H, W, 3)`` (optionally ``H = W = square``); raise :class:`InputError` otherwise."""
    if not isinstance(images, np.ndarray):
        raise InputError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise InputError(f"images must be uint8 RGB, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"images must have shape (N, H, W, 3), got {images.shape}")
    if square is not None and images.shape[1:3] != (square, square):
        raise InputError(f"crops must be {square}×{square}, got {images.shape[1]}×{images.shape[2]}")
    return images


def uv_to_image(points: np.ndarray, transform: CropTransform) -> np.ndarray:
    """Network-unit points ``(..., 3)`` (crop pixels / 280) → image pixels."""
    return transform.to_image(np.asarray(points, np.float64) * K_IMG)
