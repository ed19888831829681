"""Crop rules of the field and the crop → resize → back-to-image-pixels geometry.

Every box here is ``[sx, sy, ex, ey]`` in image pixels (x right, y down), float64, shape ``(N, 4)``.

Standard rules (boxes come from the ground truth, as in the field's benchmarks):

* ``3ddfa``: 3DDFA's per-image crop box ``AFLW2000-3D_crop.roi_box.npy`` used as is (the same box for every
  occluded variant of an image). It may extend beyond the image; the outside is zero-filled.
* ``3ddfa-v2``: the rule 3DDFA_V2 applies to a face box ``(l, t, r, b)``:
  ``s = (r − l + b − t) / 2``, centre ``(r − (r − l)/2, b − (b − t)/2 + 0.14·s)``, side ``1.58·s``.
  Driven here by the tight box of the 68 ground-truth points (x/y extents) as the face box.
* ``landmarks-1.5`` (SADRNet / DSFNet, PRNet family): tight box of the 68 points,
  centre ``((l + r)/2, (t + b)/2)``, side ``int(1.5·((r − l) + (b − t))/2)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import AflwOccError

CROP_RULES: tuple[str, ...] = ("3ddfa", "3ddfa-v2", "landmarks-1.5")


class CropError(AflwOccError):
    """A crop rule or box is invalid (unknown rule, empty or non-finite box)."""


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    """Tight box of 2D/3D landmarks.

    Args:
        landmarks: (N, K, 2|3) points in image pixels.

    Returns:
        (N, 4) ``[min x, min y, max x, max y]``.
    """
    pts = np.asarray(landmarks, dtype=np.float64)[..., :2]
    return np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1)


def tddfa_v2_box(face_boxes: np.ndarray) -> np.ndarray:
    """3DDFA_V2's square crop box from a face box.

    ``s = (r − l + b − t)/2``; centre ``c = (r − (r − l)/2, b − (b − t)/2 + 0.14 s)``; side ``1.58 s``;
    box ``[c_x − side/2, c_y − side/2, c_x + side/2, c_y + side/2]``.

    Args:
        face_boxes: (N, 4) ``[l, t, r, b]``.

    Returns:
        (N, 4) crop boxes.
    """
    b = np.asarray(face_boxes, dtype=np.float64)
    le, t, r, bo = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    s = (r - le + bo - t) / 2.0
    cx = r - (r - le) / 2.0
    cy = bo - (bo - t) / 2.0 + 0.14 * s
    half = 1.58 * s / 2.0
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def scaled_box(face_boxes: np.ndarray, factor: float = 1.5, integer_side: bool = True) -> np.ndarray:
    """The SADRNet/DSFNet crop box from a tight landmark box: same centre, side ``int(factor · (w + h)/2)``.

    Args:
        face_boxes: (N, 4) tight ``[l, t, r, b]`` box of the 68 landmarks.
        factor: enlargement of the mean side (1.5 for SADRNet/DSFNet, 1.6 for PRNet).
        integer_side: truncate the side to an integer as the reference code does.

    Returns:
        (N, 4) crop boxes ``[c_x − s/2, c_y − s/2, c_x + s/2, c_y + s/2]``.
    """
    tight = np.asarray(face_boxes, dtype=np.float64)
    w = tight[:, 2] - tight[:, 0]
    h = tight[:, 3] - tight[:, 1]
    side = factor * (w + h) / 2.0
    if integer_side:
        side = np.trunc(side)
    cx = (tight[:, 0] + tight[:, 2]) / 2.0
    cy = (tight[:, 1] + tight[:, 3]) / 2.0
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def crop_boxes(rule: str, *, roi_boxes: np.ndarray | None, face_boxes: np.ndarray | None) -> np.ndarray:
    """The (N, 4) crop boxes of a named rule from the ground-truth boxes it needs.

    Args:
        rule: one of :data:`CROP_RULES`.
        roi_boxes: (N, 4) 3DDFA crop boxes (rule ``3ddfa``).
        face_boxes: (N, 4) tight boxes of the 68 ground-truth points (``3ddfa-v2``, ``landmarks-1.5``).
    """
    if rule == "3ddfa":
        if roi_boxes is None:
            raise CropError(
                "crop rule '3ddfa' needs the 3DDFA roi boxes (AFLW2000-3D_crop.roi_box.npy): give the 3DDFA "
                "evaluation folder (--eval-dir) or choose crop=3ddfa-v2 / landmarks-1.5"
            )
        return np.asarray(roi_boxes, dtype=np.float64).reshape(-1, 4)
    if rule not in CROP_RULES:
        raise CropError(f"unknown crop rule '{rule}' (choose from {', '.join(CROP_RULES)})")
    if face_boxes is None:
        raise CropError(f"crop rule '{rule}' needs ground-truth face boxes, none given")
    if rule == "3ddfa-v2":
        return tddfa_v2_box(face_boxes)
    return scaled_box(face_boxes, 1.5)


def _check_box(box: np.ndarray, where: str) -> None:
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise CropError(f"{where}: invalid crop box {box.tolist()} (need finite [sx, sy, ex, ey] with ex>sx, ey>sy)")


def crop_resize(
    image: np.ndarray, box: np.ndarray, size: int, *, method: str = "3ddfa", where: str = "image"
) -> np.ndarray:
    """Crop a box out of an image (zero outside the image) and resize it to ``size × size`` bilinearly.

    ``method="3ddfa"`` reproduces 3DDFA's ``crop_img``: the box is rounded to integers, the part inside the
    image is copied into a zero canvas of the box size, which ``cv2.resize`` (INTER_LINEAR) brings to
    ``size × size``. ``method="affine"`` samples the exact (sub-pixel) box with one affine warp:
    destination pixel centre ``j + ½`` reads source ``sx + (j + ½)·(ex − sx)/size − ½`` (bilinear, zero fill).

    Args:
        image: (H, W, C) uint8.
        box: (4,) ``[sx, sy, ex, ey]``.
        size: output side in pixels.

    Returns:
        (size, size, C) uint8.
    """
    import cv2

    box = np.asarray(box, dtype=np.float64)
    _check_box(box, where)
    h, w = image.shape[:2]
    if method == "3ddfa":
        sx, sy, ex, ey = (int(round(v)) for v in box)
        if ex <= sx or ey <= sy:
            raise CropError(f"{where}: crop box {box.tolist()} is empty after rounding")
        x0, y0, x1, y1 = max(sx, 0), max(sy, 0), min(ex, w), min(ey, h)
        if (x0, y0, x1, y1) == (sx, sy, ex, ey):  # inside the image: no canvas needed, same pixels
            canvas = image[sy:ey, sx:ex]
        else:
            canvas = np.zeros((ey - sy, ex - sx, *image.shape[2:]), dtype=image.dtype)
            if x1 > x0 and y1 > y0:
                canvas[y0 - sy : y1 - sy, x0 - sx : x1 - sx] = image[y0:y1, x0:x1]
        return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_LINEAR)
    if method == "affine":
        ax = (box[2] - box[0]) / size
        ay = (box[3] - box[1]) / size
        m = np.array([[ax, 0.0, box[0] + 0.5 * ax - 0.5], [0.0, ay, box[1] + 0.5 * ay - 0.5]])
        return cv2.warpAffine(
            image,
            m,
            (size, size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    raise CropError(f"unknown crop method '{method}' (choose 3ddfa or affine)")


def crop_batch(
    images: Sequence[np.ndarray],
    boxes: np.ndarray,
    size: int,
    *,
    method: str = "3ddfa",
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Crop and resize a batch: (N, size, size, C) uint8 from N images and (N, 4) boxes.

    Row ``i`` equals ``crop_resize(images[i], boxes[i], size, method=method)``; the boxes are checked and rounded
    for the whole batch at once and each crop is written straight into the output (one cv2 call per image).
    """
    import cv2

    boxes = np.asarray(boxes, dtype=np.float64)
    if len(images) != len(boxes):
        raise CropError(f"{len(images)} images but {len(boxes)} crop boxes")

    def where(i: int) -> str:
        return ids[i] if ids is not None else f"sample {i}"

    n = len(images)
    if n == 0:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    kinds = {(img.shape[2:], img.dtype) for img in images}
    if method != "3ddfa" or boxes.shape != (n, 4) or len(kinds) != 1:  # general path, one image at a time
        crops = [crop_resize(img, boxes[i], size, method=method, where=where(i)) for i, img in enumerate(images)]
        return np.stack(crops)
    bad = ~(np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))
    if bad.any():
        i = int(np.argmax(bad))
        _check_box(boxes[i], where(i))
    ib = np.round(boxes).astype(np.int64)  # round half to even, like round() in crop_resize
    empty = (ib[:, 2] <= ib[:, 0]) | (ib[:, 3] <= ib[:, 1])
    if empty.any():
        i = int(np.argmax(empty))
        raise CropError(f"{where(i)}: crop box {boxes[i].tolist()} is empty after rounding")
    channels, dtype = kinds.pop()
    out = np.empty((n, size, size, *channels), dtype=dtype)
    for i, (img, (sx, sy, ex, ey)) in enumerate(zip(images, ib.tolist(), strict=True)):
        h, w = img.shape[:2]
        x0, y0, x1, y1 = max(sx, 0), max(sy, 0), min(ex, w), min(ey, h)
        if (x0, y0, x1, y1) == (sx, sy, ex, ey):
            canvas = img[sy:ey, sx:ex]
        else:
            canvas = np.zeros((ey - sy, ex - sx, *img.shape[2:]), dtype=img.dtype)
            if x1 > x0 and y1 > y0:
                canvas[y0 - sy : y1 - sy, x0 - sx : x1 - sx] = img[y0:y1, x0:x1]
        out[i] = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_LINEAR).reshape(out.shape[1:])
    return out


def crop_to_image(points: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Map points from crop pixels back to image pixels.

    ``x = x_c·(ex − sx)/size + sx``, ``y = y_c·(ey − sy)/size + sy``, ``z = z_c·(s_x + s_y)/2`` with
    ``s_x = (ex − sx)/size``, ``s_y = (ey − sy)/size`` (3DDFA's ``similar_transform`` without its z shift).

    Args:
        points: (N, K, 2|3) points in crop pixels.
        boxes: (N, 4) crop boxes in image pixels.
        size: crop side in pixels.

    Returns:
        (N, K, 2|3) float64 points in image pixels.
    """
    pts = np.array(points, dtype=np.float64, copy=True)
    b = np.asarray(boxes, dtype=np.float64)
    sx = ((b[:, 2] - b[:, 0]) / size)[:, None]
    sy = ((b[:, 3] - b[:, 1]) / size)[:, None]
    pts[..., 0] = pts[..., 0] * sx + b[:, 0:1]
    pts[..., 1] = pts[..., 1] * sy + b[:, 1:2]
    if pts.shape[-1] > 2:
        pts[..., 2] = pts[..., 2] * (sx + sy) / 2.0
    return pts


def image_to_crop(points: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Inverse of :func:`crop_to_image`: image pixels → crop pixels. Shapes as there."""
    pts = np.array(points, dtype=np.float64, copy=True)
    b = np.asarray(boxes, dtype=np.float64)
    sx = ((b[:, 2] - b[:, 0]) / size)[:, None]
    sy = ((b[:, 3] - b[:, 1]) / size)[:, None]
    pts[..., 0] = (pts[..., 0] - b[:, 0:1]) / sx
    pts[..., 1] = (pts[..., 1] - b[:, 1:2]) / sy
    if pts.shape[-1] > 2:
        pts[..., 2] = pts[..., 2] / ((sx + sy) / 2.0)
    return pts
