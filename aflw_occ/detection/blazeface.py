"""MediaPipe BlazeFace short-range (``face_detection_short_range.tflite``) run with ai-edge-litert.

The model file ships inside the ``mediapipe==0.10.21`` wheel; ``aflw-occ models fetch mediapipe-blazeface`` extracts
it and checks its sha256 (:mod:`aflw_occ.models`). ai-edge-litert (``pip install 'aflw-occ[detect]'``) runs it on one
CPU thread. Everything around the network is written here from MediaPipe's published graph configuration
(``face_detection_short_range`` options):

1. **Input.** The image is letterboxed into a square (side ``L = max(H, W)``, centred, zero border) and sampled to
   128 × 128 by one bilinear affine warp in MediaPipe's own pixel convention: input pixel ``j`` reads the image at
   ``s + j·L/128`` (0-based pixel-centre coordinates, ``s`` the square's corner), then mapped to float32
   ``x/127.5 − 1`` (range [−1, 1]), RGB, NHWC. (Sampling at pixel centres instead, ``s + (j + ½)·L/128 − ½``,
   moves the input by 0.36 input pixels and the boxes by about 3 image pixels.)
2. **Anchors** (SSD anchor layout, :func:`anchor_centres`): 4 layers with strides 8, 16, 16, 16 on a 128 input;
   consecutive layers of equal stride share one feature map; each layer puts 2 anchors on every cell (aspect ratio
   1 and the interpolated scale, both of fixed size 1 with ``fixed_anchor_size``), centred at
   ``((x + 0.5)/F, (y + 0.5)/F)`` for feature map side ``F = 128/stride``. Result: 16·16·2 + 8·8·6 = 896 anchors,
   cells in row-major order, anchors of a cell consecutive.
3. **Decoding** (:func:`decode`): regressor row ``r`` (16 values: box ``x, y, w, h`` then 6 keypoints ``x, y``) of
   anchor ``(a_x, a_y)``: centre ``(a_x + r_0/128, a_y + r_1/128)``, size ``(r_2/128, r_3/128)`` in units of the
   input side; score ``σ(clip(c, −100, 100))``; candidates with score ≥ ``min_score`` (0.5) are kept.
4. **Weighted non-maximum suppression** (:func:`weighted_nms`, MediaPipe's ``WEIGHTED`` algorithm): take the best
   remaining candidate, gather every remaining candidate whose IoU with it exceeds ``iou_threshold`` (0.3), replace
   the group by the score-weighted mean of its boxes with the best score, repeat.
5. Boxes are mapped back from the letterboxed square to image pixels: ``x = s + u·L`` (0-based, MediaPipe's
   ``relative_bounding_box`` times the image size), ``+ 1`` into the 1-based box frame of :mod:`.boxes`.

Checked against MediaPipe 0.10.21's own ``FaceDetection`` solution (``model_selection=0``) on every 10th image of
AFLW2000-3D: the same number of faces on all 200 images, box IoU median 0.9988 (5th percentile 0.991), score
difference median 0.0003 (docs/benchmarks.md; the rest is JPEG decoding and LiteRT versions).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .base import Candidates, DetectorError, check_image
from .boxes import iou_matrix

INPUT_SIZE = 128
STRIDES: tuple[int, ...] = (8, 16, 16, 16)
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 + the interpolated scale (aspect 1.0)
ANCHOR_OFFSET = 0.5
NUM_COORDS = 16  # box (4) + 6 keypoints × (x, y)
MIN_SCORE = 0.5
NMS_IOU = 0.3
SCORE_CLIP = 100.0
MODEL = "mediapipe-blazeface"


def anchor_centres(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES) -> np.ndarray:
    """Anchor centres of the SSD layout described in the module docstring (all anchors have size 1).

    Consecutive layers with the same stride form one group on a feature map of side ``F = ceil(input/stride)``;
    every cell ``(x, y)`` of it (row-major) holds ``2·len(group)`` anchors at ``((x + ½)/F, (y + ½)/F)``.

    Returns:
        (A, 2) float64 ``(x, y)`` in units of the input side (A = 896 for the short-range model).
    """
    out: list[np.ndarray] = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        side = math.ceil(input_size / strides[i])
        per_cell = ANCHORS_PER_LAYER * (j - i)
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        centres = np.stack([(xs.ravel() + ANCHOR_OFFSET) / side, (ys.ravel() + ANCHOR_OFFSET) / side], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float64)


def decode(
    regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, min_score: float = MIN_SCORE
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and scores of the anchors whose score reaches ``min_score``.

    Args:
        regressors: (A, 16) raw regressor rows (``x, y, w, h`` of the box first, in input pixels).
        logits: (A,) raw class logits.
        anchors: (A, 2) anchor centres (:func:`anchor_centres`).

    Returns:
        ``(boxes (K, 4), scores (K,))``: ``[x0, y0, x1, y1]`` in units of the input side (0 = left edge, 1 = right
        edge of the 128 × 128 input), ``score = 1/(1 + exp(−clip(logit, −100, 100)))``, in anchor order.
    """
    r = np.asarray(regressors, dtype=np.float64).reshape(-1, NUM_COORDS)
    c = np.clip(np.asarray(logits, dtype=np.float64).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-c))
    keep = scores >= min_score
    r, a = r[keep], np.asarray(anchors, dtype=np.float64)[keep]
    cx = a[:, 0] + r[:, 0] / INPUT_SIZE
    cy = a[:, 1] + r[:, 1] / INPUT_SIZE
    w = r[:, 2] / INPUT_SIZE
    h = r[:, 3] / INPUT_SIZE
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, scores[keep]


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted non-maximum suppression (blending).

    Repeat until no candidate is left: ``t`` = the best remaining candidate (highest score; ties: lowest index);
    ``G = {j remaining : IoU(b_t, b_j) > iou_threshold}`` (``t ∈ G``); output box ``Σ_{j∈G} s_j b_j / Σ_{j∈G} s_j``
    with score ``s_t``; remove ``G``.

    Args:
        boxes: (K, 4). scores: (K,).

    Returns:
        ``(boxes (M, 4), scores (M,))``, best first.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    remaining = np.argsort(-s, kind="stable")
    out_b: list[np.ndarray] = []
    out_s: list[float] = []
    while remaining.size:
        top = remaining[0]
        overlap = iou_matrix(b[top], b[remaining])[0] > iou_threshold
        overlap[0] = True
        group = remaining[overlap]
        w = s[group]
        out_b.append((w[:, None] * b[group]).sum(axis=0) / w.sum())
        out_s.append(float(s[top]))
        remaining = remaining[~overlap]
    if not out_b:
        return np.zeros((0, 4)), np.zeros(0)
    return np.stack(out_b), np.asarray(out_s)


def letterbox(shape: tuple[int, ...]) -> np.ndarray:
    """The square ``[sx, sy, sx + L, sy + L]`` that centres an (H, W) image, ``L = max(H, W)``, in MediaPipe's
    convention (the image spans ``[0, W] × [0, H]``, pixel centres at the integers from 0)."""
    h, w = int(shape[0]), int(shape[1])
    side = float(max(h, w))
    sx, sy = (w - side) / 2.0, (h - side) / 2.0
    return np.array([sx, sy, sx + side, sy + side])


def model_input(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, square)``: the (1, 128, 128, 3) float32 input ``crop/127.5 − 1`` and the letterbox square it shows.

    ``crop[j, i] = bilinear(image)(sx + i·L/128, sy + j·L/128)`` (0-based pixel centres, zero outside).
    """
    import cv2

    square = letterbox(image.shape)
    a = (square[2] - square[0]) / INPUT_SIZE
    warp = np.array([[a, 0.0, square[0]], [0.0, a, square[1]]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    crop = cv2.warpAffine(image, warp, (INPUT_SIZE, INPUT_SIZE), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    x = crop.astype(np.float32)
    x *= np.float32(1.0 / 127.5)
    x -= np.float32(1.0)
    return x[None], square


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (TFLite's C++ log prints an INFO line when it creates its CPU delegate)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def make_interpreter(path: Path) -> Any:
    """An ai-edge-litert interpreter of ``path`` on one CPU thread, tensors allocated."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise DetectorError("the blazeface detector needs ai-edge-litert: pip install 'aflw-occ[detect]'") from None
    try:
        with _quiet_native_stderr():
            interpreter = Interpreter(model_path=str(path), num_threads=1)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise DetectorError(f"{path}: not a loadable TFLite model ({str(exc).strip().splitlines()[-1]})") from None
    return interpreter


class BlazeFaceDetector:
    """BlazeFace short-range as a :class:`~aflw_occ.detection.base.Detector` (see the module docstring).

    Args:
        model: the ``.tflite`` file (default: the fetched ``mediapipe-blazeface``, :func:`aflw_occ.models.model_path`).
        min_score: score a candidate needs (MediaPipe's default 0.5).
        iou_threshold: overlap above which candidates are blended (MediaPipe's 0.3).
    """

    name = "blazeface"

    def __init__(self, model: str | Path | None = None, min_score: float = MIN_SCORE, iou_threshold: float = NMS_IOU):
        from .. import models

        if model is None:
            path = models.model_path(MODEL)
            sha = models.MODELS[MODEL].sha256
        else:
            path = Path(model)
            if not path.is_file():
                raise DetectorError(f"{path}: BlazeFace model file does not exist")
            sha = models.sha256_file(path)
        if not 0.0 < min_score < 1.0 or not 0.0 <= iou_threshold <= 1.0:
            raise DetectorError(
                f"blazeface: min_score must be in (0, 1) and iou_threshold in [0, 1], got {min_score}, {iou_threshold}"
            )
        self._interpreter = make_interpreter(path)
        inp = self._interpreter.get_input_details()
        outs = {d["name"]: d for d in self._interpreter.get_output_details()}
        if (
            len(inp) != 1
            or tuple(inp[0]["shape"]) != (1, INPUT_SIZE, INPUT_SIZE, 3)
            or set(outs) != {"regressors", "classificators"}
        ):
            raise DetectorError(
                f"{path}: not the BlazeFace short-range model (input {inp[0]['shape']}, outputs {sorted(outs)})"
            )
        self._input = inp[0]["index"]
        self._reg = outs["regressors"]["index"]
        self._cls = outs["classificators"]["index"]
        self._anchors = anchor_centres()
        if outs["regressors"]["shape"][1] != len(self._anchors):
            raise DetectorError(
                f"{path}: {outs['regressors']['shape'][1]} boxes, the anchor layout has {len(self._anchors)}"
            )
        self.min_score = float(min_score)
        self.iou_threshold = float(iou_threshold)
        from importlib.metadata import version

        self.version = f"{path.name} sha256 {sha[:12]}, ai-edge-litert {version('ai-edge-litert')}"
        self.settings: dict[str, Any] = {
            "min_score": self.min_score,
            "nms": f"weighted, IoU > {self.iou_threshold}",
            "input": "letterbox, bilinear warp 128x128 (MediaPipe pixel convention), x/127.5-1",
        }

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The network's raw outputs for an image: ``(regressors (896, 16), logits (896,), square (4,))``."""
        x, square = model_input(check_image(image, "blazeface"))
        self._interpreter.set_tensor(self._input, x)
        self._interpreter.invoke()
        reg = np.array(self._interpreter.get_tensor(self._reg)[0], dtype=np.float64)
        logits = np.array(self._interpreter.get_tensor(self._cls)[0, :, 0], dtype=np.float64)
        return reg, logits, square

    def detect(self, image: np.ndarray) -> Candidates:
        """Every face BlazeFace finds in ``image`` ((H, W, 3) uint8 RGB), best score first."""
        reg, logits, square = self.raw(image)
        boxes, scores = weighted_nms(*decode(reg, logits, self._anchors, self.min_score), self.iou_threshold)
        side = square[2] - square[0]
        offset = np.array([square[0], square[1], square[0], square[1]]) + 1.0  # 0-based → 1-based
        return Candidates(boxes * side + offset, scores)
