"""The landmark protocols: ``sparse-2d``, ``sparse-3d`` (the 68 points or a named subset) and ``dense``,
``dense-2d`` (user-supplied dense points). Per-image NME, yaw bins, balanced / plain means, CED AUC, failure rate."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..errors import PredictionError
from ..metrics.bins import BIN_LABELS, N_BINS, bin_counts, bin_mean_std, bin_means
from ..metrics.bootstrap import percentile_ci, resample_means
from ..metrics.ced import auc_at, failure_rate
from ..metrics.nme import POINT_SETS, nme_dense, nme_dense_2d, nme_from_point_errors, point_errors
from .base import Aligned, MetricRow, PerImage, Protocol, Resampling, register
from .conventions import SPECS, Conventions, GtSource, ScoringError

if TYPE_CHECKING:  # pragma: no cover
    from ..groundtruth import GroundTruth
    from ..predictions import Predictions

AUC_CUTOFFS: tuple[float, ...] = (0.07, 0.10)
FAILURE_THRESHOLD = 0.10
_BIN_KEYS = ("nme_0_30", "nme_30_60", "nme_60_plus")


def _nme_rows(columns: Mapping[str, np.ndarray], plan: Resampling) -> list[MetricRow]:
    """Rows of a landmark protocol; ``columns``: name (``nme``, ``occluded``, ``visible``) → fractions (M,)."""
    bins, level = plan.bins, plan.level
    names = list(columns)
    values = np.stack([columns[k] for k in names], axis=1)  # (M, k) fractions
    r = resample_means(values, bins, n_strata=N_BINS, n_boot=plan.n_boot, seed=plan.seed)
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

    def rows(self, per: PerImage, extra: Mapping[str, np.ndarray], plan: Resampling) -> list[MetricRow]:
        return _nme_rows({"nme": per.errors, **extra}, plan)


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
            for points in SPECS["points"].choices:
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
