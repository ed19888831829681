"""Predictions matched to the ground-truth rows they score, once per request (:func:`align`), and the
pixel-origin slip check on the matched landmarks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PredictionError
from ..groundtruth import GroundTruth
from ..matching import match_ids
from ..metrics.rotation import angles_from_rotation
from ..predictions import Predictions
from ..protocols import (
    Aligned,
    Conventions,
    ScoringError,
)
from .dense_truth import DenseGroundTruth

if TYPE_CHECKING:  # pragma: no cover
    pass


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
