"""A generic ONNX landmark model run with onnxruntime, with configurable pre- and post-processing.

The model takes one image tensor (the pre-processed crops, see
:class:`~aflw_occ.adapters.preprocess.Preprocess`)
and returns 68 landmarks in crop pixels as its first output (or the output named ``output``); they are mapped back to
image pixels through the crop box. Spec form: ``onnx:PATH[,key=value...]``, e.g.
``onnx:model.onnx,crop=landmarks-1.5,size=256,color=rgb,mean=0,std=255,layout=nchw``.

The model's declared input is checked against what the options feed when it is opened (:func:`check_input`: rank,
float input, layout, square side = ``size``, batch axis), so a mismatch is one error saying which option to set; a
model that declares free dimensions and still fails at run time gets the same hint (:func:`run_failure`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PredictionError
from .options import Option
from .preprocess import PREPROCESS_OPTIONS, Preprocess, expand_rows
from .registry import Adapter


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
    so.log_severity_level = 4  # fatal only: a failing run is reported once, as an error naming the model (run_failure)
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


def _shape_text(shape: Sequence[Any]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _image_axes_problem(fixed: list[int | None], size: int, layout: str) -> tuple[str | None, str]:
    """(what is wrong, what to do) with a 4-axis input's fixed dimensions (None: free) against the (N, 3, size, size)
    (``nchw``) or (N, size, size, 3) (``nhwc``) images fed; (None, "") when they fit."""
    chan, h, w = (fixed[1], fixed[2], fixed[3]) if layout == "nchw" else (fixed[3], fixed[1], fixed[2])
    flipped = fixed[3] if layout == "nchw" else fixed[1]
    side = h if h is not None else w
    other = "nhwc" if layout == "nchw" else "nchw"
    if flipped == 3 and chan != 3:
        return f"does not take layout={layout} images", f"set layout={other}"
    if chan is not None and chan != 3:
        return f"takes {chan} channels", "export a model that takes 3-channel (colour) images"
    if h is not None and w is not None and h != w:
        return f"is not square ({h}×{w})", "export a model that takes square crops"
    if side is not None and side != size:
        return f"has side {side}, not size={size}", f"set size={side} in the model spec"
    if fixed[0] is not None and fixed[0] != 1:
        return f"has a fixed batch of {fixed[0]}", "export the model with a free batch axis (or 1)"
    return None, ""


def check_input(path: Path, session: Any, size: int, layout: str = "nchw", fix: str | None = None) -> int | None:
    """Check the model's first input against the (N, 3, size, size) (``nchw``) or (N, size, size, 3) (``nhwc``)
    float32 tensor fed to it; returns its fixed batch size (None when the batch axis is free).

    Free (named or unknown) dimensions are accepted. :class:`PredictionError` naming the file, the declared input,
    what is fed and what to do: the option that fixes it (``size=``, ``layout=``), or ``fix`` when given (adapters
    whose input is not an option).
    """
    inp = session.get_inputs()[0]
    shape = list(inp.shape)
    fed = f"(N, 3, {size}, {size})" if layout == "nchw" else f"(N, {size}, {size}, 3)"
    fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
    problem, todo = None, ""
    if len(shape) != 4:
        problem, todo = "is not one image tensor", "export a model that takes (N, 3, S, S) or (N, S, S, 3) images"
    elif inp.type != "tensor(float)":
        problem, todo = "is not float32", "export a model that takes float32 images"
    else:
        problem, todo = _image_axes_problem(fixed, size, layout)
    if problem is not None:
        raise PredictionError(
            f"{path}: the model's input '{inp.name}' {_shape_text(shape)} {inp.type} {problem}; the adapter feeds "
            f"{fed} float32: {fix or todo}"
        )
    return fixed[0]


def ort_message(exc: BaseException) -> str:
    """The useful part of an onnxruntime error: the failing node and its status message, without the error-code
    prefix and the source location (one line, at most 300 characters)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    node = re.search(r"while running (\S+) node.*?Status Message: (.*)", text)
    if node:
        detail = re.sub(r"^\S+:\d+ \S+\(.*?\) ", "", node.group(2))  # file:line function(signature)
        detail = detail.split(" was false. ", 1)[-1]  # the failed condition, when a sentence explains it
        text = f"{node.group(1)} node: {detail}"
    return text if len(text) <= 300 else text[:297] + "..."


def run_failure(path: Path, session: Any, x: np.ndarray, exc: Exception) -> PredictionError:
    """The error of an onnxruntime call that failed on input ``x``: the file, what was fed, what the model declares,
    onnxruntime's message and the options to check."""
    inp = session.get_inputs()[0]
    return PredictionError(
        f"{path}: onnxruntime cannot run the model on {_shape_text(x.shape)} {x.dtype} input ({ort_message(exc)}); "
        f"the model declares {_shape_text(inp.shape)}: check size= and layout= in the model spec"
    )


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
        self.batch = check_input(self.path, self.session, self.pre.size, self.pre.layout)
        outputs = [o.name for o in self.session.get_outputs()]
        if output is not None and output not in outputs:
            raise PredictionError(f"{self.path}: no output named '{output}' (outputs: {', '.join(outputs)})")
        self.output = output or outputs[0]
        self.name = name or self.path.stem

    def run(self, x: np.ndarray, session: Any = None) -> np.ndarray:
        """The landmark output of ``x`` (on the main session, or on ``session`` in chunks of 16 rows; one row at a
        time for a model with a fixed batch of 1)."""
        try:
            if session is None and self.batch is None:
                return np.asarray(self.session.run([self.output], {self.input_name: x})[0])
            rows = self.batch or CHUNK_ROWS
            return run_chunked(session or self.session, [self.output], self.input_name, x, rows)[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise run_failure(self.path, self.session, x, exc) from None

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


def load(path: str | None, options: dict[str, Any], threads: int) -> OnnxPredictor:
    """The ``onnx`` factory: pre-processing from the options, plus ``output`` and ``name``."""
    pre = Preprocess(**{o.name: options[o.name] for o in PREPROCESS_OPTIONS if o.name in options})
    return OnnxPredictor(str(path), pre, output=options.get("output"), threads=threads, name=options.get("name"))


ADAPTER = Adapter(
    kind="onnx",
    summary="Any ONNX landmark model, run with onnxruntime. It must return 68 landmarks in crop pixels: (N,68,2|3), "
    "(N,2|3,68), (N,136) or (N,204); they are mapped back to image pixels through the crop box.",
    factory=load,
    options=(
        *PREPROCESS_OPTIONS,
        Option("output", "name of the landmark output (default: the first output)", metavar="NAME"),
        Option("name", "the model's name in results and leaderboards (default: the file stem)", metavar="NAME"),
    ),
)
