"""Score predictions against one split's ground truth under a named protocol (:func:`score`), and compare two
prediction sets on the same images (:func:`compare`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..groundtruth import GroundTruth
from ..metrics.bins import N_BINS
from ..metrics.bootstrap import PairedComparison, paired_bootstrap
from ..metrics.nme import masked_nme
from ..metrics.pose import ANGLE_NAMES, angle_errors, pose_mask
from ..predictions import Predictions, read_predictions
from ..protocols import (
    CONVENTIONS,
    REGISTRY,
    Aligned,
    Conventions,
    PerImage,
    Protocol,
    Resampling,
    ScoringError,
    get_protocol,
    yaw_and_bins,
)
from .align import align, origin_slip_warning
from .dense_truth import DenseGroundTruth
from .result import ScoreResult

if TYPE_CHECKING:  # pragma: no cover
    pass


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
        ground_truth: the split's :class:`GroundTruth` (``GroundTruth.from_source`` / ``aflw_occ.read_ground_truth``).
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
        raise TypeError("ground_truth must be a GroundTruth (GroundTruth.from_source / aflw_occ.read_ground_truth)")
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
