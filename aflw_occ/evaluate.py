"""``from aflw_occ.evaluate import evaluate, FaceBoxes, BatchPrediction``: the public import path of model evaluation.

The code lives in :mod:`aflw_occ.evaluation` (predictor protocol, data, runner, results); this module re-exports its
public names so that scripts written against ``aflw_occ.evaluate`` keep working. ``Prediction`` is the earlier name
of :class:`BatchPrediction` (a model's output for one batch), kept for such scripts.
"""

from __future__ import annotations

from .evaluation import *  # noqa: F403
from .evaluation import BatchPrediction as Prediction  # noqa: F401  (the earlier name, for scripts written against it)
from .evaluation import __all__  # noqa: F401
