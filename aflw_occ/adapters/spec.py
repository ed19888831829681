"""Model spec strings → predictors (``aflw-occ evaluate --model SPEC``).

Forms:

* ``3ddfa-v2:PATH.onnx`` (onnxruntime, no torch) or ``3ddfa-v2:PATH.pth`` (torch); options ``,crop=RULE``,
  ``,pose=aflw2000-3d|synergynet`` (Euler decoding of the predicted rotation; see
  :mod:`aflw_occ.metrics.rotation`) and ``,basis=DIR`` (``.pth`` only: folder of the 62-parameter statistics and
  68-point basis);
* ``onnx:PATH[,key=value...]``: a generic ONNX landmark model (see :mod:`aflw_occ.adapters.onnx`);
* ``dsfnet:PATH[,basis=FILE]``: the DSFNet reference implementation (torch);
* ``dlib[:box=inner|tight][,model=PATH.dat]``: dlib's 68-point shape predictor (2D protocols only) on the box its
  own detector would give, predicted from the 51 inner ground-truth points (``box=inner``, default), or on the tight
  68-point box (``box=tight``, a stress variant; see :mod:`aflw_occ.adapters.dlib_adapter`);
* ``mediapipe-facemesh[:model=PATH.tflite]``: MediaPipe FaceMesh (468 points mapped to 68; the ``[mediapipe]``
  extra and ``aflw-occ models fetch mediapipe-facemesh``; see :mod:`aflw_occ.adapters.facemesh`);
* ``python:module:attr``: a predictor object, a predictor class (instantiated without arguments) or a
  callable ``f(images, boxes)``.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import PredictionError
from .preprocess import parse_options

SPEC_FORMS = (
    "3ddfa-v2:PATH.onnx|PATH.pth",
    "onnx:PATH[,options]",
    "dsfnet:PATH",
    "dlib[:box=inner|tight]",
    "mediapipe-facemesh",
    "python:module:attr",
)


def load_predictor(spec: str, threads: int = 2) -> Any:
    """Build the predictor a spec names; :class:`PredictionError` (one line) for a malformed spec."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "dlib":
        from .dlib_adapter import DlibPredictor

        opts = parse_options(rest)
        unknown = set(opts) - {"model", "box"}
        if unknown:
            raise PredictionError(f"model spec '{spec}': unknown option(s) {', '.join(sorted(unknown))}")
        return DlibPredictor(**opts)
    if kind == "mediapipe-facemesh":
        from .facemesh import FaceMeshPredictor

        return FaceMeshPredictor.from_spec(rest, threads=threads)
    if not rest:
        raise PredictionError(f"model spec '{spec}' has no path (forms: {', '.join(SPEC_FORMS)})")
    if kind == "onnx":
        from .onnx import OnnxPredictor

        return OnnxPredictor.from_spec(rest, threads=threads)
    if kind == "3ddfa-v2":
        path, _, opt_text = rest.partition(",")
        opts = parse_options(opt_text)
        unknown = set(opts) - {"crop", "basis", "pose"}
        if unknown:
            raise PredictionError(f"model spec '{spec}': unknown option(s) {', '.join(sorted(unknown))}")
        crop = opts.get("crop", "3ddfa")
        pose = opts.get("pose", "aflw2000-3d")
        from ..metrics.rotation import POSE_DECODINGS

        if pose not in POSE_DECODINGS:
            raise PredictionError(f"model spec '{spec}': pose={pose} is unknown (choose {', '.join(POSE_DECODINGS)})")
        predictor: Any
        if path.lower().endswith(".onnx"):
            from .tddfa_onnx import TDDFAOnnxPredictor

            predictor = TDDFAOnnxPredictor(path, crop=crop, threads=threads)
        elif path.lower().endswith((".pth", ".pt")):
            try:
                from .tddfa_v2 import TDDFATorchPredictor
            except ImportError:
                raise PredictionError(f"{path}: a .pth model needs torch (pip install 'aflw-occ[torch]')") from None
            predictor = TDDFATorchPredictor(path, model_dir=opts.get("basis"), threads=threads, crop=crop)
        else:
            raise PredictionError(f"model spec '{spec}': 3ddfa-v2 needs a .onnx or .pth file")
        if pose != "aflw2000-3d":
            predictor.pose_decoding = pose
            predictor.name += f"-pose-{pose}"
        return predictor
    if kind == "dsfnet":
        path, _, opt_text = rest.partition(",")
        opts = parse_options(opt_text)
        try:
            from .dsfnet import DSFNetAdapter

            return DSFNetAdapter(path, basis=opts.get("basis"), threads=threads)
        except ImportError as exc:
            raise PredictionError(f"{path}: DSFNet needs torch (pip install 'aflw-occ[torch]'): {exc}") from None
    if kind == "python":
        from .callable import CallablePredictor, load_object

        obj = load_object(rest)
        if inspect.isclass(obj):
            obj = obj()
        if hasattr(obj, "predict") and callable(obj.predict):
            if not hasattr(obj, "name"):
                obj.name = rest
            return obj
        if callable(obj):
            return CallablePredictor(obj, name=rest)
        raise PredictionError(f"python model '{rest}' is neither a predictor nor a callable")
    raise PredictionError(f"unknown model spec '{spec}' (forms: {', '.join(SPEC_FORMS)})")
