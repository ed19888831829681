"""Scoring protocols as objects, in one registry (``docs/protocol.md`` of the shared data; README "Protocols").

A protocol says what it needs from the predictions and the ground truth, computes its per-image error with the pure
functions of :mod:`aflw_occ.metrics`, and declares its bins, headline, bootstrap scheme and paired statistic. The
field's conventions are typed options (:class:`Conventions`), each protocol listing the ones it reads. Adding a
protocol is one new class registered with :func:`register`; the CLI choices (``aflw-occ score --protocol``,
``aflw-occ evaluate --protocol``), the text / JSON report, the per-sample table and the leaderboard read
:data:`REGISTRY`.

Registered: ``sparse-2d`` (default), ``sparse-3d``, ``dense``, ``dense-2d``, ``pose``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from .errors import AflwOccError, PredictionError
from .metrics.bins import BIN_LABELS, N_BINS, bin_counts, bin_mean_std, bin_means, yaw_bins, yaw_bins_carry_over
from .metrics.bootstrap import percentile_ci, resample_means
from .metrics.ced import auc_at, failure_rate
from .metrics.nme import POINT_SETS, nme_dense, nme_dense_2d, nme_from_point_errors, point_errors
from .metrics.pose import ANGLE_NAMES, angle_errors, pose_mask

if TYPE_CHECKING:  # pragma: no cover
    from .groundtruth import GroundTruth
    from .predictions import Predictions

__all__ = [
    "AUC_CUTOFFS",
    "FAILURE_THRESHOLD",
    "CONVENTIONS",
    "REGISTRY",
    "ScoringError",
    "ConventionSpec",
    "Conventions",
    "Aligned",
    "PerImage",
    "MetricRow",
    "Protocol",
    "LandmarkProtocol",
    "register",
    "get_protocol",
    "protocol_names",
    "yaw_and_bins",
]

AUC_CUTOFFS: tuple[float, ...] = (0.07, 0.10)
FAILURE_THRESHOLD = 0.10
_BIN_KEYS = ("nme_0_30", "nme_30_60", "nme_60_plus")

GtSource = Literal["original", "reannotated"]
YawSource = Literal["pose-para", "aflw-labels"]
Binning = Literal["3ddfa", "sadrnet"]
PoseMae = Literal["wrapped", "raw"]
PoseDecoding = Literal["as-given", "aflw2000-3d", "synergynet"]
PointSet = Literal["68", "inner-51"]


class ScoringError(AflwOccError):
    """The scoring request cannot be served (unknown protocol, ground truth lacking what it needs)."""


# Conventions ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConventionSpec:
    """One named convention: the :class:`Conventions` field, its CLI flag, header key, values and their meaning."""

    field: str
    flag: str
    key: str
    choices: tuple[str, ...]
    meanings: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.choices[0]

    def help(self) -> str:
        return "; ".join(f"{c}: {m}" for c, m in zip(self.choices, self.meanings, strict=True))


#: Every convention the scorer offers, in the order headers print them (the first choice is the default).
CONVENTIONS: tuple[ConventionSpec, ...] = (
    ConventionSpec(
        "gt",
        "--gt",
        "gt",
        ("original", "reannotated"),
        ("pt3d_68 of the release", "the LS3D-W 2D re-annotation (its own box; sparse-2d only)"),
    ),
    ConventionSpec(
        "yaw_source",
        "--yaw-source",
        "yaw",
        ("pose-para", "aflw-labels"),
        (
            "|degrees(Pose_Para[1])| = 3DDFA's AFLW2000-3D.pose.npy, bins 1312/383/305",
            "AFLW's own yaw labels, 3DDFA's AFLW2000-3D-new.pose.npy ('same as paper' in its code), 1306/462/232",
        ),
    ),
    ConventionSpec(
        "bins",
        "--bins",
        "bins",
        ("3ddfa", "sadrnet"),
        (
            "[0,30], (30,60], >60",
            "SADRNet's evaluate_aflw: <=30/<=60/<=90, |yaw|>90 keeps the previous image's bin (non-standard)",
        ),
    ),
    ConventionSpec(
        "points",
        "--points",
        "points",
        ("68", "inner-51"),
        (
            "all 68 points",
            "the 51 inner points 17-67 (0-based; no jaw line), normaliser still the 68-point box",
        ),
    ),
    ConventionSpec(
        "pose_mae",
        "--pose-mae",
        "mae",
        ("wrapped", "raw"),
        ("|wrap(â − a)|, the shortest angle (correct)", "|â − a| unwrapped (SynergyNet, DSFNet, FSA-Net code)"),
    ),
    ConventionSpec(
        "pose_decoding",
        "--pose-decoding",
        "decoding",
        ("as-given", "aflw2000-3d", "synergynet"),
        (
            "the file's angles_deg as they are",
            "decode the file's rotation with the release's R = Rx·Ry·Rz (yaw = −asin R[0,2])",
            "decode the file's rotation with SynergyNet's matrix2angle (yaw = asin R[2,0]; published tables)",
        ),
    ),
)
_SPECS: dict[str, ConventionSpec] = {c.field: c for c in CONVENTIONS}


@dataclass(frozen=True)
class Conventions:
    """The field's conventions as typed options (defaults: aflw-occ's own, see :data:`CONVENTIONS`)."""

    gt: GtSource = "original"
    yaw_source: YawSource = "pose-para"
    bins: Binning = "3ddfa"
    points: PointSet = "68"
    pose_mae: PoseMae = "wrapped"
    pose_decoding: PoseDecoding = "as-given"

    def __post_init__(self) -> None:
        for f in fields(self):
            spec = _SPECS[f.name]
            value = getattr(self, f.name)
            if value not in spec.choices:
                what = "ground truth" if f.name == "gt" else spec.flag.lstrip("-")
                raise ScoringError(f"unknown {what} {value!r} (choose {', '.join(spec.choices)})")

    def label(self, names: tuple[str, ...]) -> str:
        """``key=value`` of the named conventions, in :data:`CONVENTIONS` order."""
        return " ".join(f"{c.key}={getattr(self, c.field)}" for c in CONVENTIONS if c.field in names)


# What a protocol works on ---------------------------------------------------------------------------------------


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
    def rows(
        self,
        per: PerImage,
        extra: Mapping[str, np.ndarray],
        bins: np.ndarray,
        n_boot: int,
        seed: int,
        level: float,
        conv: Conventions,
    ) -> list[MetricRow]:
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


def _nme_rows(
    columns: Mapping[str, np.ndarray], bins: np.ndarray, n_boot: int, seed: int, level: float
) -> list[MetricRow]:
    """Rows of a landmark protocol; ``columns``: name (``nme``, ``occluded``, ``visible``) → fractions (M,)."""
    names = list(columns)
    values = np.stack([columns[k] for k in names], axis=1)  # (M, k) fractions
    r = resample_means(values, bins, n_strata=N_BINS, n_boot=n_boot, seed=seed)
    lo_bin, hi_bin = percentile_ci(r.stratum_means(), level)  # (3, k)
    lo_bal, hi_bal = percentile_ci(r.balanced(), level)  # (k,)
    lo_pl, hi_pl = percentile_ci(r.plain(), level)
    rows: list[MetricRow] = []
    counts = bin_counts(bins)
    nan = float("nan")
    for j, name in enumerate(names):
        v = values[:, j]
        finite = np.isfinite(v)
        means = bin_means(v, bins)
        prefix = "nme" if name == "nme" else f"nme_{name}"
        what = "NME" if name == "nme" else f"NME {name} landmarks"
        if name == "nme":
            for b in range(N_BINS):
                rows.append(
                    MetricRow(
                        _BIN_KEYS[b],
                        f"{what} {BIN_LABELS[b]}",
                        100 * means[b],
                        100 * lo_bin[b, j],
                        100 * hi_bin[b, j],
                        int(counts[b]),
                        "%",
                    )
                )
        n_fin = int(finite.sum())
        rows.append(
            MetricRow(
                f"{prefix}_balanced",
                f"{what} balanced mean",
                100 * float(np.mean(means)),
                100 * lo_bal[j],
                100 * hi_bal[j],
                n_fin,
                "%",
            )
        )
        if name == "nme":
            std = 100 * bin_mean_std(v, bins)
            rows.append(MetricRow("nme_bin_std", f"{what} std of bin means (±)", std, nan, nan, n_fin, "%"))
        plain = float(v[finite].mean()) if finite.any() else nan
        rows.append(
            MetricRow(f"{prefix}_plain", f"{what} plain mean", 100 * plain, 100 * lo_pl[j], 100 * hi_pl[j], n_fin, "%")
        )
    e = columns["nme"]
    for c in AUC_CUTOFFS:
        pc = int(round(c * 100))
        rows.append(MetricRow(f"auc_{pc}", f"CED AUC@{pc}%", auc_at(e, c), nan, nan, int(e.size), "AUC 0-1"))
    pf = int(round(FAILURE_THRESHOLD * 100))
    rows.append(
        MetricRow(
            f"failure_{pf}",
            f"failure rate@{pf}%",
            100 * failure_rate(e, FAILURE_THRESHOLD),
            nan,
            nan,
            int(e.size),
            "% of images",
        )
    )
    return rows


class LandmarkProtocol(Protocol):
    """An NME protocol: per-image normalised mean error, yaw bins, balanced / plain means, CED."""

    uses = ("gt", "yaw_source", "bins")
    headline = "nme_balanced"

    def rows(
        self,
        per: PerImage,
        extra: Mapping[str, np.ndarray],
        bins: np.ndarray,
        n_boot: int,
        seed: int,
        level: float,
        conv: Conventions,
    ) -> list[MetricRow]:
        return _nme_rows({"nme": per.errors, **extra}, bins, n_boot, seed, level)


def points_suffix(conv: Conventions) -> str:
    """Per-sample column suffix of a point set: ``""`` for all 68 points, else ``_inner51``."""
    return "" if conv.points == "68" else "_" + conv.points.replace("-", "")


class SparseProtocol(LandmarkProtocol):
    """Shared by ``sparse-2d`` and ``sparse-3d``: the 68 landmarks (or a named subset, the ``points`` convention),
    normaliser √(w·h) of the ground-truth 68-point box."""

    needs = "landmarks"
    uses = ("gt", "yaw_source", "bins", "points")
    dims: ClassVar[int]

    def _gt_array(self, g: GroundTruth, conv: Conventions) -> np.ndarray:
        arr = g.reannotated if conv.gt == "reannotated" else g.landmarks
        assert arr is not None  # checked by check_ground_truth
        return arr

    def check_ground_truth(self, g: GroundTruth, conv: Conventions) -> None:
        if conv.gt == "reannotated" and g.reannotated is None:
            raise ScoringError(
                f"ground truth ({g.describe()}) has no re-annotated landmarks "
                f"(give the 3DDFA folder with AFLW2000-3D-Reannotated.pts68.npy via --eval-dir)"
            )

    def per_image(self, a: Aligned, conv: Conventions) -> PerImage:
        """e_ik over all 68 points (so the normaliser is always the 68-point box), then the convention's subset."""
        assert a.landmarks is not None
        e = point_errors(a.landmarks, a.gt_rows(self._gt_array(a.gt, conv)), dims=self.dims, z_centred=self.dims == 3)
        if conv.points == "68":
            return PerImage(errors=nme_from_point_errors(e), point_errors=e)
        idx = POINT_SETS[conv.points]
        e = e[:, idx]
        return PerImage(errors=nme_from_point_errors(e), point_errors=e, points=idx)

    def table_columns(self, a: Aligned, conv: Conventions) -> dict[str, Callable[[], np.ndarray]]:
        out: dict[str, Callable[[], np.ndarray]] = {}
        if a.landmarks is None or a.landmarks.shape[2] < self.dims:
            return out
        sources: list[GtSource] = ["original"]
        if self.dims == 2 and a.gt.reannotated is not None:
            sources.append("reannotated")
        for gt in sources:
            for points in _SPECS["points"].choices:
                c = Conventions(gt=gt, points=points)  # type: ignore[arg-type]
                out[self.column_name(c)] = lambda c=c: a.full(100 * self.per_image(a, c).errors)
        return out


@register
class Sparse2D(SparseProtocol):
    name = "sparse-2d"
    description = (
        "mean over the 68 points of ‖p̂ − p‖ (x, y) / √(w·h), w, h the x/y extents of the ground-truth 68 points "
        "(original = pt3d_68, reannotated = LS3D-W 2D labels with their own box)"
    )
    short = "68 points, NME % of √(w·h) of the ground-truth box"
    dims = 2
    column = "nme_sparse2d_original"
    evaluated_by_default = True

    def column_name(self, conv: Conventions) -> str:
        return f"nme_sparse2d_{conv.gt}{points_suffix(conv)}"


@register
class Sparse3D(SparseProtocol):
    name = "sparse-3d"
    description = "as sparse-2d in 3D, after subtracting each set's mean z (original ground truth only)"
    dims = 3
    column = "nme_sparse3d"

    def column_name(self, conv: Conventions) -> str:
        return f"{self.column}{points_suffix(conv)}"

    def check_predictions(self, pred: Predictions, conv: Conventions) -> None:
        super().check_predictions(pred, conv)
        if pred.dims != 3:
            raise PredictionError(f"{pred.source}: landmarks are 2D (N, 68, 2); protocol sparse-3d needs (N, 68, 3)")

    def check_request(self, conv: Conventions, has_dense_gt: bool) -> None:
        if conv.gt == "reannotated":
            raise ScoringError("the re-annotated ground truth is 2D only: protocol sparse-3d uses --gt original")

    evaluated_by_default = True

    def applies(self, dims: int | None, has_angles: bool, has_dense: bool) -> bool:
        return dims == 3


class DenseProtocol(LandmarkProtocol):
    """Shared by ``dense`` and ``dense-2d``: P user-supplied dense points, normaliser of the dense ground truth."""

    needs = "dense"
    uses = ("yaw_source", "bins")
    headline = "nme_plain"
    paired_statistic = "plain"

    def gt_label(self, conv: Conventions) -> str:
        return "dense"

    def check_predictions(self, pred: Predictions, conv: Conventions) -> None:
        if pred.dense is None:
            raise PredictionError(
                f"{pred.source}: has no dense points (protocol {self.name} needs an array dense (N, P, 3))"
            )

    def check_request(self, conv: Conventions, has_dense_gt: bool) -> None:
        if not has_dense_gt:
            raise ScoringError(f"protocol {self.name} needs dense ground truth (--dense-gt FILE.npz with ids, points)")

    def applies(self, dims: int | None, has_angles: bool, has_dense: bool) -> bool:
        return has_dense

    @staticmethod
    @abstractmethod
    def metric(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """(M, P, 3), (M, P, 3) → (M,) NME fractions."""

    def per_image(self, a: Aligned, conv: Conventions) -> PerImage:
        assert a.dense is not None and a.dense_gt is not None
        return PerImage(errors=self.metric(a.dense, a.dense_gt))

    def table_columns(self, a: Aligned, conv: Conventions) -> dict[str, Callable[[], np.ndarray]]:
        if a.dense is None or a.dense_gt is None:
            return {}
        return {self.column: lambda: a.full(100 * self.per_image(a, conv).errors)}


@register
class Dense(DenseProtocol):
    name = "dense"
    description = (
        "as sparse-3d on the P user-supplied dense points (e.g. the 43,867 UV face-region points), box of the "
        "dense ground truth"
    )
    column = "nme_dense"

    @staticmethod
    def metric(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        return nme_dense(pred, gt)


@register
class Dense2D(DenseProtocol):
    name = "dense-2d"
    description = "DSFNet's nme2d: the dense points in x/y only, box of the dense ground truth"
    column = "nme_dense2d"

    @staticmethod
    def metric(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        return nme_dense_2d(pred, gt)


# Pose -------------------------------------------------------------------------------------------------------


@register
class Pose(Protocol):
    name = "pose"
    description = (
        "per angle |wrap(â − a)| (wrapped, default) or |â − a| (raw, the field's code) against the raw, unwrapped "
        "angles; images with |pitch|, |yaw|, |roll| ≤ 99° (1969 of 2000); headline the mean of the three MAEs"
    )
    needs = "angles_deg"
    uses = ("pose_decoding", "pose_mae")
    headline = "mae_mean"
    column = "err_pose_mean"
    bootstrap_scheme = "whole-set resampling"
    paired_statistic = "plain"
    has_ced = False
    reports_nme = False
    evaluated_column = "pose_evaluated"
    evaluated_by_default = True

    def gt_label(self, conv: Conventions) -> str:
        return "angles"

    def check_predictions(self, pred: Predictions, conv: Conventions) -> None:
        if conv.pose_decoding != "as-given":
            if pred.rotation is None:
                raise PredictionError(
                    f"{pred.source}: has no rotation (N, 3, 3) to decode with --pose-decoding {conv.pose_decoding} "
                    f"(use --pose-decoding as-given to score its angles_deg)"
                )
        elif pred.angles_deg is None:
            hint = ""
            if pred.rotation is not None:
                hint = " (it holds rotation: choose --pose-decoding aflw2000-3d or synergynet)"
            raise PredictionError(f"{pred.source}: has no angles_deg (protocol pose needs them){hint}")

    def applies(self, dims: int | None, has_angles: bool, has_dense: bool) -> bool:
        return has_angles

    def per_image(self, a: Aligned, conv: Conventions) -> PerImage:
        assert a.angles_deg is not None
        gt = a.gt_rows(a.gt.angles_deg)
        err = angle_errors(a.angles_deg, gt, conv.pose_mae)
        label = f"decoding={a.pose_decoding}, mae={conv.pose_mae}"
        return PerImage(errors=err.mean(axis=1), evaluated=pose_mask(gt), angle_errors=err, label=label)

    def rows(
        self,
        per: PerImage,
        extra: Mapping[str, np.ndarray],
        bins: np.ndarray,
        n_boot: int,
        seed: int,
        level: float,
        conv: Conventions,
    ) -> list[MetricRow]:
        assert per.angle_errors is not None and per.evaluated is not None
        err = per.angle_errors[per.evaluated]
        cols = np.concatenate([err, err.mean(axis=1, keepdims=True)], axis=1)  # (M', 4)
        n = cols.shape[0]
        if n:
            r = resample_means(cols, None, n_strata=1, n_boot=n_boot, seed=seed)
            lo, hi = percentile_ci(r.plain(), level)
            est = cols.mean(axis=0)
        else:
            lo = hi = est = np.full(4, np.nan)
        tag = f" [{per.label}]" if per.label else ""
        return [
            MetricRow(f"mae_{k}", f"pose MAE {k}{tag}", float(est[j]), float(lo[j]), float(hi[j]), n, "deg")
            for j, k in enumerate([*ANGLE_NAMES, "mean"])
        ]
