"""Score predictions against a ground truth under a named protocol: the thin layer over :mod:`aflw_occ.metrics`.

One forward pass: the predictions are read and validated once (:func:`aflw_occ.predictions.read_predictions`),
matched to the ground truth once (:func:`align`), scored by the protocol object of :mod:`aflw_occ.protocols`
(per-image error, bins, rows), and rendered by :class:`ScoreResult`, whose every output (text, JSON, tables) states
the protocol, its conventions, the ground-truth source, data version, provenance, the pixel origin and the sha256
of the predictions that produced it.

Protocols: see :data:`aflw_occ.protocols.REGISTRY` (``sparse-2d`` default, ``sparse-3d``, ``dense``, ``dense-2d``,
``pose``); conventions: :class:`aflw_occ.protocols.Conventions`.

Nothing here imports torch; pandas is imported only when a DataFrame is asked for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import PredictionError
from .groundtruth import GroundTruth
from .matching import match_ids
from .metrics.bins import N_BINS
from .metrics.bootstrap import PairedComparison, paired_bootstrap
from .metrics.ced import ced_curve
from .metrics.nme import masked_nme
from .metrics.pose import ANGLE_NAMES, angle_errors, pose_mask
from .metrics.rotation import angles_from_rotation
from .predictions import PIXEL_ORIGIN, Predictions, read_predictions
from .protocols import (
    AUC_CUTOFFS,
    CONVENTIONS,
    FAILURE_THRESHOLD,
    REGISTRY,
    Aligned,
    Conventions,
    MetricRow,
    PerImage,
    Protocol,
    Resampling,
    ScoringError,
    get_protocol,
    protocol_names,
    yaw_and_bins,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

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
    "score",
    "compare",
]

PROTOCOLS: tuple[str, ...] = protocol_names()
GT_SOURCES: tuple[str, ...] = ("original", "reannotated")


# Dense ground truth -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DenseGroundTruth:
    """User-supplied dense ground truth: ``ids`` (N,) and ``points`` (N, P, 3) in image pixels."""

    ids: np.ndarray
    points: np.ndarray
    source: str = "<memory>"

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids)
        pts = np.asarray(self.points)
        src = self.source
        if ids.dtype.kind not in "US" or ids.ndim != 1:
            raise ScoringError(f"{src}: dense ground-truth ids must be an (N,) string array")
        if ids.dtype.kind == "S":
            ids = np.char.decode(ids, "utf-8")
        if pts.dtype.kind not in "fiu" or pts.ndim != 3 or pts.shape[0] != ids.shape[0] or pts.shape[2] != 3:
            raise ScoringError(f"{src}: dense ground-truth points have shape {pts.shape}, expected (N, P, 3)")
        if len(set(ids.tolist())) != ids.shape[0]:
            raise ScoringError(f"{src}: dense ground-truth ids are not unique")
        bad = np.flatnonzero(~np.isfinite(pts.reshape(pts.shape[0], -1)).all(axis=1))
        if bad.size:
            raise ScoringError(f"{src}: dense ground-truth points of id {ids[bad[0]]} hold NaN or inf")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "points", pts.astype(np.float64, copy=False))

    @classmethod
    def load(cls, path: str | Path) -> DenseGroundTruth:
        """Read an ``.npz`` holding ``ids`` (N,) and ``points`` (N, P, 3)."""
        p = Path(path)
        if not p.is_file():
            raise ScoringError(f"{p}: dense ground-truth file does not exist")
        try:
            with np.load(p, allow_pickle=False) as z:
                if "ids" not in z.files or "points" not in z.files:
                    raise ScoringError(f"{p}: dense ground truth needs arrays ids and points, has {z.files}")
                ids, pts = z["ids"], z["points"]
        except ScoringError:
            raise
        except Exception as exc:
            raise ScoringError(f"{p}: not a readable dense ground-truth .npz ({type(exc).__name__}: {exc})") from None
        return cls(ids=ids, points=pts, source=str(p))


# Results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreResult:
    """Everything one scoring run produced, with the provenance of every number.

    Per-sample columns cover every ground-truth row in ground-truth order, missing ones included (``missing``
    is True, their numbers NaN). NMEs are in percent of √(w·h); angles and angle errors in degrees.
    """

    protocol: str
    gt: str
    ground_truth: str
    split: str
    data_version: str
    provenance: dict[str, str]
    predictions: str
    sha256: str
    n_scored: int
    missing_ids: list[str]
    seed: int
    n_boot: int
    level: float
    rows: list[MetricRow]
    headline: str
    ids: np.ndarray
    yaw_deg: np.ndarray
    bins: np.ndarray
    columns: dict[str, np.ndarray] = field(repr=False)
    primary: str = "nme"
    lazy_columns: Callable[[], dict[str, np.ndarray]] | None = field(default=None, repr=False, compare=False)
    conventions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_missing(self) -> int:
        return len(self.missing_ids)

    def row(self, key: str) -> MetricRow:
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(f"no metric {key!r} in this result (have {', '.join(r.key for r in self.rows)})")

    def __getitem__(self, key: str) -> float:
        return self.row(key).value

    @property
    def bootstrap_scheme(self) -> str:
        return get_protocol(self.protocol).bootstrap_scheme

    def convention_label(self) -> str:
        """``gt=… key=value …``: every convention that produced the numbers."""
        return " ".join([f"gt={self.gt}", *(f"{k}={v}" for k, v in self.conventions.items())])

    def header(self) -> str:
        """One line naming protocol, conventions, ground truth, data version/provenance, predictions, sha256."""
        return (
            f"aflw-occ score | protocol={self.protocol} {self.convention_label()} | {self.ground_truth} | "
            f"predictions={self.predictions} sha256={self.sha256} | "
            f"{self.n_scored} scored, {self.n_missing} missing"
        )

    def ced(self, cutoff: float = 0.10, n_points: int = 101) -> tuple[np.ndarray, np.ndarray]:
        """CED of the protocol's per-image errors (as fractions) on ``linspace(0, cutoff, n_points)``."""
        if not get_protocol(self.protocol).has_ced:
            raise ScoringError(f"the {self.protocol} protocol has no CED (it reports angle errors)")
        e = self.columns[self.primary] / 100.0
        return ced_curve(e[np.isfinite(e)], cutoff=cutoff, n_points=n_points)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "gt": self.gt,
            "conventions": dict(self.conventions),
            "pixel_origin": PIXEL_ORIGIN,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "ground_truth": self.ground_truth,
            "split": self.split,
            "data_version": self.data_version,
            "provenance": dict(self.provenance),
            "predictions": {"path": self.predictions, "sha256": self.sha256},
            "n_scored": self.n_scored,
            "n_missing": self.n_missing,
            "missing_ids": list(self.missing_ids),
            "bootstrap": {
                "n_boot": self.n_boot,
                "seed": self.seed,
                "level": self.level,
                "scheme": self.bootstrap_scheme,
                "interval": "percentile",
            },
            "headline": self.headline,
            "metrics": {r.key: r.to_dict() for r in self.rows},
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_text(self) -> str:
        """A fixed-width table preceded by the provenance header."""
        pct = int(round(self.level * 100))
        lines = [
            "# " + self.header(),
            f"# pixels: {PIXEL_ORIGIN}" + "".join(f"; {n}" for n in self.notes),
            f"# bootstrap: B={self.n_boot} seed={self.seed} {pct}% percentile CI, {self.bootstrap_scheme}",
        ]
        lines += [f"# warning: {w}" for w in self.warnings]
        if self.missing_ids:
            shown = ", ".join(self.missing_ids[:5]) + (", ..." if self.n_missing > 5 else "")
            lines.append(f"# missing ids ({self.n_missing}): {shown}")
        width = max(32, *(len(r.label) + 2 for r in self.rows))
        lines.append(f"{'metric':<{width}} {'value':>9}  {f'{pct}% CI':<21} {'n':>6}  unit")
        for r in self.rows:
            ci = f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" if math.isfinite(r.ci_low) else "-"
            mark = " *" if r.key == self.headline else ""
            lines.append(f"{r.label + mark:<{width}} {r.value:>9.3f}  {ci:<21} {r.n:>6}  {r.unit}")
        lines.append("(* headline number of the protocol)")
        return "\n".join(lines)

    def summary(self) -> pd.DataFrame:
        """The reported numbers as a DataFrame (one row per metric); provenance in ``DataFrame.attrs``."""
        import pandas as pd

        df = pd.DataFrame(
            [
                {
                    "metric": r.key,
                    "label": r.label,
                    "value": r.value,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                    "n": r.n,
                    "unit": r.unit,
                }
                for r in self.rows
            ]
        )
        df.attrs.update({k: v for k, v in self.to_dict().items() if k != "metrics"})
        return df

    def per_sample_columns(self) -> dict[str, np.ndarray]:
        """The per-sample table as ordered (N,) columns (see :meth:`per_sample`), without pandas."""
        from .metrics.table import table_columns

        if self.lazy_columns is not None:  # NMEs of the other protocols the data allows, computed once
            self.columns.update(self.lazy_columns())
            object.__setattr__(self, "lazy_columns", None)
        return table_columns(self.ids, self.split, self.yaw_deg, self.bins, self.columns)

    def per_sample(self) -> pd.DataFrame:
        """One row per ground-truth sample: id, split, yaw, bin, and every per-image number computed."""
        import pandas as pd

        df = pd.DataFrame(self.per_sample_columns())
        df.attrs.update({k: v for k, v in self.to_dict().items() if k != "metrics"})
        return df

    def write_per_sample_csv(self, path: str | Path) -> Path:
        """Write the per-sample table as CSV atomically (temporary file, then rename); no pandas needed."""
        from .atomic import atomic_path
        from .metrics.table import write_table_csv

        out = Path(path)
        with atomic_path(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            write_table_csv(fh, self.per_sample_columns())
        return out


# Scoring ----------------------------------------------------------------------------------------


def _conventions(conventions: Conventions | None, gt: str, options: dict[str, str | None]) -> Conventions:
    if conventions is not None:
        return conventions
    given = {k: v for k, v in options.items() if v is not None}
    return Conventions(gt=gt, **given)  # type: ignore[arg-type]


def check_request(
    pred: Predictions,
    protocol: str | Protocol,
    gt: str = "original",
    dense_gt: DenseGroundTruth | str | Path | None = None,
    conventions: Conventions | None = None,
) -> Protocol:
    """Check what can be checked before the ground truth is loaded: protocol and convention names, and that the
    predictions hold what the protocol needs (raises :class:`ScoringError` / :class:`PredictionError`)."""
    proto = get_protocol(protocol)
    conv = conventions if conventions is not None else Conventions(gt=gt)  # type: ignore[arg-type]
    proto.check_predictions(pred, conv)
    proto.check_request(conv, dense_gt is not None)
    return proto


def _release_keys(g: GroundTruth) -> tuple[np.ndarray, np.ndarray]:
    """(sorted release ids, the key of every ground-truth row) for predictions whose ids are implied."""
    keys = np.asarray(g.source_ids if g.source_ids is not None else g.ids).astype(str)
    if len(set(keys.tolist())) != keys.size:
        keys = np.asarray(g.ids).astype(str)
    return np.sort(keys), keys


def _decode_angles(pred: Predictions, conv: Conventions) -> tuple[np.ndarray | None, str]:
    if conv.pose_decoding != "as-given" and pred.rotation is not None:
        return angles_from_rotation(pred.rotation, conv.pose_decoding), f"{conv.pose_decoding} (decoded from rotation)"
    stated = f"as-given ({pred.pose_decoding}, stated in file)" if pred.pose_decoding else "as-given (unstated)"
    return pred.angles_deg, stated


def align(
    pred: Predictions,
    g: GroundTruth,
    conv: Conventions,
    *,
    allow_missing: bool = False,
    dense: DenseGroundTruth | None = None,
) -> Aligned:
    """Match prediction rows to ground-truth rows once and gather what every protocol needs, in ground-truth order.

    Implied ids (a ``.npy`` or an ``.npz`` without ids) are the release's sorted order of the split's source images.
    """
    src = pred.source
    gt_label = f"the ground truth (split={g.split})"
    pred_ids, gt_keys = pred.ids, np.asarray(g.ids)
    if pred.implied_ids:
        release, gt_keys = _release_keys(g)
        if len(pred) != release.size:
            raise PredictionError(
                f"{src}: {len(pred)} rows without ids (release sorted order implied), but {gt_label} has "
                f"{release.size} source images; save the ids too (np.savez(path, ids=..., landmarks=...))"
            )
        pred_ids = release
    match = match_ids(pred_ids, gt_keys, allow_missing=allow_missing, source=src, gt_label=gt_label)
    rows, q = match.gt_rows, match.pred_rows
    same = bool(np.array_equal(q, np.arange(q.size)))

    def take(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else (a if same else a[q])

    angles, decoding = _decode_angles(pred, conv)
    dense_pts = dense_gt = None
    if dense is not None and pred.dense is not None:
        d_index = {sid: i for i, sid in enumerate(dense.ids.tolist())}
        ids_scored = np.asarray(g.ids)[rows].tolist()
        d_rows = np.array([d_index.get(sid, -1) for sid in ids_scored], dtype=np.int64)
        if d_rows.size and d_rows.min() < 0:
            first = ids_scored[int(np.flatnonzero(d_rows < 0)[0])]
            raise ScoringError(f"{dense.source}: dense ground truth has no entry for id {first}")
        if pred.dense.shape[1] != dense.points.shape[1]:
            raise PredictionError(
                f"{src}: dense has {pred.dense.shape[1]} points per sample, the dense ground truth "
                f"{dense.source} has {dense.points.shape[1]}"
            )
        dense_pts, dense_gt = take(pred.dense), dense.points[d_rows]
    return Aligned(
        gt=g,
        rows=rows,
        missing=match.missing,
        landmarks=take(pred.landmarks),
        angles_deg=take(angles),
        dense=dense_pts,
        dense_gt=dense_gt,
        pose_decoding=decoding,
    )


#: Mean landmark offsets (px, both x and y, same sign) in this range look like a 0-/1-based pixel-origin slip.
ORIGIN_SLIP_RANGE: tuple[float, float] = (0.5, 1.5)


def origin_slip_warning(a: Aligned) -> str | None:
    """A warning when the mean offset of the predicted landmarks from ``pt3d_68`` looks like an origin slip.

    Rule: both mean offsets (x̄, ȳ) over all scored points lie in ±[0.5, 1.5] px with the same sign, and each is
    more than 5 standard errors (of the per-image mean offsets) away from 0. A pure 0-based/1-based mix-up shifts
    every point by exactly 1 px in x and y; the scores are computed as given.
    """
    if a.landmarks is None or a.rows.size < 2:
        return None
    d = a.landmarks[..., :2] - a.gt_rows(a.gt.landmarks)[..., :2]
    per_image = d.mean(axis=1)  # (M, 2)
    mean = per_image.mean(axis=0)
    se = per_image.std(axis=0) / math.sqrt(per_image.shape[0])
    lo, hi = ORIGIN_SLIP_RANGE
    mag = np.abs(mean)
    if np.all((mag >= lo) & (mag <= hi)) and np.sign(mean[0]) == np.sign(mean[1]) and np.all(mag > 5 * se):
        fix = "subtract 1" if mean[0] > 0 else "add 1"
        return (
            f"mean landmark offset from the ground truth is ({mean[0]:+.2f}, {mean[1]:+.2f}) px, which looks like a "
            f"pixel-origin slip: the ground truth is 1-based (pt3d_68); if the predictions are 0-based, {fix} to "
            f"x and y. Scored as given."
        )
    return None


def score(
    predictions: Predictions | str | Path,
    ground_truth: GroundTruth,
    protocol: str | Protocol = "sparse-2d",
    gt: str = "original",
    allow_missing: bool = False,
    seed: int = 0,
    *,
    dense_gt: DenseGroundTruth | str | Path | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    conventions: Conventions | None = None,
    yaw_source: str | None = None,
    bins: str | None = None,
    pose_mae: str | None = None,
    pose_decoding: str | None = None,
    points: str | None = None,
) -> ScoreResult:
    """Score predictions against one split's ground truth under a named protocol and conventions.

    Args:
        predictions: a prediction file (see ``docs/predictions.md``; read once) or a :class:`Predictions`.
        ground_truth: the split's :class:`GroundTruth` (``GroundTruth.from_source`` / ``from_store``).
        protocol: a name of :data:`aflw_occ.protocols.REGISTRY` or a :class:`~aflw_occ.protocols.Protocol`.
        gt: ``original`` | ``reannotated`` (sparse-2d only); ignored by ``dense``, ``dense-2d`` and ``pose``.
        allow_missing: score the ground-truth samples that have a prediction and report the others,
            instead of failing.
        seed: bootstrap seed.
        dense_gt: dense ground truth (dense protocols): a :class:`DenseGroundTruth` or an ``.npz`` path.
        n_boot: number of bootstrap resamples.
        level: confidence level of the intervals.
        conventions: all conventions at once (overrides ``gt`` and the four keywords below).
        yaw_source: ``pose-para`` (default) | ``aflw-labels``. bins: ``3ddfa`` (default) | ``sadrnet``.
        pose_mae: ``wrapped`` (default) | ``raw``. pose_decoding: ``as-given`` (default) | ``aflw2000-3d`` |
            ``synergynet`` (decode the predictions' ``rotation``). points: ``68`` (default) | ``inner-51`` (the
            sparse protocols over the 51 inner points 17–67 only; normaliser unchanged).

    Returns:
        :class:`ScoreResult`.
    """
    _check_arguments(ground_truth, n_boot, seed, level)
    conv = _conventions(
        conventions,
        gt,
        {
            "yaw_source": yaw_source,
            "bins": bins,
            "pose_mae": pose_mae,
            "pose_decoding": pose_decoding,
            "points": points,
        },
    )
    pred = _as_predictions(predictions)
    proto = check_request(pred, protocol, conv.gt, dense_gt, conv)
    g = ground_truth
    proto.check_ground_truth(g, conv)
    dense = None
    if dense_gt is not None and pred.dense is not None:
        dense = dense_gt if isinstance(dense_gt, DenseGroundTruth) else DenseGroundTruth.load(dense_gt)
    yaw, all_bins = yaw_and_bins(g, conv)

    a = align(pred, g, conv, allow_missing=allow_missing, dense=dense)
    per = proto.per_image(a, conv)
    cols, extra = _sample_columns(a, per, proto, conv)
    rows = proto.rows(per, extra, Resampling(all_bins[a.rows], n_boot, seed, level))
    lazy = _lazy_columns(a, conv, cols)
    return ScoreResult(
        protocol=proto.name,
        gt=proto.gt_label(conv),
        ground_truth=g.describe(),
        split=g.split,
        data_version=g.data_version,
        provenance=dict(g.provenance),
        predictions=pred.source,
        sha256=pred.sha256,
        n_scored=int(a.rows.size),
        missing_ids=a.missing,
        seed=int(seed),
        n_boot=int(n_boot),
        level=float(level),
        rows=rows,
        headline=proto.headline,
        ids=np.asarray(g.ids),
        yaw_deg=yaw,
        bins=all_bins,
        columns=cols,
        primary=proto.column_name(conv),
        lazy_columns=(lambda: {k: f() for k, f in lazy.items()}) if lazy else None,
        conventions=_conventions_used(proto, conv, a),
        notes=_notes(pred, g),
        warnings=[w for w in [origin_slip_warning(a)] if w and proto.needs == "landmarks"],
    )


def _check_arguments(ground_truth: GroundTruth, n_boot: int, seed: int, level: float) -> None:
    if not isinstance(ground_truth, GroundTruth):
        raise TypeError("ground_truth must be a GroundTruth (GroundTruth.from_source / GroundTruth.from_store)")
    if n_boot < 1:
        raise ScoringError("n_boot must be at least 1")
    if seed < 0:
        raise ScoringError(f"seed must be a non-negative integer, got {seed}")
    if not 0 < level < 1:
        raise ScoringError(f"confidence level must be in (0, 1), got {level}")


def _as_predictions(predictions: Predictions | str | Path) -> Predictions:
    if isinstance(predictions, (str, Path)):
        return read_predictions(predictions)
    if isinstance(predictions, Predictions):
        return predictions
    raise TypeError("predictions must be a path or a Predictions object")


def _sample_columns(
    a: Aligned, per: PerImage, proto: Protocol, conv: Conventions
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample columns (N,) of the request, and the extra per-image columns the protocol summarises."""
    g = a.gt
    cols: dict[str, np.ndarray] = {"missing": a.full(np.zeros(a.rows.size), fill=1.0).astype(bool)}
    if g.source_ids is not None:
        cols["source_id"] = np.asarray(g.source_ids).astype(str)
    primary = proto.column_name(conv)
    if proto.reports_nme:
        cols[primary] = a.full(100 * per.errors)
    extra: dict[str, np.ndarray] = {}
    if per.point_errors is not None and g.occluded is not None:
        occ = a.gt_rows(np.asarray(g.occluded, dtype=bool))
        if per.points is not None:  # a point-set convention: the flags of its points
            occ = occ[:, per.points]
        extra = {"occluded": masked_nme(per.point_errors, occ), "visible": masked_nme(per.point_errors, ~occ)}
        cols["n_occluded"] = a.full(occ.sum(axis=1).astype(np.float64))
        cols["nme_occluded"] = a.full(100 * extra["occluded"])
        cols["nme_visible"] = a.full(100 * extra["visible"])
    if a.angles_deg is not None:
        gt_angles = a.gt_rows(g.angles_deg)
        err = angle_errors(a.angles_deg, gt_angles, conv.pose_mae)
        for j, name in enumerate(ANGLE_NAMES):
            cols[f"err_{name}"] = a.full(err[:, j])
        cols["err_pose_mean"] = a.full(err.mean(axis=1))
        evaluated = np.zeros(a.n_all, dtype=bool)
        evaluated[a.rows] = pose_mask(gt_angles)
        cols["pose_evaluated"] = evaluated
    if proto.reports_nme:
        cols = {"nme": cols[primary], **cols}
    return cols, extra


def _lazy_columns(a: Aligned, conv: Conventions, cols: dict[str, np.ndarray]) -> dict[str, Callable[[], np.ndarray]]:
    """Every other registered protocol's per-image NME the data allows, computed when the table is asked for."""
    return {
        name: fn for other in REGISTRY.values() for name, fn in other.table_columns(a, conv).items() if name not in cols
    }


def _conventions_used(proto: Protocol, conv: Conventions, a: Aligned) -> dict[str, str]:
    keys = {c.field: c.key for c in CONVENTIONS}
    used = {keys[c]: str(getattr(conv, c)) for c in proto.uses if c != "gt"}
    if "pose_decoding" in proto.uses:
        used["decoding"] = a.pose_decoding
    return used


def _notes(pred: Predictions, g: GroundTruth) -> list[str]:
    notes = list(pred.notes)
    if pred.implied_ids:
        notes.append(f"ids implied by row order: the release's sorted order of split {g.split}'s source images")
    return notes


def compare(
    predictions_a: Predictions | str | Path,
    predictions_b: Predictions | str | Path,
    ground_truth: GroundTruth,
    protocol: str | Protocol = "sparse-2d",
    gt: str = "original",
    allow_missing: bool = False,
    seed: int = 0,
    *,
    statistic: str | None = None,
    dense_gt: DenseGroundTruth | str | Path | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    conventions: Conventions | None = None,
    **options: str | None,
) -> PairedComparison:
    """Paired bootstrap comparison of two prediction sets on the same images (Δ = A − B).

    Both are scored with :func:`score` (same protocol and conventions); the comparison uses the images scored in
    both (with ``allow_missing=False`` that is every ground-truth image). The statistic defaults to the protocol's
    ``paired_statistic``: ``balanced`` (stratified by yaw bin) for the sparse protocols, ``plain`` for dense and
    pose (pose compares the per-image mean of the three angle errors over the evaluated images). Differences are in
    the units of the protocol (NME %, degrees).
    """
    proto = get_protocol(protocol)
    kw: dict[str, Any] = {"dense_gt": dense_gt, "n_boot": 1, "conventions": conventions, **options}
    ra = score(predictions_a, ground_truth, proto, gt, allow_missing, seed, **kw)
    rb = score(predictions_b, ground_truth, proto, gt, allow_missing, seed, **kw)
    a = ra.columns[ra.primary]
    b = rb.columns[rb.primary]
    both = np.isfinite(a) & np.isfinite(b)
    if proto.evaluated_column:
        both &= ra.columns[proto.evaluated_column]
    stat = statistic or proto.paired_statistic
    strata = ra.bins[both] if stat == "balanced" else None
    return paired_bootstrap(
        a[both],
        b[both],
        strata,
        statistic=stat,
        n_boot=n_boot,
        seed=seed,
        level=level,
        n_strata=N_BINS if stat == "balanced" else 1,
    )
