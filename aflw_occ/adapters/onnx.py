"""A generic ONNX landmark model run with onnxruntime, with configurable pre- and post-processing.

The model takes one image tensor (the pre-processed crops, see
:class:`~aflw_occ.adapters.preprocess.Preprocess`)
and returns 68 landmarks in crop pixels as its first output (or the output named ``output``); they are mapped back to
image pixels through the crop box. Spec form: ``onnx:PATH[,key=value...]``, e.g.
``onnx:model.onnx,crop=landmarks-1.5,size=256,color=rgb,mean=0,std=255,layout=nchw``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PredictionError
from .preprocess import Preprocess, expand_rows, parse_options


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


CHUNK_ROWS = 16
"""Rows per onnxruntime call on the single-thread session: the activations of 16 120×120 images stay in the cache
(≈ 10–15 % less CPU per image than 64 rows per call for 3DDFA_V2 mb05 on the 2-core benchmark machine)."""


def run_chunked(session: Any, outputs: list[str], input_name: str, x: np.ndarray, rows: int = CHUNK_ROWS) -> list:
    """``session.run(outputs, {input_name: x})`` done ``rows`` rows at a time, outputs concatenated along axis 0."""
    if len(x) <= rows:
        return [np.asarray(o) for o in session.run(outputs, {input_name: x})]
    parts = [session.run(outputs, {input_name: x[s : s + rows]}) for s in range(0, len(x), rows)]
    return [np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(len(outputs))]


class Sessions:
    """One ONNX model opened for two kinds of callers.

    ``main`` has ``threads`` intra-op threads, for one caller running batch after batch (``predict``).
    ``single()`` has one intra-op thread and is shared by concurrent callers (onnxruntime's ``run`` is
    thread-safe): the evaluator runs ``threads`` whole load → prepare → infer chains at once, one core each, instead
    of loader threads and intra-op threads competing for the same cores. It is opened on first use. The evaluator
    always infers on it (16-row chunks), so its results do not depend on its thread count; for the 3DDFA_V2 export
    they are also the same bits as the main session's, whatever the batch (checked in the tests).
    """

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        self.path = Path(path)
        self.threads = max(1, int(threads))
        self.main = make_session(self.path, self.threads)
        self._single: Any = self.main if self.threads == 1 else None
        self._lock = threading.Lock()

    def single(self) -> Any:
        """The single-thread session (created once, thread-safe)."""
        if self._single is None:
            with self._lock:
                if self._single is None:
                    self._single = make_session(self.path, 1)
        return self._single


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
        self.sessions = Sessions(self.path, threads)
        self.session = self.sessions.main
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

    def run(self, x: np.ndarray, session: Any = None) -> np.ndarray:
        """The landmark output of ``x`` (on the main session, or on ``session`` in chunks of 16 rows)."""
        if session is None:
            return np.asarray(self.session.run([self.output], {self.input_name: x})[0])
        return run_chunked(session, [self.output], self.input_name, x)[0]

    def prepare(self, images: Sequence[np.ndarray], boxes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop boxes, model input of the distinct crops and the row → input map of a batch (thread-safe; the
        evaluator runs it in its worker threads). See :meth:`Preprocess.inputs`."""
        crop = self.pre.boxes(boxes.roi, boxes.face)
        x, inverse = self.pre.inputs(images, crop, list(boxes.ids))
        return crop, x, inverse

    def infer(self, prepared: tuple[np.ndarray, np.ndarray, np.ndarray], boxes: Any, session: Any = None) -> np.ndarray:
        crop, x, inverse = prepared
        out = self.run(x, session)
        if len(out) != len(x):
            raise PredictionError(
                f"{self.path}: model returned {len(out)} rows for {len(x)} images (batch starting at {boxes.ids[0]})"
            )
        return self.pre.to_image(expand_rows(out, inverse), crop)

    def infer_concurrent(self, prepared: tuple[np.ndarray, np.ndarray, np.ndarray], boxes: Any) -> np.ndarray:
        """:meth:`infer` on the shared single-thread session: safe to call from several threads at once."""
        return self.infer(prepared, boxes, self.sessions.single())

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> np.ndarray:
        return self.infer(self.prepare(images, boxes), boxes)
