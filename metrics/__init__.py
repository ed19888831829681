"""Metrics of aflw-occ: pure, typed numpy functions with their formulas in the docstrings.

* :mod:`.nme` — sparse 2D / 3D and dense normalised mean errors (normaliser √(w·h) of the ground-truth box);
* :mod:`.bins` — yaw bins [0,30] / (30,60] / >60 and balanced / plain means;
* :mod:`.ced` — cumulative error distribution, AUC up to a cut-off, failure rate;
* :mod:`.bootstrap` — seeded (yaw-stratified) bootstrap intervals and the paired bootstrap comparison;
* :mod:`.pose` — head-pose MAE with wrapped angle differences;
* :mod:`.table` — the per-sample result table (pandas, imported lazily).

Nothing here imports torch or pandas at import time.
"""

from __future__ import annotations

from .bins import BIN_LABELS, balanced_mean, bin_counts, bin_means, plain_mean, yaw_bins
from .bootstrap import PairedComparison, bootstrap_ci, paired_bootstrap, percentile_ci, resample_means
from .ced import auc_at, ced_curve, failure_rate
from .nme import (
    bbox_size,
    masked_nme,
    nme_dense,
    nme_from_point_errors,
    nme_sparse_2d,
    nme_sparse_3d,
    point_errors,
)
from .pose import angle_errors, pose_mae, pose_mask, wrapped_difference
from .table import per_sample_table, table_columns, write_table_csv

__all__ = [
    "BIN_LABELS",
    "PairedComparison",
    "angle_errors",
    "auc_at",
    "balanced_mean",
    "bbox_size",
    "bin_counts",
    "bin_means",
    "bootstrap_ci",
    "ced_curve",
    "failure_rate",
    "masked_nme",
    "nme_dense",
    "nme_from_point_errors",
    "nme_sparse_2d",
    "nme_sparse_3d",
    "paired_bootstrap",
    "per_sample_table",
    "percentile_ci",
    "plain_mean",
    "point_errors",
    "pose_mae",
    "pose_mask",
    "resample_means",
    "table_columns",
    "wrapped_difference",
    "write_table_csv",
    "yaw_bins",
]
