"""Contact sheets: a grid of samples with the occluder outline and the ground-truth landmarks drawn on them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .geometry import PIXEL_OFFSET

VISIBLE = (40, 220, 40)
OCCLUDED = (255, 40, 40)
OUTLINE = (255, 230, 0)


def annotate(
    image: np.ndarray,
    landmarks: np.ndarray | None = None,
    occluded: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    label: str | None = None,
) -> np.ndarray:
    """A copy of an RGB image with the mask outline (yellow), visible landmarks (green) and occluded ones (red)."""
    out = np.ascontiguousarray(image.copy())
    scale = max(1, round(max(out.shape[:2]) / 300))
    if mask is not None and mask.any():
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, OUTLINE, scale)
    if landmarks is not None:
        flags = np.zeros(len(landmarks), bool) if occluded is None else np.asarray(occluded, bool)
        for (x, y), occ in zip(landmarks[:, :2] - PIXEL_OFFSET, flags, strict=True):
            cv2.circle(out, (round(x), round(y)), scale + 1, OCCLUDED if occ else VISIBLE, -1, cv2.LINE_AA)
    if label:
        cv2.putText(out, label, (4, 14 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, (0, 0, 0), 3 * scale)
        cv2.putText(out, label, (4, 14 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, (255, 255, 255), scale)
    return out


def grid(tiles: Sequence[np.ndarray], ncols: int = 6, tile: int = 225, pad: int = 2) -> np.ndarray:
    """Arrange RGB tiles (resized to ``tile``×``tile``) in a grid on a dark background."""
    if not tiles:
        raise ValueError("contact sheet needs at least one image")
    ncols = min(ncols, len(tiles))
    nrows = -(-len(tiles) // ncols)
    sheet = np.full((nrows * (tile + pad) + pad, ncols * (tile + pad) + pad, 3), 24, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        y, x = pad + r * (tile + pad), pad + c * (tile + pad)
        sheet[y : y + tile, x : x + tile] = cv2.resize(t, (tile, tile), interpolation=cv2.INTER_AREA)
    return sheet


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB image as PNG (atomically)."""
    from .atomic import atomic_path

    with atomic_path(path, make_parent=True) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: cannot write image")
