"""Matching prediction rows to ground-truth rows by id (the one matching step of scoring)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PredictionError

__all__ = ["IdMatch", "match_ids"]


@dataclass(frozen=True)
class IdMatch:
    """How prediction rows map onto ground-truth rows.

    Attributes:
        gt_rows: (M,) indices of the scored ground-truth rows, ascending (ground-truth order).
        pred_rows: (M,) the prediction row of each scored ground-truth row.
        missing: ground-truth ids without a prediction (in ground-truth order).
    """

    gt_rows: np.ndarray
    pred_rows: np.ndarray
    missing: list[str]


def match_ids(
    pred_ids: np.ndarray,
    gt_ids: np.ndarray,
    *,
    allow_missing: bool,
    source: str,
    gt_label: str = "the ground truth",
) -> IdMatch:
    """Align prediction ids to ground-truth ids.

    Unknown ids (not in the ground truth) are always an error. Ground-truth ids without a prediction are an
    error unless ``allow_missing``; then they are returned in ``missing`` (never silently dropped).
    """
    gt_index = {sid: i for i, sid in enumerate(np.asarray(gt_ids).tolist())}
    pred_list = np.asarray(pred_ids).tolist()
    rows = np.fromiter((gt_index.get(sid, -1) for sid in pred_list), dtype=np.int64, count=len(pred_list))
    unknown = np.flatnonzero(rows < 0)
    if unknown.size:
        raise PredictionError(
            f"{source}: id {pred_list[int(unknown[0])]} is not in {gt_label} ({unknown.size} unknown id(s) in the file)"
        )
    has = np.zeros(len(gt_index), dtype=bool)
    has[rows] = True
    missing_rows = np.flatnonzero(~has)
    gt_list = np.asarray(gt_ids).tolist()
    missing = [gt_list[i] for i in missing_rows.tolist()]
    if missing and not allow_missing:
        raise PredictionError(
            f"{source}: {len(missing)} id(s) of {gt_label} have no prediction, first: {missing[0]} "
            f"(pass --allow-missing / allow_missing=True to score the others and report them)"
        )
    order = np.argsort(rows, kind="stable")
    return IdMatch(gt_rows=rows[order], pred_rows=order.astype(np.int64), missing=missing)
