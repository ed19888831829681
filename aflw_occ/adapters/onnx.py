"""A generic ONNX landmark model run with onnxruntime, with configurable pre- and post-processing.

The model takes one image tensor (the pre-processed crops, see
:class:`~aflw_occ.adapters.preprocess.Preprocess`)
and returns 68 landmarks in crop pixels as its first output (or the output named ``output``); they are mapped back to
image pixels through the crop box. Spec form: ``onnx:PATH[,key=value...]``, e.g.
``onnx:model.onnx,crop=landmarks-1.5,size=256,color=rgb,mean=0,std=255,layout=nchw``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PredictionError
from .preprocess import Preprocess, parse_options


def make_session(path: str | Path, threads: int = 2) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads; PredictionError if unreadable."""
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise PredictionError(f"{p}: ONNX model file does not exist")
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    # no busy-waiting: the evaluator's loader threads share the cores with inference
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(p), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PredictionError(f"{p}: not a loadable ONNX model ({msg})") from None


class OnnxPredictor:
    """Run an ONNX landmark model: crop → normalise → onnxruntime → crop pixels → image pixels.

    Args:
        path: the ``.onnx`` file.
        preprocess: pre/post-processing settings.
        output: name of the landmark output (default: the first output).
        threads: onnxruntime intra-op threads.
        name: display name.
    """

    def __init__(
        self,
        path: str | Path,
        preprocess: Preprocess | None = None,
        *,
        output: str | None = None,
        threads: int = 2,
        name: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.pre = preprocess or Preprocess()
        self.session = make_session(self.path, threads)
        self.input_name = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        if output is not None and output not in outputs:
            raise PredictionError(f"{self.path}: no output named '{output}' (outputs: {', '.join(outputs)})")
        self.output = output or outputs[0]
        self.name = name or self.path.stem

    @classmethod
    def from_spec(cls, spec: str, threads: int = 2) -> OnnxPredictor:
        """``PATH[,key=value...]`` → predictor (keys: the :class:`Preprocess` fields, ``output``, ``name``)."""
        path, _, rest = spec.partition(",")
        opts = parse_options(rest)
        output = opts.pop("output", None)
        name = opts.pop("name", None)
        return cls(path, Preprocess().with_options(opts), output=output, threads=threads, name=name)

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run([self.output], {self.input_name: x})[0])

    def prepare(self, images: Sequence[np.ndarray], boxes: Any) -> tuple[np.ndarray, np.ndarray]:
        """Crop boxes and model input of a batch (thread-safe; the evaluator runs it in loader threads)."""
        crop = self.pre.boxes(boxes.roi, boxes.face)
        return crop, self.pre.normalise(self.pre.crops(images, crop, list(boxes.ids)))

    def infer(self, prepared: tuple[np.ndarray, np.ndarray], boxes: Any) -> np.ndarray:
        crop, x = prepared
        out = self.run(x)
        if len(out) != len(x):
            raise PredictionError(
                f"{self.path}: model returned {len(out)} rows for {len(x)} images (batch starting at {boxes.ids[0]})"
            )
        return self.pre.to_image(out, crop)

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> np.ndarray:
        return self.infer(self.prepare(images, boxes), boxes)
