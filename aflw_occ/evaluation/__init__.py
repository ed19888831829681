"""Evaluate any model on the benchmark: run it over the splits of a built store (or the clean AFLW2000-3D folder),
check every output, score every split, write a results folder.

Modules, one job each:

* :mod:`.predictor` — the predictor protocol (:class:`FaceBoxes` in, :class:`BatchPrediction` out), the output checks
  (the prediction-file contract of :class:`aflw_occ.predictions.Predictions`) and the wrapping of model failures;
* :mod:`.data` — what is evaluated: a store, or an AFLW2000-3D folder as the ``clean`` split; split names;
* :mod:`.runner` — planning batches, loading (:mod:`aflw_occ.store.bulk`) and inferring them in threads, gathering,
  and :func:`evaluate` itself;
* :mod:`.results` — :class:`EvaluationResult`, scoring a split, the results folder (:func:`write_results`);
* :mod:`.folder` — where an evaluation's results live (:class:`ResultsFolder`: the one layout rule).

Model spec strings (``aflw-occ evaluate --model``) are turned into predictors by :mod:`aflw_occ.adapters.registry`.
"""

from __future__ import annotations

from ..errors import EvaluationError, ModelError
from .data import ALL_SPLITS, SourceData, SourceSplit, open_data, resolve_splits
from .folder import RESULT_FILES, ResultsFolder
from .predictor import BatchPrediction, FaceBoxes, PredictFn, Predictor, as_predictor, check_output
from .results import EvaluationResult, SplitResult, score_variants, write_results
from .runner import evaluate

__all__ = [
    "ALL_SPLITS",
    "RESULT_FILES",
    "ResultsFolder",
    "EvaluationError",
    "EvaluationResult",
    "FaceBoxes",
    "ModelError",
    "PredictFn",
    "BatchPrediction",
    "Predictor",
    "SourceData",
    "SourceSplit",
    "SplitResult",
    "as_predictor",
    "check_output",
    "evaluate",
    "open_data",
    "resolve_splits",
    "score_variants",
    "write_results",
]
