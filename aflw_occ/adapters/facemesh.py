"""MediaPipe FaceMesh (``face_landmark.tflite``, 468 points) run with LiteRT, mapped to the 68 iBUG points; 2D only.

Optional: ``pip install 'aflw-occ[mediapipe]'`` (``ai-edge-litert``, the TensorFlow Lite runtime, numpy 2
compatible) and the model file: ``aflw-occ models fetch mediapipe-facemesh`` (extracted from the mediapipe 0.10.21
wheel, sha256-checked; :mod:`aflw_occ.models`).

Pre-processing of image ``I`` with face box ``[l, t, r, b]`` (``FaceBoxes.face``: the tight box of the 68 points,
1-based, under the ground-truth box protocol; under the detector box protocol its estimate from the detector's box by
the detector's box convention, :mod:`aflw_occ.detection.calibration`, so the same crop rule applies to both):

* crop: an upright square of side ``S = 1.5·max(r − l, b − t)`` centred on the box centre;
* sampled at 192×192 bilinearly in float64 (output pixel centre ``j + ½`` reads the source at
  ``x0 + (j + ½)·S/192 − ½`` in 0-based pixel-centre coordinates, ``x0 = cx − S/2`` the crop's left edge in
  pixel-edge coordinates; zero outside the image), each coordinate interpolated with elementwise numpy operations
  so the input is the same bits on every machine; RGB scaled to [0, 1], float32, NHWC.

Inference: one image per ``invoke`` on a single-thread interpreter (LiteRT's default XNNPACK CPU kernels), one
interpreter per worker thread. Output ``conv2d_21`` (1, 1, 1, 1404): 468 × (x, y, z) in crop pixels; x, y are
mapped back to image pixels (``x0 + x·S/192``, then + ½ into the 1-based frame of ``pt3d_68``); z is dropped (its
scale and sign are MediaPipe's own), so only the 2D protocols apply.

468 → 68 (:data:`FACEMESH_TO_68`): each iBUG point is one FaceMesh vertex or the mean of two, chosen by hand from
the mesh's anatomy (eye corners and lids, brow centre lines as the mean of the upper and lower brow-contour vertex,
nose bridge and base, lip contours); the 51 inner points were fixed before any comparison with ground truth. The 17
jaw points are **approximate**: vertices of FaceMesh's face oval (the outer rim of the mesh) at the heights of the
iBUG jaw points — eye height (iBUG 0 / 16), nose-tip height (2 / 14), mouth-corner height (4 / 12), the chin (8) —
while AFLW2000-3D's jaw points are fixed vertices of a different 3D model. (A first choice, evenly spaced along the
oval from the cheek, sat one vertex too low on clean frontal images and was corrected to these heights once; see
``docs/baselines.md``.) Report the ``points=inner-51`` numbers next to the 68-point ones.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PredictionError
from .options import Option
from .registry import Adapter

INPUT_SIZE = 192
CROP_SCALE = 1.5
LANDMARK_OUTPUT = "conv2d_21"
N_MESH = 468

#: iBUG 68 point (0-based) → the FaceMesh vertices whose mean it is.
FACEMESH_TO_68: tuple[tuple[int, ...], ...] = (
    # jaw 0–16 (approximate): face-oval vertices at the heights of the iBUG jaw points, from the subject's right
    # (image left) at eye height (0) via nose-tip height (2), mouth-corner height (4) and the chin (8), and mirrored
    (127,), (234,), (93,), (132,), (58,), (172,), (136,), (149,), (152,),
    (378,), (365,), (397,), (288,), (361,), (323,), (454,), (356,),
    # right brow 17–21, outer → inner (mean of the upper and lower brow contour)
    (70, 46), (63, 53), (105, 52), (66, 65), (107, 55),
    # left brow 22–26, inner → outer
    (336, 285), (296, 295), (334, 282), (293, 283), (300, 276),
    # nose bridge 27–30 (nasion → tip), nose base 31–35 (right nostril → subnasale → left nostril)
    (168,), (197,), (5,), (1,), (98,), (97,), (2,), (326,), (327,),
    # right eye 36–41: outer corner, upper lid ×2, inner corner, lower lid ×2
    (33,), (160,), (158,), (133,), (153,), (144,),
    # left eye 42–47: inner corner, upper lid ×2, outer corner, lower lid ×2
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips 48–59: right corner, upper lip → left corner, lower lip back
    (61,), (40,), (37,), (0,), (267,), (270,), (291,), (321,), (314,), (17,), (84,), (91,),
    # inner lips 60–67: right corner, upper → left corner, lower back
    (78,), (81,), (13,), (311,), (308,), (402,), (14,), (178,),
)  # fmt: skip


def to_68(mesh: np.ndarray) -> np.ndarray:
    """(N, 468, D) FaceMesh points → (N, 68, D) iBUG points by :data:`FACEMESH_TO_68`.

    Point k is ``(m[a_k] + m[b_k]) / 2`` with ``(a_k, b_k)`` its two vertices, or ``a_k = b_k`` for a single vertex
    (then exactly ``m[a_k]``).
    """
    a = np.array([v[0] for v in FACEMESH_TO_68])
    b = np.array([v[-1] for v in FACEMESH_TO_68])
    m = np.asarray(mesh, dtype=np.float64)
    return (m[:, a] + m[:, b]) / 2.0


def crop_boxes(face: np.ndarray, scale: float = CROP_SCALE) -> np.ndarray:
    """Square crops in pixel-edge coordinates from 1-based tight face boxes.

    ``S = scale·max(r − l, b − t)``, centre ``((l + r)/2 − ½, (t + b)/2 − ½)`` (1-based pixel centres → pixel edges,
    where pixel ``i`` (0-based) spans ``[i, i + 1)``).

    Args:
        face: (N, 4) ``[l, t, r, b]``, 1-based.

    Returns:
        (N, 4) ``[x0, y0, x0 + S, y0 + S]`` in pixel-edge coordinates.
    """
    b = np.asarray(face, dtype=np.float64).reshape(-1, 4)
    side = scale * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    cx = (b[:, 0] + b[:, 2]) / 2.0 - 0.5
    cy = (b[:, 1] + b[:, 3]) / 2.0 - 0.5
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def _taps(start: float, step: float, n: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps along one axis: indices i0, i1 (clipped) and weights w0, w1 (0 for taps outside the image)."""
    u = start + (np.arange(n, dtype=np.float64) + 0.5) * step - 0.5
    i0 = np.floor(u)
    w1 = u - i0
    w0 = 1.0 - w1
    i0 = i0.astype(np.int64)
    i1 = i0 + 1
    w0 = np.where((i0 >= 0) & (i0 < length), w0, 0.0)
    w1 = np.where((i1 >= 0) & (i1 < length), w1, 0.0)
    return np.clip(i0, 0, length - 1), np.clip(i1, 0, length - 1), w0, w1


def crop_input(image: np.ndarray, box: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The model input of one image: (size, size, 3) float32 in [0, 1], bilinear, zero outside the image.

    Rows first, then columns: ``R = w0_y·I[y0] + w1_y·I[y1]``, ``C = w0_x·R[:, x0] + w1_x·R[:, x1]``, each an
    elementwise float64 multiply and add (same bits on every machine), then ``C / 255`` as float32.

    Args:
        image: (H, W, 3) uint8 RGB.
        box: (4,) ``[x0, y0, x1, y1]`` square crop in pixel-edge coordinates (:func:`crop_boxes`).
    """
    h, w = image.shape[:2]
    step_x = (box[2] - box[0]) / size
    step_y = (box[3] - box[1]) / size
    y0, y1, wy0, wy1 = _taps(float(box[1]), step_y, size, h)
    x0, x1, wx0, wx1 = _taps(float(box[0]), step_x, size, w)
    c = image.shape[2]
    flat = image.reshape(h * w, c)

    def tap(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:  # I[ys][:, xs] as float64, laid out (size, size·C)
        return flat.take((ys[:, None] * w + xs[None, :]).ravel(), axis=0).reshape(size, size * c).astype(np.float64)

    # weights broadcast over long rows (size·C), not over a length-C axis (the same values, far fewer loop calls)
    wy0, wy1 = wy0[:, None], wy1[:, None]
    wx0, wx1 = np.repeat(wx0, c)[None, :], np.repeat(wx1, c)[None, :]
    # R[:, x] at the two column taps only: the same operations on the same elements as R over every column
    out = tap(y0, x0) * wy0
    out += tap(y1, x0) * wy1
    out *= wx0
    r1 = tap(y0, x1) * wy0
    r1 += tap(y1, x1) * wy1
    r1 *= wx1
    out += r1
    out /= 255.0
    return out.astype(np.float32).reshape(size, size, c)


def mesh_to_image(mesh: np.ndarray, boxes: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(N, 468, 2+) mesh points in crop pixels → (N, 468, 2) 1-based image pixels: ``x0 + x·S/size + ½``."""
    m = np.asarray(mesh, dtype=np.float64)[..., :2]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sx = ((b[:, 2] - b[:, 0]) / size)[:, None]
    sy = ((b[:, 3] - b[:, 1]) / size)[:, None]
    out = np.empty(m.shape, dtype=np.float64)
    out[..., 0] = m[..., 0] * sx + b[:, 0:1] + 0.5
    out[..., 1] = m[..., 1] * sy + b[:, 1:2] + 0.5
    return out


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise PredictionError(
            "MediaPipe FaceMesh needs the LiteRT runtime: pip install 'aflw-occ[mediapipe]' (ai-edge-litert)"
        ) from None
    return Interpreter


class FaceMeshPredictor:
    """MediaPipe FaceMesh on a crop around the face box: (N, 68, 2) landmarks in 1-based image pixels.

    Staged (``prepare`` → ``infer``); ``infer_concurrent`` runs on a single-thread interpreter of the calling thread,
    so ``evaluate --threads T`` runs T interpreters side by side. ``mesh(images, boxes)`` gives the 468 points.

    Args:
        model: path of ``face_landmark.tflite`` (default: ``aflw_occ.models.model_path("mediapipe-facemesh")``).
    """

    name = "mediapipe-facemesh"

    def __init__(self, model: str | Path | None = None) -> None:
        self._interpreter_cls = _interpreter_class()
        if model is None:
            from ..models import model_path

            model = model_path("mediapipe-facemesh")
        self.path = Path(model)
        if not self.path.is_file():
            raise PredictionError(f"{self.path}: FaceMesh model file does not exist")
        self._local = threading.local()
        self._open()  # fail now, in the caller's thread, if the file is not the model

    def _open(self) -> tuple[Any, int, int]:
        """This thread's (interpreter, input index, landmark output index), created on first use."""
        got = getattr(self._local, "interp", None)
        if got is not None:
            return got  # type: ignore[no-any-return]
        try:
            interp = self._interpreter_cls(model_path=str(self.path), num_threads=1)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise PredictionError(f"{self.path}: not a TensorFlow Lite model ({exc})") from None
        inputs = interp.get_input_details()
        outputs = {o["name"]: o["index"] for o in interp.get_output_details()}
        shape = tuple(int(v) for v in inputs[0]["shape"]) if len(inputs) == 1 else ()
        if shape != (1, INPUT_SIZE, INPUT_SIZE, 3) or LANDMARK_OUTPUT not in outputs:
            raise PredictionError(
                f"{self.path}: not MediaPipe's face_landmark.tflite (input {shape}, outputs {sorted(outputs)}; "
                f"expected (1, {INPUT_SIZE}, {INPUT_SIZE}, 3) and {LANDMARK_OUTPUT})"
            )
        got = (interp, int(inputs[0]["index"]), outputs[LANDMARK_OUTPUT])
        self._local.interp = got
        return got

    def prepare(self, images: Sequence[np.ndarray], boxes: Any) -> tuple[np.ndarray, np.ndarray]:
        """(crop boxes (N, 4), model input (N, 192, 192, 3) float32); thread-safe, keeps no image reference."""
        crops = crop_boxes(boxes.face)
        x = np.empty((len(images), INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
        for i, img in enumerate(images):
            if img.ndim != 3 or img.shape[2] != 3:
                raise PredictionError(f"sample {boxes.ids[i]}: image of shape {img.shape} is not RGB (H, W, 3)")
            x[i] = crop_input(img, crops[i])
        return crops, x

    def _mesh(self, prepared: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        crops, x = prepared
        interp, inp, out = self._open()
        mesh = np.empty((len(x), N_MESH, 3), dtype=np.float64)
        for i in range(len(x)):
            interp.set_tensor(inp, x[i : i + 1])
            interp.invoke()
            mesh[i] = interp.get_tensor(out).reshape(N_MESH, 3)
        return mesh_to_image(mesh, crops)

    def infer(self, prepared: tuple[np.ndarray, np.ndarray], boxes: Any) -> np.ndarray:
        """(N, 68, 2) landmarks, 1-based image pixels."""
        return to_68(self._mesh(prepared))

    def infer_concurrent(self, prepared: tuple[np.ndarray, np.ndarray], boxes: Any) -> np.ndarray:
        """:meth:`infer` on this thread's own single-thread interpreter: safe from several threads at once."""
        return self.infer(prepared, boxes)

    def mesh(self, images: Sequence[np.ndarray], boxes: Any) -> np.ndarray:
        """(N, 468, 2) FaceMesh points in 1-based image pixels."""
        return self._mesh(self.prepare(images, boxes))

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> np.ndarray:
        return self.infer(self.prepare(images, boxes), boxes)


def load(path: str | None, options: dict[str, Any], threads: int) -> FaceMeshPredictor:
    """The ``mediapipe-facemesh`` factory (``threads`` interpreters run side by side through ``infer_concurrent``)."""
    return FaceMeshPredictor(options.get("model"))


ADAPTER = Adapter(
    kind="mediapipe-facemesh",
    path=None,
    summary="MediaPipe FaceMesh (LiteRT; 468 points mapped to 68), 2D protocols only: an upright square crop of "
    "1.5× the face box (the ground-truth 68-point box, or its estimate from a detector's box). The model file: "
    "`aflw-occ models fetch mediapipe-facemesh`. Its 17 jaw points are approximate: report `points=inner-51` too. "
    "See [Baselines](#baselines).",
    factory=load,
    options=(
        Option("model", "the face_landmark.tflite file (default: the one `aflw-occ models fetch` caches)",
               metavar="FILE"),
    ),
    extra="mediapipe",
)  # fmt: skip
