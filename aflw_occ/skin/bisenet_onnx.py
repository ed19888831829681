"""BiSeNet face parsing without torch: label convention, pre/post-processing, and the onnxruntime segmenter.

This module never imports torch. The torch model (``bisenet.py``) reuses the numpy parts defined here, so the
torch and onnxruntime segmenters see exactly the same network input and produce masks the same way.

Label convention (19-class CelebAMask-HQ parsing of face-parsing.PyTorch, ``79999_iter.pth``)::

    0 background  1 skin     2 l_brow  3 r_brow  4 l_eye   5 r_eye   6 eye_g   7 l_ear   8 r_ear   9 ear_r
    10 nose       11 mouth   12 u_lip  13 l_lip  14 neck   15 neck_l 16 cloth  17 hair   18 hat

The facial classes used for the visible rate are skin, brows, eyes, nose, mouth and lips
(:data:`FACE_CLASSES`). Eyeglasses (6) are excluded because they occlude the face; ears (7, 8), earrings (9),
neck, necklace, cloth, hair and hat are not face surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ..registries import load_target
from .segmenter import Segmenter, SegmenterError

CLASS_NAMES: tuple[str, ...] = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
    "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)  # fmt: skip
N_CLASSES = 19
FACE_CLASSES: tuple[int, ...] = (1, 2, 3, 4, 5, 10, 11, 12, 13)
INPUT_SIZE = 512
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

Crop = Literal["landmarks", "full"]
Resize = Literal["cv2", "pil"]

# metadata written into exported ONNX files and checked when they are loaded
ONNX_MODEL_TAG = "aflw_occ.bisenet19"


class BiSeNetError(SegmenterError):
    """A BiSeNet checkpoint, ONNX file or segmenter input is unusable (wrong architecture, shape, file)."""


@dataclass(frozen=True)
class CropBox:
    """A square window ``[x0, x0 + side) × [y0, y0 + side)`` in image pixels; it may extend past the image."""

    x0: int
    y0: int
    side: int


def face_box(landmarks: np.ndarray, min_side: int = 16) -> CropBox:
    """Square face window with CelebA-HQ-like framing, from 68 landmarks (no rotation).

    With ``e_l``, ``e_r`` the means of the left (36–41) and right (42–47) eye points, ``e = (e_l + e_r)/2``,
    ``m`` the midpoint of the mouth corners (48, 54), ``d_ee = |e_r − e_l|`` and ``d_em = |m − e|``::

        half = max(2.0·d_ee, 1.8·d_em)      centre = e + 0.1·(m − e)      side = 2·half

    This is the framing of the CelebA-HQ alignment (Karras et al. 2018) that BiSeNet was trained on, minus its
    rotation. ``eye-to-mouth`` keeps the window sensible for profile faces, where the eye distance shrinks.

    Args:
        landmarks: (68, 2) or (68, 3) (x, y[, z]) with the centre of ``img[r, c]`` at (c, r) (0-based; the
            segmenter interface's AFLW2000-3D landmarks are 1-based, :func:`prepare` subtracts 1);
            only x, y are used.
        min_side: lower bound on the side in pixels.
    """
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    eye_l = pts[36:42].mean(axis=0)
    eye_r = pts[42:48].mean(axis=0)
    eye = (eye_l + eye_r) / 2.0
    mouth = (pts[48] + pts[54]) / 2.0
    half = max(2.0 * float(np.hypot(*(eye_r - eye_l))), 1.8 * float(np.hypot(*(mouth - eye))))
    centre = eye + 0.1 * (mouth - eye)
    side = max(int(round(2.0 * half)), min_side)
    x0 = int(np.floor(centre[0] - side / 2.0 + 0.5))
    y0 = int(np.floor(centre[1] - side / 2.0 + 0.5))
    return CropBox(x0, y0, side)


def crop_square(image: np.ndarray, box: CropBox) -> np.ndarray:
    """Cut ``box`` out of ``image`` (H, W, C); parts outside the image are black. Returns (side, side, C)."""
    h, w = image.shape[:2]
    out = np.zeros((box.side, box.side) + image.shape[2:], dtype=image.dtype)
    ys, ye = max(box.y0, 0), min(box.y0 + box.side, h)
    xs, xe = max(box.x0, 0), min(box.x0 + box.side, w)
    if ys < ye and xs < xe:
        out[ys - box.y0 : ye - box.y0, xs - box.x0 : xe - box.x0] = image[ys:ye, xs:xe]
    return out


def paste_square(labels: np.ndarray, box: CropBox, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`crop_square` for a label map: (side, side) → (H, W), 0 (background) outside."""
    h, w = shape
    out = np.zeros((h, w), dtype=labels.dtype)
    ys, ye = max(box.y0, 0), min(box.y0 + box.side, h)
    xs, xe = max(box.x0, 0), min(box.x0 + box.side, w)
    if ys < ye and xs < xe:
        out[ys:ye, xs:xe] = labels[ys - box.y0 : ye - box.y0, xs - box.x0 : xe - box.x0]
    return out


def resize_rgb(image: np.ndarray, size: int, method: Resize = "cv2") -> np.ndarray:
    """Resize an RGB uint8 image to (size, size, 3).

    ``"pil"`` is the official ``PIL.Image.resize((size, size), BILINEAR)`` (antialiased when shrinking).
    ``"cv2"`` uses ``cv2.INTER_LINEAR`` when enlarging (same pixel-centre convention as PIL; values differ
    by at most a rounding step) and ``cv2.INTER_AREA`` when shrinking in both directions (a box filter, close
    to PIL's antialiasing, where plain INTER_LINEAR would alias).
    """
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(image)
    if method == "pil":
        from PIL import Image

        return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((size, size), Image.BILINEAR))
    if method != "cv2":
        raise BiSeNetError(f"resize method must be 'cv2' or 'pil', got {method!r}")
    interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def normalise(image: np.ndarray) -> np.ndarray:
    """ImageNet normalisation of the official ``ToTensor`` + ``Normalize``, in float32.

    ``x[c] = (image[..., c] / 255 − mean[c]) / std[c]``,
    mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225).

    Args:
        image: (S, S, 3) uint8 RGB.

    Returns:
        (1, 3, S, S) float32 network input.
    """
    x = image.astype(np.float32) / np.float32(255.0)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def check_image(image: np.ndarray, landmarks: np.ndarray | None, need_landmarks: bool) -> None:
    """Raise :class:`BiSeNetError` unless image is (H, W, 3) uint8 and landmarks (68, 2|3) finite."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise BiSeNetError(f"segmenter image must be an (H, W, 3) uint8 RGB array, got {got}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise BiSeNetError(f"segmenter image is empty: shape {image.shape}")
    if landmarks is None:
        if need_landmarks:
            raise BiSeNetError("segmenter needs (68, 2|3) landmarks for crop='landmarks' (or crop='full')")
        return
    lm = np.asarray(landmarks)
    if lm.ndim != 2 or lm.shape[0] != 68 or lm.shape[1] not in (2, 3):
        raise BiSeNetError(f"segmenter landmarks must be (68, 2) or (68, 3) pixels, got shape {lm.shape}")
    if need_landmarks and not np.all(np.isfinite(lm[:, :2])):
        raise BiSeNetError("segmenter landmarks contain NaN or infinite values")


def prepare(
    image: np.ndarray, landmarks: np.ndarray | None, size: int, crop: Crop, resize: Resize
) -> tuple[np.ndarray, CropBox | None]:
    """Image (+ landmarks) → network input (1, 3, size, size) float32 and the crop box (None for 'full')."""
    if crop not in ("landmarks", "full"):
        raise BiSeNetError(f"crop must be 'landmarks' or 'full', got {crop!r}")
    check_image(image, landmarks, need_landmarks=crop == "landmarks")
    # segmenter landmarks follow the AFLW2000-3D release: centre of img[r, c] at (c + 1, r + 1)
    box = face_box(np.asarray(landmarks, np.float64)[:, :2] - 1.0) if crop == "landmarks" else None
    window = image if box is None else crop_square(image, box)
    return normalise(resize_rgb(window, size, resize)), box


def labels_to_image(labels: np.ndarray, box: CropBox | None, shape: tuple[int, int]) -> np.ndarray:
    """Network-resolution label map (S, S) → (H, W) of the image, nearest neighbour (pixel-centre aligned)."""
    if box is None:
        h, w = shape
        if labels.shape == (h, w):
            return labels
        return cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
    square = labels
    if labels.shape != (box.side, box.side):
        square = cv2.resize(labels, (box.side, box.side), interpolation=cv2.INTER_NEAREST_EXACT)
    return paste_square(square, box, shape)


def argmax_labels(logits: np.ndarray) -> np.ndarray:
    """(1, 19, S, S) logits → (S, S) uint8 class map (first maximum on ties, as ``torch.argmax``)."""
    return np.argmax(logits[0], axis=0).astype(np.uint8)


def class_mask(labels: np.ndarray, classes: tuple[int, ...] = FACE_CLASSES) -> np.ndarray:
    """(H, W) labels → (H, W) bool, true where the label is one of ``classes``."""
    lut = np.zeros(256, dtype=bool)
    lut[list(classes)] = True
    return lut[labels]


class BiSeNetOnnxSegmenter:
    """Face/skin segmenter running an exported BiSeNet (``aflw-occ export bisenet``) with onnxruntime only.

    ``segmenter(image, landmarks)`` → (H, W) bool mask of :data:`FACE_CLASSES`.

    Args:
        onnx_path: file written by ``aflw-occ export bisenet``: input (1, 3, S, S), logits (1, 19, S, S).
        threads: onnxruntime intra-op threads (None: onnxruntime's default).
        crop: ``"landmarks"`` (default) parses a CelebA-HQ-framed square around the face (:func:`face_box`);
            ``"full"`` resizes the whole image like the official test script.
        resize: ``"cv2"`` (default) or ``"pil"`` (the official PIL bilinear), see :func:`resize_rgb`.
        classes: the labels counted as face.
    """

    name = "bisenet-onnx"

    def __init__(
        self,
        onnx_path: str | Path,
        threads: int | None = None,
        crop: Crop = "landmarks",
        resize: Resize = "cv2",
        classes: tuple[int, ...] = FACE_CLASSES,
    ) -> None:
        import onnxruntime as ort

        path = Path(onnx_path)
        if not path.is_file():
            raise BiSeNetError(f"{path}: BiSeNet ONNX file not found")
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable/invalid files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BiSeNetError(f"{path}: not a loadable ONNX model ({first})") from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(inputs) != 1 or len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int):
            got = [i.shape for i in inputs]
            raise BiSeNetError(f"{path}: expected one input of shape (1, 3, S, S), got {got}")
        if not outputs or len(outputs[0].shape) != 4 or outputs[0].shape[1] != N_CLASSES:
            raise BiSeNetError(
                f"{path}: expected a (1, {N_CLASSES}, S, S) logits output, got {[o.shape for o in outputs]}"
            )
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        self.size = int(shape[2])
        self.crop: Crop = crop
        self.resize: Resize = resize
        self.classes = tuple(classes)
        self.path = path

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(1, 3, S, S) float32 normalised input → (1, 19, S, S) float32 main-head logits."""
        return self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(x, np.float32)})[0]

    def parse(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB (+ landmarks) → (H, W) uint8 class map (0 outside the face window)."""
        x, box = prepare(image, landmarks, self.size, self.crop, self.resize)
        return labels_to_image(argmax_labels(self.logits(x)), box, image.shape[:2])

    def __call__(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB, (68, 2|3) landmarks → (H, W) bool mask of the facial classes."""
        return class_mask(self.parse(image, landmarks), self.classes)


SEGMENTER = Segmenter(
    kind="bisenet-onnx",
    summary="the BiSeNet face parser exported to ONNX (`aflw-occ export bisenet`), run with onnxruntime",
    factory=lambda path: BiSeNetOnnxSegmenter(str(path)),
    path="PATH.onnx",
)
#: the torch BiSeNet (:class:`aflw_occ.skin.bisenet.BiSeNetSegmenter`) is declared here, with the parts it shares,
#: so that listing the segmenters never imports torch; its module is imported when a ``bisenet:`` spec is loaded
BISENET_TORCH = Segmenter(
    kind="bisenet",
    summary="the BiSeNet face parser with your face-parsing.PyTorch weights (`79999_iter.pth`), run with torch",
    factory=lambda path: load_target("aflw_occ.skin.bisenet:BiSeNetSegmenter")(str(path)),
    path="PATH.pth",
)
