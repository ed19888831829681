"""Metrics of aflw-occ: pure, typed numpy functions with their formulas in the docstrings.

* :mod:`.nme` — sparse 2D / 3D and dense normalised mean errors (normaliser √(w·h) of the ground-truth box), the
  named landmark subsets (``68``, ``inner-51``);
* :mod:`.bins` — yaw bins [0,30] / (30,60] / >60 and balanced / plain means;
* :mod:`.ced` — cumulative error distribution, AUC up to a cut-off, failure rate;
* :mod:`.detection` — detection rate, and failure rate / CED AUC that count missed faces as failures;
* :mod:`.bootstrap` — seeded (yaw-stratified) bootstrap intervals and the paired bootstrap comparison;
* :mod:`.pose` — head-pose MAE with wrapped (or the field's raw) angle differences;
* :mod:`.rotation` — rotation of a 3DMM camera matrix and its two named Euler decodings;
* :mod:`.table` — the per-sample result table (pandas, imported lazily).

Nothing here imports torch or pandas at import time.
"""

from __future__ import annotations

from .bins import (
    BIN_LABELS,
    balanced_mean,
    bin_counts,
    bin_mean_std,
    bin_means,
    plain_mean,
    yaw_bins,
    yaw_bins_carry_over,
)
from .bootstrap import PairedComparison, bootstrap_ci, paired_bootstrap, percentile_ci, resample_means
from .ced import auc_at, ced_curve, failure_rate
from .detection import auc_terms, detected_terms, detection_rate, failure_terms, with_misses
from .nme import (
    POINT_SETS,
    bbox_size,
    masked_nme,
    nme_dense,
    nme_dense_2d,
    nme_from_point_errors,
    nme_sparse_2d,
    nme_sparse_3d,
    point_errors,
)
from .pose import MAE_MODES, angle_errors, pose_mae, pose_mask, wrapped_difference
from .rotation import POSE_DECODINGS, angles_from_rotation, rotation_from_camera
from .table import per_sample_table, table_columns, write_table_csv

__all__ = [
    "BIN_LABELS",
    "MAE_MODES",
    "POINT_SETS",
    "POSE_DECODINGS",
    "PairedComparison",
    "angle_errors",
    "angles_from_rotation",
    "auc_at",
    "auc_terms",
    "balanced_mean",
    "bbox_size",
    "bin_counts",
    "bin_mean_std",
    "bin_means",
    "bootstrap_ci",
    "ced_curve",
    "detected_terms",
    "detection_rate",
    "failure_rate",
    "failure_terms",
    "masked_nme",
    "nme_dense",
    "nme_dense_2d",
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
    "rotation_from_camera",
    "table_columns",
    "with_misses",
    "wrapped_difference",
    "write_table_csv",
    "yaw_bins",
    "yaw_bins_carry_over",
]
