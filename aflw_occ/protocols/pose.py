"""The ``pose`` protocol: per-angle absolute error of (pitch, yaw, roll), wrapped or raw, over the images with
every |angle| ≤ 99°; headline the mean of the three MAEs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PredictionError
from ..metrics.bootstrap import percentile_ci, resample_means
from ..metrics.pose import ANGLE_NAMES, angle_errors, pose_mask
from .base import Aligned, MetricRow, PerImage, Protocol, Resampling, register
from .conventions import Conventions

if TYPE_CHECKING:  # pragma: no cover
    from ..predictions import Predictions


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

    def rows(self, per: PerImage, extra: Mapping[str, np.ndarray], plan: Resampling) -> list[MetricRow]:
        assert per.angle_errors is not None and per.evaluated is not None
        err = per.angle_errors[per.evaluated]
        cols = np.concatenate([err, err.mean(axis=1, keepdims=True)], axis=1)  # (M', 4)
        n = cols.shape[0]
        if n:
            r = resample_means(cols, None, n_strata=1, n_boot=plan.n_boot, seed=plan.seed)
            lo, hi = percentile_ci(r.plain(), plan.level)
            est = cols.mean(axis=0)
        else:
            lo = hi = est = np.full(4, np.nan)
        tag = f" [{per.label}]" if per.label else ""
        return [
            MetricRow(f"mae_{k}", f"pose MAE {k}{tag}", float(est[j]), float(lo[j]), float(hi[j]), n, "deg")
            for j, k in enumerate([*ANGLE_NAMES, "mean"])
        ]
