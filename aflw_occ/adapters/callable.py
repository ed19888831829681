"""Your own Python model as a predictor: ``python:module:attr`` names a predictor object, a predictor class
(instantiated without arguments) or any callable ``f(images, boxes) -> landmarks | BatchPrediction`` (see
:mod:`aflw_occ.evaluation.predictor`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ModelError, PredictionError
from .registry import Adapter


class CallablePredictor:
    """Wrap a callable taking ``(images, boxes)`` (see :class:`aflw_occ.evaluation.predictor.FaceBoxes`).

    The callable returns (N, 68, 2|3) landmarks in image pixels or an
    :class:`aflw_occ.evaluation.predictor.BatchPrediction`.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        if not callable(fn):
            raise PredictionError(f"{fn!r} is not callable")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> Any:
        return self.fn(images, boxes)


def load_object(target: str) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted); :class:`PredictionError` saying why it fails."""
    if ":" not in target:
        raise PredictionError(f"python model '{target}' must be module:attribute")
    module, attr = target.split(":", 1)
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise PredictionError(f"python model '{target}': cannot import {module} ({exc})") from None
    except Exception as exc:  # the module's own code failed while it was imported
        text = str(exc).strip().splitlines()
        raise ModelError(
            f"python model '{target}': importing {module} raised {type(exc).__name__}"
            f"{': ' + text[0] if text else ''} (AFLW_OCC_DEBUG=1 prints the traceback)"
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PredictionError(f"python model '{target}': {module} has no attribute {attr}") from None
    return obj


def load(path: str | None, options: dict[str, Any], threads: int) -> Any:
    """The ``python`` factory: the object ``module:attr`` names, as a predictor (classes instantiated without
    arguments, plain callables wrapped in :class:`CallablePredictor`, named ``module:attr`` when they have no name)."""
    import inspect

    target = str(path)
    obj = load_object(target)
    if inspect.isclass(obj):
        obj = obj()
    if hasattr(obj, "predict") and callable(obj.predict):
        if not hasattr(obj, "name"):
            obj.name = target
        return obj
    if callable(obj):
        return CallablePredictor(obj, name=target)
    raise PredictionError(f"python model '{target}' is neither a predictor (with .predict) nor a callable")


ADAPTER = Adapter(
    kind="python",
    path="module:attr",
    summary="Your own predictor object or class (instantiated without arguments), or a plain function "
    "`f(images, boxes)`; the module must be importable (on PYTHONPATH).",
    factory=load,
)
