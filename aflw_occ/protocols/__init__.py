"""Scoring protocols as objects, in one registry (``docs/protocol.md`` of the shared data; README "Protocols").

A protocol says what it needs from the predictions and the ground truth, computes its per-image error with the pure
functions of :mod:`aflw_occ.metrics`, and declares its bins, headline, bootstrap scheme and paired statistic. The
field's conventions are typed options (:class:`Conventions`), each protocol listing the ones it reads. Adding a
protocol is one new class registered with :func:`register`; the CLI choices (``aflw-occ score --protocol``,
``aflw-occ evaluate --protocol``), the text / JSON report, the per-sample table and the leaderboard read
:data:`REGISTRY`.

Registered: ``sparse-2d`` (default), ``sparse-3d``, ``dense``, ``dense-2d``, ``pose``.

Modules:

* :mod:`.conventions` — the field's named conventions (:data:`CONVENTIONS`, :class:`Conventions`);
* :mod:`.base` — what a protocol works on and returns (:class:`Aligned`, :class:`PerImage`, :class:`MetricRow`,
  :class:`Resampling`), the :class:`Protocol` interface and :data:`REGISTRY`;
* :mod:`.landmarks` — ``sparse-2d``, ``sparse-3d``, ``dense``, ``dense-2d``;
* :mod:`.pose` — ``pose``.
"""

from __future__ import annotations

from .base import (
    _REGISTRY,
    REGISTRY,
    Aligned,
    MetricRow,
    PerImage,
    Protocol,
    Resampling,
    get_protocol,
    protocol_names,
    register,
    yaw_and_bins,
)
from .conventions import CONVENTIONS, SPECS, Conventions, ConventionSpec, ScoringError
from .landmarks import (
    AUC_CUTOFFS,
    FAILURE_THRESHOLD,
    Dense,
    Dense2D,
    DenseProtocol,
    LandmarkProtocol,
    Sparse2D,
    Sparse3D,
    SparseProtocol,
    points_suffix,
)
from .pose import Pose

__all__ = [
    "AUC_CUTOFFS",
    "FAILURE_THRESHOLD",
    "CONVENTIONS",
    "SPECS",
    "REGISTRY",
    "ScoringError",
    "ConventionSpec",
    "Conventions",
    "Aligned",
    "PerImage",
    "MetricRow",
    "Resampling",
    "Protocol",
    "LandmarkProtocol",
    "SparseProtocol",
    "Sparse2D",
    "Sparse3D",
    "DenseProtocol",
    "Dense",
    "Dense2D",
    "Pose",
    "register",
    "get_protocol",
    "protocol_names",
    "points_suffix",
    "yaw_and_bins",
    "_REGISTRY",
]
