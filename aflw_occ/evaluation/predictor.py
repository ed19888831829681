"""The predictor protocol of :func:`~aflw_occ.evaluation.evaluate`: what a model gets, what it returns, and the
checks on every batch it returns.

A predictor gets a batch of RGB uint8 images (original image pixels, any size) plus boxes (:class:`FaceBoxes`:
3DDFA's crop box and the tight boxes of the 68 and of the 51 inner ground-truth points — under the default
*ground-truth* box protocol they come from the ground truth, as in the field's benchmarks; under the *detector*
protocol, ``boxes="detector:DIR"``, from a real face detector, see :mod:`aflw_occ.detection.protocol`) and returns
(N, 68, 2|3) landmarks in original image pixels, either as an array or as a :class:`BatchPrediction` (optionally with
dense points and head pose). A predictor may also be *staged*: ``prepare(images, boxes)`` (thread-safe
pre-processing) and ``infer(prepared, boxes)``; a staged predictor that also has ``infer_concurrent(prepared,
boxes)`` (thread-safe, one core per call) lets ``evaluate`` run whole batches in its worker threads; its ``prepare``
must not keep references to the images (the worker reuses their memory for its next batch).

Every batch a model returns is validated by the prediction-file contract (:class:`aflw_occ.predictions.Predictions`:
shapes, numbers, finite, plausible magnitude), and anything a model raises becomes one :class:`ModelError` naming the
model, the step and the batch's first sample.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from ..adapters.callable import CallablePredictor
from ..errors import AflwOccError, EvaluationError, ModelError, PredictionError
from ..metrics.rotation import POSE_DECODINGS
from ..predictions import Predictions

#: appended to every error about a model's output: what a predictor must return
OUTPUT_CONTRACT = (
    "a predictor returns, for N images, (N, 68, 2|3) finite landmarks in image pixels "
    "(optionally angles_deg (N, 3) in degrees and dense (N, P, 3))"
)


@dataclass(frozen=True)
class FaceBoxes:
    """The boxes of one batch, row-aligned with the images.

    Attributes:
        ids: (N,) sample ids (for error messages).
        roi: (N, 4) 3DDFA crop boxes ``[sx, sy, ex, ey]`` (same box for every variant of a source image) or None.
        face: (N, 4) tight box ``[l, t, r, b]`` of the 68 ground-truth points' x/y.
        detected: (N, 4) the face detector's own boxes (1-based image pixels) under the detector box protocol, else
            None. ``face`` and ``roi`` are then estimated from them by the detector's box convention
            (:mod:`aflw_occ.detection.calibration`), so a model applies the crop rule it uses on ground truth.
        detector: the detector's name (``dlib-hog``, ``blazeface``) under the detector box protocol, else None.
        inner: (N, 4) tight box of the 51 inner ground-truth points (17–67: no jaw line) under the ground-truth box
            protocol, else None.

    Boxes are in the ground truth's pixel frame (1-based, like ``pt3d_68``).
    """

    ids: np.ndarray
    roi: np.ndarray | None
    face: np.ndarray
    detected: np.ndarray | None = None
    detector: str | None = None
    inner: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class BatchPrediction:
    """What a predictor returns for a batch of images (one model call); a whole split's validated predictions, as
    written to and read from a prediction file, are :class:`aflw_occ.predictions.Predictions`.

    Attributes:
        landmarks: (N, 68, 2|3) image pixels.
        dense: optional (N, P, 3) dense points, image pixels.
        angles_deg: optional (N, 3) (pitch, yaw, roll) in degrees.
    """

    landmarks: np.ndarray
    dense: np.ndarray | None = None
    angles_deg: np.ndarray | None = None


@runtime_checkable
class Predictor(Protocol):
    """Anything with a ``name`` and ``predict(images, boxes) -> BatchPrediction | ndarray``."""

    name: str

    def predict(self, images: Sequence[np.ndarray], boxes: FaceBoxes) -> BatchPrediction | np.ndarray: ...


PredictFn = Callable[[Sequence[np.ndarray], FaceBoxes], "BatchPrediction | np.ndarray"]
T = TypeVar("T")


def as_predictor(obj: Any, name: str | None = None) -> Predictor:
    """A :class:`Predictor` from a predictor, or from any callable ``f(images, boxes)`` (wrapped)."""
    if hasattr(obj, "predict") and callable(obj.predict):
        if name is not None or not hasattr(obj, "name"):
            with contextlib.suppress(AttributeError):
                obj.name = name or type(obj).__name__
        return obj  # type: ignore[no-any-return]
    if callable(obj):
        return CallablePredictor(obj, name=name)
    raise EvaluationError(f"{obj!r} is neither a predictor (with .predict) nor a callable")


def model_name(predictor: Any) -> str:
    """The display name of a predictor (its ``name``, else its class name)."""
    return str(getattr(predictor, "name", type(predictor).__name__))


def stated_pose_decoding(predictor: Any) -> str | None:
    """The named Euler decoding a predictor states for its angles (``pose_decoding`` attribute), if any."""
    value = getattr(predictor, "pose_decoding", None)
    return value if isinstance(value, str) and value in POSE_DECODINGS else None


def batch_label(ids: Sequence[str], split: str | Sequence[str]) -> str:
    """``split/id`` of a batch's first sample (how errors name a batch)."""
    if not len(ids):
        return "an empty batch"
    first = split if isinstance(split, str) else split[0]
    return f"{first}/{ids[0]}"


def call_model(model: str, step: str, where: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, one step (``predict``, ``prepare``, ...) of a model on the batch starting at ``where``.

    An :class:`~aflw_occ.errors.AflwOccError` (the adapters' own one-line errors) gets the model and batch put in
    front; anything else becomes a :class:`ModelError` naming the model, the step, the sample and the original error
    (kept as ``__cause__``: ``AFLW_OCC_DEBUG=1`` prints its traceback). ``KeyboardInterrupt`` passes unchanged.
    """
    try:
        return fn(*args)
    except AflwOccError as exc:
        if not str(exc).startswith("model "):
            exc.args = (f"model {model}, batch starting at {where}: {exc}",)
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()
        what = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
        raise ModelError(
            f"model {model} raised {what} in {step}() on the batch starting at {where}; fix the model "
            "(run it on that sample alone to debug it; AFLW_OCC_DEBUG=1 prints the traceback)"
        ) from exc


def check_output(
    out: BatchPrediction | np.ndarray, ids: Sequence[str], model: str, split: str | Sequence[str]
) -> BatchPrediction:
    """Validate one batch of model output by the prediction-file contract; float64 arrays back.

    ``split`` is the split name, or one name per sample. The batch is checked as
    :class:`aflw_occ.predictions.Predictions` whose ids are ``split/id``: landmarks (N, 68, 2|3) (or (N, 2|3, 68),
    transposed), ``dense`` (N, P, 3) and ``angles_deg`` (N, 3) when present, all numeric, finite and within
    ±``MAX_MAGNITUDE``. A violation is a :class:`PredictionError` naming the model, the sample and what a predictor
    must return.
    """
    n = len(ids)
    splits = [split] * n if isinstance(split, str) else list(split)
    source = f"model {model}, batch of {n} starting at {batch_label(ids, splits)}"
    pred = out if isinstance(out, BatchPrediction) else BatchPrediction(landmarks=out)  # type: ignore[arg-type]
    if pred.landmarks is None:
        raise PredictionError(f"{source}: returned no landmarks; {OUTPUT_CONTRACT}")
    arrays: dict[str, np.ndarray] = {}
    for key in ("landmarks", "dense", "angles_deg"):
        value = getattr(pred, key)
        if value is None:
            continue
        try:
            arrays[key] = np.asarray(value)
        except (ValueError, TypeError):  # a ragged list, an object numpy cannot hold
            raise PredictionError(
                f"{source}: {key} is a {type(value).__name__} that is no numeric array; {OUTPUT_CONTRACT}"
            ) from None
    labels = np.array([f"{s}/{i}" for s, i in zip(splits, ids, strict=True)])
    try:
        checked = Predictions(ids=labels, source=source, **arrays)  # type: ignore[arg-type]
    except PredictionError as exc:
        raise PredictionError(f"{exc}; {OUTPUT_CONTRACT}") from None
    return BatchPrediction(checked.landmarks, checked.dense, checked.angles_deg)  # type: ignore[arg-type]
