"""Drawn samples: the face of one image with its ground truth, a prediction and the occluder outline, rendered at the
size the page shows it and stored as JPEG (a few tens of kilobytes, not a full-size PNG)."""

from __future__ import annotations

import base64

import numpy as np

from ..errors import AflwOccError

__all__ = ["GT_COLOR", "PRED_COLOR", "OUTLINE_COLOR", "face_view_box", "draw_tile", "encode_jpeg", "worst_rows"]

GT_COLOR = (40, 200, 40)
PRED_COLOR = (235, 35, 35)
OUTLINE_COLOR = (255, 215, 0)
JPEG_QUALITY = 75
#: the view box's side in units of the larger side of the ground-truth landmark box
VIEW_MARGIN = 1.5


def face_view_box(gt: np.ndarray, margin: float = VIEW_MARGIN) -> np.ndarray:
    """Square view [x0, y0, x1, y1] centred on the ground-truth landmark box, side ``margin`` × its longer side."""
    lo, hi = np.nanmin(gt[:, :2], axis=0), np.nanmax(gt[:, :2], axis=0)
    c = (lo + hi) / 2
    side = max(float(np.max(hi - lo)) * margin, 1.0)
    return np.array([c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2])


def draw_tile(
    image: np.ndarray, gt: np.ndarray, pred: np.ndarray | None, mask: np.ndarray | None = None, tile: int = 300
) -> np.ndarray:
    """A ``tile × tile`` RGB view of the face: the image resampled once to the display size (area filter), the
    occluder outline (yellow), a line from each ground-truth point to its prediction, ground truth (green) and
    prediction (red) as dots. Pixel centres map as x_tile = (x − x0) · tile / side."""
    import cv2

    box = face_view_box(gt)
    s = tile / float(box[2] - box[0])
    m = np.array([[s, 0.0, -box[0] * s], [0.0, s, -box[1] * s]])
    out = cv2.warpAffine(np.ascontiguousarray(image), m, (tile, tile), flags=cv2.INTER_AREA, borderValue=(0, 0, 0))
    if mask is not None and mask.any():
        warped = cv2.warpAffine(mask.astype(np.uint8) * 255, m, (tile, tile), flags=cv2.INTER_LINEAR)
        contours, _ = cv2.findContours((warped >= 128).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, OUTLINE_COLOR, 2, lineType=cv2.LINE_AA)
    g = (gt[:, :2] - box[:2]) * s
    p = None if pred is None else (pred[:, :2] - box[:2]) * s
    shift = 4  # sub-pixel positions for cv2 drawing (fixed point, 4 fractional bits)

    def pt(v: np.ndarray) -> tuple[int, int]:
        return int(round(v[0] * (1 << shift))), int(round(v[1] * (1 << shift)))

    ok = np.isfinite(g).all(axis=1)
    if p is not None:
        ok_p = np.isfinite(p).all(axis=1)
        for a, b in zip(g[ok & ok_p], p[ok & ok_p], strict=True):
            cv2.line(out, pt(a), pt(b), (255, 255, 255), 1, cv2.LINE_AA, shift)
    for v in g[ok]:
        cv2.circle(out, pt(v), 3 << shift, GT_COLOR, -1, cv2.LINE_AA, shift)
    if p is not None:
        for v in p[np.isfinite(p).all(axis=1)]:
            cv2.circle(out, pt(v), 3 << shift, PRED_COLOR, -1, cv2.LINE_AA, shift)
    return out


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """Base64 of the JPEG of an RGB image (OpenCV: baseline, 4:2:0 chroma, optimised Huffman tables)."""
    import cv2

    flags = [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), flags)
    if not ok:
        raise AflwOccError("JPEG encoding of a drawn sample failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def worst_rows(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, largest first; NaN (a missing prediction) ranks before every number,
    ties keep row order."""
    s = np.asarray(score, dtype=np.float64)
    key = np.where(np.isnan(s), np.inf, s)
    order = np.argsort(-key, kind="stable")
    return order[: max(0, k)]
