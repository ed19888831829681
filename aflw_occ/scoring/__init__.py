"""Score predictions against a ground truth under a named protocol: the thin layer over :mod:`aflw_occ.metrics`.

One forward pass: the predictions are read and validated once (:func:`aflw_occ.predictions.read_predictions`),
matched to the ground truth once (:func:`align`), scored by the protocol object of :mod:`aflw_occ.protocols`
(per-image error, bins, rows), and rendered by :class:`ScoreResult`, whose every output (text, JSON, tables) states
the protocol, its conventions, the ground-truth source, data version, provenance, the pixel origin and the sha256
of the predictions that produced it.

Protocols: see :data:`aflw_occ.protocols.REGISTRY` (``sparse-2d`` default, ``sparse-3d``, ``dense``, ``dense-2d``,
``pose``); conventions: :class:`aflw_occ.protocols.Conventions`.

Modules: :mod:`.scorer` (:func:`score`, :func:`compare`), :mod:`.align` (:func:`align`, the origin-slip check),
:mod:`.result` (:class:`ScoreResult`), :mod:`.dense_truth` (:class:`DenseGroundTruth`).

Nothing here imports torch; pandas is imported only when a DataFrame is asked for.
"""

from __future__ import annotations

from ..protocols import AUC_CUTOFFS, FAILURE_THRESHOLD, Conventions, MetricRow, ScoringError, protocol_names
from .align import ORIGIN_SLIP_RANGE, align, origin_slip_warning
from .dense_truth import DenseGroundTruth
from .result import ScoreResult
from .scorer import check_request, compare, score

__all__ = [
    "PROTOCOLS",
    "GT_SOURCES",
    "AUC_CUTOFFS",
    "FAILURE_THRESHOLD",
    "ScoringError",
    "DenseGroundTruth",
    "MetricRow",
    "ScoreResult",
    "Conventions",
    "check_request",
    "align",
    "origin_slip_warning",
    "ORIGIN_SLIP_RANGE",
    "score",
    "compare",
]

PROTOCOLS: tuple[str, ...] = protocol_names()
GT_SOURCES: tuple[str, ...] = ("original", "reannotated")
