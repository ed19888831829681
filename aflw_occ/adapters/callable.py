"""Any Python callable ``f(images, boxes) -> landmarks | Prediction`` as a ``Predictor`` (see aflw_occ.evaluate)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import PredictionError


class CallablePredictor:
    """Wrap a callable taking ``(images, boxes)`` (see :class:`aflw_occ.evaluate.FaceBoxes`).

    The callable returns (N, 68, 2|3) landmarks in image pixels or a :class:`aflw_occ.evaluate.Prediction`.
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
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PredictionError(f"python model '{target}': {module} has no attribute {attr}") from None
    return obj
