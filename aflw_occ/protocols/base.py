"""What every scoring protocol works on and returns, the :class:`Protocol` interface and its registry.

A protocol gets the predictions matched to the ground truth (:class:`Aligned`), computes its per-image numbers
(:class:`PerImage`) and summarises them as :class:`MetricRow` s under one bootstrap plan (:class:`Resampling`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import PredictionError
from ..metrics.bins import yaw_bins, yaw_bins_carry_over
from .conventions import Conventions, ScoringError

if TYPE_CHECKING:  # pragma: no cover
    from ..groundtruth import GroundTruth
    from ..predictions import Predictions


@dataclass(frozen=True)
class Aligned:
    """Predictions matched to the ground-truth rows they score (ground-truth order), in image pixels.

    Attributes:
        gt: the split's ground truth (all N rows).
        rows: (M,) ascending ground-truth rows that have a prediction.
        missing: ground-truth ids without a prediction.
        landmarks: (M, 68, 2|3) predicted landmarks, or None.
        angles_deg: (M, 3) predicted angles (decoded under the pose-decoding convention), or None.
        dense: (M, P, 3) predicted dense points, or None. dense_gt: (M, P, 3) their ground truth, or None.
        pose_decoding: how ``angles_deg`` were decoded (a named decoding, "as-given (…)"), printed with pose numbers.
    """

    gt: GroundTruth
    rows: np.ndarray
    missing: list[str]
    landmarks: np.ndarray | None = None
    angles_deg: np.ndarray | None = None
    dense: np.ndarray | None = None
    dense_gt: np.ndarray | None = None
    pose_decoding: str = "as-given"

    @property
    def n_all(self) -> int:
        return len(self.gt)

    @property
    def all_rows(self) -> bool:
        return int(self.rows.size) == self.n_all

    def gt_rows(self, a: np.ndarray) -> np.ndarray:
        """Rows of a ground-truth array that are scored."""
        return a if self.all_rows else a[self.rows]

    def full(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """(M,) scored values → (N,) column over every ground-truth row (``fill`` for missing ones)."""
        out = np.full(self.n_all, fill, dtype=np.float64)
        out[self.rows] = values
        return out


@dataclass(frozen=True)
class PerImage:
    """A protocol's per-image numbers over the scored rows.

    Attributes:
        errors: (M,) per-image error (NME as a fraction; pose: mean of the three angle errors, degrees).
        point_errors: (M, K) normalised point errors (landmark protocols; occluded / visible subsets), or None.
        evaluated: (M,) rows that enter the summary (pose: all |angles| ≤ 99°), or None for all.
        angle_errors: (M, 3) per-angle errors (pose), or None.
        label: conventions to print beside each number (pose: decoding and MAE mode).
        points: (K,) indices into the 68 landmarks of the columns of ``point_errors`` (None: all of them).
    """

    errors: np.ndarray
    point_errors: np.ndarray | None = None
    points: np.ndarray | None = None
    evaluated: np.ndarray | None = None
    angle_errors: np.ndarray | None = None
    label: str = ""


@dataclass(frozen=True)
class MetricRow:
    """One reported number: ``value`` with its bootstrap interval (NaN when undefined) over ``n`` images."""

    key: str
    label: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    unit: str

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "n", int(self.n))

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": _json_float(self.value),
            "ci_low": _json_float(self.ci_low),
            "ci_high": _json_float(self.ci_high),
            "n": self.n,
            "unit": self.unit,
        }


def _json_float(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def yaw_and_bins(g: GroundTruth, conv: Conventions) -> tuple[np.ndarray, np.ndarray]:
    """(N,) yaw in degrees the bins are taken on and (N,) bin indices, under the yaw-source and bins conventions."""
    if conv.yaw_source == "aflw-labels":
        if g.yaw_aflw_deg is None:
            raise ScoringError(
                f"ground truth ({g.describe()}) has no AFLW yaw labels: --yaw-source aflw-labels needs 3DDFA's "
                f"AFLW2000-3D-new.pose.npy (give the folder with --eval-dir)"
            )
        yaw = np.asarray(g.yaw_aflw_deg, dtype=np.float64)
    else:
        yaw = np.asarray(g.yaw_deg, dtype=np.float64)
    bins = yaw_bins_carry_over(yaw) if conv.bins == "sadrnet" else yaw_bins(yaw)
    return yaw, bins


# Protocols ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resampling:
    """How a protocol's numbers are summarised: the bootstrap plan of one score.

    Attributes:
        bins: (M,) yaw-bin index of each scored image (the strata of a stratified bootstrap).
        n_boot: number of bootstrap resamples.
        seed: bootstrap seed.
        level: confidence level of the intervals.
    """

    bins: np.ndarray
    n_boot: int
    seed: int
    level: float


class Protocol(ABC):
    """A scoring protocol. Subclasses set the class attributes and implement :meth:`per_image`, :meth:`rows`."""

    #: Name on the command line and in every output.
    name: ClassVar[str]
    #: One line: the per-image error and the headline (docs, ``--help``).
    description: ClassVar[str]
    #: A few words for table captions (leaderboard, report).
    short: ClassVar[str] = ""
    #: The prediction array it scores (``landmarks``, ``angles_deg``, ``dense``).
    needs: ClassVar[str]
    #: Conventions it reads (fields of :class:`Conventions`), printed with its numbers.
    uses: ClassVar[tuple[str, ...]]
    #: Key of the headline metric.
    headline: ClassVar[str]
    #: Per-sample table column of its per-image error.
    column: ClassVar[str]
    #: Bootstrap resampling scheme, as printed.
    bootstrap_scheme: ClassVar[str] = "resampling stratified by yaw bin"
    #: Statistic of the paired comparison: ``balanced`` (yaw-stratified) or ``plain``.
    paired_statistic: ClassVar[str] = "balanced"
    #: Whether a CED curve of its per-image errors makes sense.
    has_ced: ClassVar[bool] = True
    #: Whether its per-image error is an NME (reported as the per-sample column ``nme``).
    reports_nme: ClassVar[bool] = True
    #: Per-sample boolean column of the images its summary uses (None: every scored image).
    evaluated_column: ClassVar[str | None] = None
    #: Default protocol of ``aflw-occ evaluate`` for a model whose output allows it.
    evaluated_by_default: ClassVar[bool] = False

    def gt_label(self, conv: Conventions) -> str:
        """What ground truth the numbers are against (``original``, ``reannotated``, ``dense``, ``angles``)."""
        return conv.gt

    def column_name(self, conv: Conventions) -> str:
        return self.column

    def check_predictions(self, pred: Predictions, conv: Conventions) -> None:
        """Raise :class:`PredictionError` when the predictions lack what the protocol needs."""
        if getattr(pred, self.needs) is None:
            raise PredictionError(f"{pred.source}: has no {self.needs} (protocol {self.name} needs them)")

    def check_request(self, conv: Conventions, has_dense_gt: bool) -> None:
        """Raise :class:`ScoringError` for a convention or input the protocol cannot serve."""
        return None

    def check_ground_truth(self, g: GroundTruth, conv: Conventions) -> None:
        """Raise :class:`ScoringError` when the ground truth lacks what the protocol needs."""
        return None

    def applies(self, dims: int | None, has_angles: bool, has_dense: bool) -> bool:
        """Whether a model output with these arrays can be scored by this protocol."""
        return True

    @abstractmethod
    def per_image(self, a: Aligned, conv: Conventions) -> PerImage:
        """Per-image numbers over the scored rows."""

    @abstractmethod
    def rows(self, per: PerImage, extra: Mapping[str, np.ndarray], plan: Resampling) -> list[MetricRow]:
        """The reported numbers. ``extra``: further per-image columns to summarise (occluded / visible NME)."""

    def table_columns(self, a: Aligned, conv: Conventions) -> dict[str, Callable[[], np.ndarray]]:
        """Per-sample table columns this protocol can fill for any request, computed only when asked."""
        return {}


_REGISTRY: dict[str, Protocol] = {}
#: name → protocol object, in registration order (read by the CLI, the report and the leaderboard).
REGISTRY: Mapping[str, Protocol] = _REGISTRY


def register(cls: type[Protocol]) -> type[Protocol]:
    """Class decorator: add one instance of a protocol class to :data:`REGISTRY`."""
    obj = cls()
    if obj.name in _REGISTRY:
        raise ValueError(f"protocol {obj.name} is registered twice")
    _REGISTRY[obj.name] = obj
    return cls


def protocol_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_protocol(protocol: str | Protocol) -> Protocol:
    """The registered protocol of a name (a :class:`Protocol` is returned as is)."""
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return _REGISTRY[protocol]
    except KeyError:
        raise ScoringError(f"unknown protocol {protocol!r} (choose {', '.join(_REGISTRY)})") from None


# Landmark protocols ---------------------------------------------------------------------------------------------
