"""Configurable pre-processing (crop, resize, colour order, normalisation, layout) and post-processing back to image
pixels, shared by the ONNX and torch adapters.

Pre-processing of one image ``I`` (RGB uint8) with crop box ``b``:
``x = (crop_resize(I, b, size)[..., order] − mean) / std`` as float32, laid out NCHW or NHWC.

Rows of a batch whose crops are byte-identical (e.g. a NOD row is its base image, with the clean row's crop box) are
fed to the model once (:func:`distinct_rows`) and share its output: their model input is exactly the same tensor.
(For the 3DDFA_V2 export a row's output does not depend on the other rows of its batch, so this gives the very bits
of feeding every row; checked in the tests.)

Post-processing: the model's landmark output in crop pixels (``(N, 68, 2|3)``, ``(N, 2|3, 68)``, ``(N, 136)`` or
``(N, 204)``; flat vectors are read as x0, y0[, z0], x1, ... unless ``flat_order="planar"``) is mapped to image
pixels by :func:`aflw_occ.crops.crop_to_image`, optionally after ``y ← size − y`` (models with y up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..crops import CROP_RULES, crop_batch, crop_boxes, crop_to_image
from ..errors import PredictionError
from .options import Option, convert_options, flag, floats, positive_int


@dataclass(frozen=True)
class Preprocess:
    """How an adapter turns images + ground-truth boxes into model input, and model output back into pixels.

    Attributes:
        crop: crop rule, one of :data:`aflw_occ.crops.CROP_RULES`.
        size: square input side in pixels.
        color: ``"rgb"`` or ``"bgr"`` channel order fed to the model.
        mean: subtracted per channel (scalar or 3 values, in the model's channel order), on the 0–255 scale.
        std: divisor per channel (scalar or 3 values).
        layout: ``"nchw"`` or ``"nhwc"``.
        resample: ``"3ddfa"`` (integer box, zero pad, cv2.resize) or ``"affine"`` (sub-pixel warp).
        flip_y: the model's y axis points up (``y ← size − y`` before mapping back).
        flat_order: ``"interleaved"`` (x0, y0, x1, ...) or ``"planar"`` (x0..x67, y0..y67, ...) for flat outputs.
    """

    crop: str = "3ddfa"
    size: int = 120
    color: str = "rgb"
    mean: float | tuple[float, ...] = 0.0
    std: float | tuple[float, ...] = 1.0
    layout: str = "nchw"
    resample: str = "3ddfa"
    flip_y: bool = False
    flat_order: str = "interleaved"

    def __post_init__(self) -> None:
        if self.crop not in CROP_RULES:
            raise PredictionError(f"unknown crop rule '{self.crop}' (choose from {', '.join(CROP_RULES)})")
        if self.color not in ("rgb", "bgr"):
            raise PredictionError(f"unknown colour order '{self.color}' (choose rgb or bgr)")
        if self.layout not in ("nchw", "nhwc"):
            raise PredictionError(f"unknown layout '{self.layout}' (choose nchw or nhwc)")
        if self.resample not in ("3ddfa", "affine"):
            raise PredictionError(f"unknown resample method '{self.resample}' (choose 3ddfa or affine)")
        if self.flat_order not in ("interleaved", "planar"):
            raise PredictionError(f"unknown flat order '{self.flat_order}' (choose interleaved or planar)")
        if int(self.size) <= 0:
            raise PredictionError(f"input size must be positive, got {self.size}")
        if not np.all(np.asarray(self.std, dtype=np.float64) != 0):
            raise PredictionError(f"std must not be 0, got {self.std}")

    def with_options(self, options: dict[str, str]) -> Preprocess:
        """A copy with options parsed from ``key=value`` strings (``mean=127.5`` or ``mean=0.5/0.5/0.5``) by
        :data:`PREPROCESS_OPTIONS`; :class:`PredictionError` for an unknown key or a bad value."""
        return replace(self, **convert_options(PREPROCESS_OPTIONS, options, "pre-processing"))

    def boxes(self, roi_boxes: np.ndarray | None, face_boxes: np.ndarray | None) -> np.ndarray:
        """(N, 4) crop boxes of this rule."""
        return crop_boxes(self.crop, roi_boxes=roi_boxes, face_boxes=face_boxes)

    def crops(self, images: Sequence[np.ndarray], boxes: np.ndarray, ids: Sequence[str] | None = None) -> np.ndarray:
        """(N, size, size, 3) uint8 crops in RGB."""
        out = crop_batch(images, boxes, self.size, method=self.resample, ids=ids)
        return out if out.dtype == np.uint8 else out.astype(np.uint8)

    def inputs(
        self, images: Sequence[np.ndarray], boxes: np.ndarray, ids: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Model input of the distinct crops of a batch and, per image, its row in it.

        Returns ``(x, inverse)``: ``x`` (M, ...) float32 = ``normalise(crops[keep])`` (M ≤ N, see
        :func:`distinct_rows`) and ``inverse`` (N,) with ``normalise(crops)[i] == x[inverse[i]]``.
        """
        crops = self.crops(images, boxes, ids)
        keep, inverse = distinct_rows(crops, boxes)
        return self.normalise(crops if len(keep) == len(crops) else crops[keep]), inverse

    def normalise(self, crops: np.ndarray) -> np.ndarray:
        """Model input from RGB uint8 crops (N, S, S, 3): float32 ``(x[..., order] − mean) / std``, laid out.

        Computed as ``(float32(x) − mean) · float32(1/std)`` channel by channel.
        """
        n, h, w = crops.shape[:3]
        order = (2, 1, 0) if self.color == "bgr" else (0, 1, 2)
        mean = np.broadcast_to(np.asarray(self.mean, dtype=np.float32), (3,))
        inv = 1.0 / np.broadcast_to(np.asarray(self.std, dtype=np.float32), (3,))
        x = np.empty((n, 3, h, w) if self.layout == "nchw" else (n, h, w, 3), dtype=np.float32)
        for o, c in enumerate(order):
            plane = x[:, o] if self.layout == "nchw" else x[..., o]
            plane[...] = crops[..., c]  # uint8 → float32 is exact
            plane -= mean[o]
            plane *= inv[o]
        return x

    def to_image(self, output: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Landmark output in crop pixels → (N, 68, 2|3) float64 image pixels (see the module docstring)."""
        pts = landmarks_from_output(output, self.flat_order)
        if self.flip_y:
            pts = pts.copy()
            pts[..., 1] = self.size - pts[..., 1]
        return crop_to_image(pts, boxes, self.size)


def distinct_rows(crops: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a crop batch that are byte-for-byte copies of an earlier row with the same crop box.

    Args:
        crops: (N, ...) crops.
        boxes: (N, 4) their crop boxes (only rows with equal boxes are compared).

    Returns:
        ``keep`` (M,) increasing row indices of the first occurrences, and ``inverse`` (N,) with
        ``crops[keep][inverse] == crops`` exactly.
    """
    n = len(crops)
    first = np.arange(n)
    seen: dict[bytes, list[int]] = {}
    data: dict[int, bytes] = {}

    def raw(i: int) -> bytes:
        if i not in data:
            data[i] = crops[i].tobytes()
        return data[i]

    b = np.ascontiguousarray(boxes, dtype=np.float64).reshape(n, -1)
    for i in range(n):
        reps = seen.setdefault(b[i].tobytes(), [])
        for j in reps:
            if raw(j) == raw(i):
                first[i] = j
                break
        else:
            reps.append(i)
    keep = np.flatnonzero(first == np.arange(n))
    pos = np.empty(n, dtype=np.int64)
    pos[keep] = np.arange(len(keep))
    return keep, pos[first]


def expand_rows(output: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """Model output of the distinct rows → output of every row (``output[inverse]``; no copy when all distinct)."""
    out = np.asarray(output)
    if len(inverse) == len(out) and np.array_equal(inverse, np.arange(len(out))):
        return out
    return out[inverse]


def landmarks_from_output(output: np.ndarray, flat_order: str = "interleaved") -> np.ndarray:
    """Interpret a landmark output as (N, 68, D), D ∈ {2, 3}.

    Accepted: (N, 68, D), (N, D, 68), (N, 68·D) read interleaved (x0, y0[, z0], x1, ...) or planar (all x, all y, ...).
    """
    out = np.asarray(output)
    if out.ndim == 3 and out.shape[1] == 68 and out.shape[2] in (2, 3):
        return out.astype(np.float64)
    if out.ndim == 3 and out.shape[2] == 68 and out.shape[1] in (2, 3):
        return out.transpose(0, 2, 1).astype(np.float64)
    if out.ndim == 2 and out.shape[1] in (136, 204):
        d = out.shape[1] // 68
        if flat_order == "planar":
            return out.reshape(-1, d, 68).transpose(0, 2, 1).astype(np.float64)
        return out.reshape(-1, 68, d).astype(np.float64)
    raise PredictionError(
        f"model output of shape {tuple(out.shape)} is not 68 landmarks "
        "(expected (N,68,2|3), (N,2|3,68), (N,136) or (N,204))"
    )


#: the pre-processing options of a model spec (``onnx:PATH,size=256,...``): one per :class:`Preprocess` field
PREPROCESS_OPTIONS: tuple[Option, ...] = (
    Option("crop", "crop rule: 3DDFA's boxes, the 3DDFA_V2 rule or the SADRNet/DSFNet 1.5× landmark box",
           choices=CROP_RULES, default="3ddfa"),
    Option("size", "square input side in pixels; must match the model's input (size=64 for a 64×64 model)",
           positive_int, "N", default="120"),
    Option("color", "channel order fed to the model", choices=("rgb", "bgr"), default="rgb"),
    Option("mean", "subtracted per channel on the 0–255 scale (one value or a/b/c)", floats, "M", default="0"),
    Option("std", "divisor per channel (one value or a/b/c)", floats, "S", default="1"),
    Option("layout", "tensor layout of the input", choices=("nchw", "nhwc"), default="nchw"),
    Option("resample", "3DDFA's integer-box crop + bilinear resize, or a sub-pixel affine warp",
           choices=("3ddfa", "affine"), default="3ddfa"),
    Option("flip_y", "the model's y axis points up (y ← size − y before mapping back)", flag, "0|1", default="0"),
    Option("flat_order", "how a flat (N, 136|204) output is ordered: x0,y0,x1,… or all x then all y",
           choices=("interleaved", "planar"), default="interleaved"),
)  # fmt: skip
