"""Score predictions against a ground truth under a named protocol (see ``docs/protocol.md``).

:func:`score` is the one entry point: it validates and aligns the predictions (:mod:`aflw_occ.predictions`),
computes the per-image errors of the protocol with :mod:`aflw_occ.metrics`, and returns a :class:`ScoreResult`
whose every output (text, JSON, tables) states the protocol, ground-truth source, data version, provenance and
the sha256 of the predictions that produced it.

Protocols: ``sparse-2d`` (default), ``sparse-3d``, ``dense``, ``pose``. Ground truth for the sparse protocols:
``original`` (``pt3d_68``) or ``reannotated`` (the 2D LS3D-W re-annotation, sparse-2d only).

Nothing here imports torch; pandas is imported only when a DataFrame is asked for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AflwOccError, PredictionError
from .groundtruth import GroundTruth
from .metrics.bins import BIN_LABELS, N_BINS, bin_counts, bin_means, yaw_bins
from .metrics.bootstrap import PairedComparison, paired_bootstrap, percentile_ci, resample_means
from .metrics.ced import auc_at, ced_curve, failure_rate
from .metrics.nme import masked_nme, nme_dense, nme_from_point_errors, point_errors
from .metrics.pose import ANGLE_NAMES, angle_errors, pose_mask
from .predictions import Predictions, match_ids, read_predictions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "PROTOCOLS",
    "GT_SOURCES",
    "ScoringError",
    "DenseGroundTruth",
    "MetricRow",
    "ScoreResult",
    "check_request",
    "score",
    "compare",
]

PROTOCOLS: tuple[str, ...] = ("sparse-2d", "sparse-3d", "dense", "pose")
GT_SOURCES: tuple[str, ...] = ("original", "reannotated")
AUC_CUTOFFS: tuple[float, ...] = (0.07, 0.10)
FAILURE_THRESHOLD = 0.10
_BIN_KEYS = ("nme_0_30", "nme_30_60", "nme_60_plus")


class ScoringError(AflwOccError):
    """The scoring request cannot be served (unknown protocol, ground truth lacking what it needs)."""


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
        if self.protocol == "pose":
            return "whole-set resampling"
        return "resampling stratified by yaw bin"

    def header(self) -> str:
        """One line naming protocol, ground truth, data version/provenance, predictions and their sha256."""
        return (
            f"aflw-occ score | protocol={self.protocol} gt={self.gt} | {self.ground_truth} | "
            f"predictions={self.predictions} sha256={self.sha256} | "
            f"{self.n_scored} scored, {self.n_missing} missing"
        )

    def ced(self, cutoff: float = 0.10, n_points: int = 101) -> tuple[np.ndarray, np.ndarray]:
        """CED of the protocol's per-image errors (as fractions) on ``linspace(0, cutoff, n_points)``."""
        if self.protocol == "pose":
            raise ScoringError("the pose protocol has no CED (it reports angle errors)")
        e = self.columns[self.primary] / 100.0
        return ced_curve(e[np.isfinite(e)], cutoff=cutoff, n_points=n_points)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "gt": self.gt,
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
            f"# bootstrap: B={self.n_boot} seed={self.seed} {pct}% percentile CI, {self.bootstrap_scheme}",
        ]
        if self.missing_ids:
            shown = ", ".join(self.missing_ids[:5]) + (", ..." if self.n_missing > 5 else "")
            lines.append(f"# missing ids ({self.n_missing}): {shown}")
        lines.append(f"{'metric':<32} {'value':>9}  {f'{pct}% CI':<21} {'n':>6}  unit")
        for r in self.rows:
            ci = f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" if math.isfinite(r.ci_low) else "-"
            mark = " *" if r.key == self.headline else ""
            lines.append(f"{r.label + mark:<32} {r.value:>9.3f}  {ci:<21} {r.n:>6}  {r.unit}")
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


def _full(n: int, rows: np.ndarray, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
    out = np.full(n, fill, dtype=np.float64)
    out[rows] = values
    return out


def _ci_rows(values: np.ndarray, bins: np.ndarray, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """Point estimates and stratified-bootstrap intervals of bin / balanced / plain means of each column."""
    r = resample_means(values, bins, n_strata=N_BINS, n_boot=n_boot, seed=seed)
    per_bin = r.stratum_means()  # (B, 3, k)
    lo_b, hi_b = percentile_ci(per_bin, level)  # (3, k)
    lo_bal, hi_bal = percentile_ci(r.balanced(), level)  # (k,)
    lo_pl, hi_pl = percentile_ci(r.plain(), level)
    return {"bin": (lo_b, hi_b), "balanced": (lo_bal, hi_bal), "plain": (lo_pl, hi_pl)}


def _nme_rows(
    columns: Mapping[str, np.ndarray], bins: np.ndarray, n_boot: int, seed: int, level: float
) -> list[MetricRow]:
    """Rows of a landmark protocol; ``columns``: name (``nme``, ``occluded``, ``visible``) → fractions."""
    names = list(columns)
    values = np.stack([columns[k] for k in names], axis=1)  # (M, k) fractions
    ci = _ci_rows(values, bins, n_boot, seed, level)
    rows: list[MetricRow] = []
    counts = bin_counts(bins)
    for j, name in enumerate(names):
        v = values[:, j]
        finite = np.isfinite(v)
        means = bin_means(v, bins)
        fin_counts = np.bincount(bins[finite], minlength=N_BINS)[:N_BINS] if name != "nme" else counts
        prefix = "nme" if name == "nme" else f"nme_{name}"
        what = "NME" if name == "nme" else f"NME {name} landmarks"
        if name == "nme":
            for b in range(N_BINS):
                rows.append(
                    MetricRow(
                        _BIN_KEYS[b],
                        f"{what} {BIN_LABELS[b]}",
                        100 * means[b],
                        100 * ci["bin"][0][b, j],
                        100 * ci["bin"][1][b, j],
                        int(fin_counts[b]),
                        "%",
                    )
                )
        rows.append(
            MetricRow(
                f"{prefix}_balanced",
                f"{what} balanced mean",
                100 * float(np.mean(means)),
                100 * ci["balanced"][0][j],
                100 * ci["balanced"][1][j],
                int(finite.sum()),
                "%",
            )
        )
        plain = float(v[finite].mean()) if finite.any() else float("nan")
        rows.append(
            MetricRow(
                f"{prefix}_plain",
                f"{what} plain mean",
                100 * plain,
                100 * ci["plain"][0][j],
                100 * ci["plain"][1][j],
                int(finite.sum()),
                "%",
            )
        )
    e = columns["nme"]
    nan = float("nan")
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


def _pose_rows(err: np.ndarray, n_boot: int, seed: int, level: float) -> list[MetricRow]:
    """Rows of the pose protocol from (M, 3) absolute wrapped errors of the evaluated images."""
    cols = np.concatenate([err, err.mean(axis=1, keepdims=True)], axis=1)  # (M, 4)
    n = cols.shape[0]
    if n:
        r = resample_means(cols, None, n_strata=1, n_boot=n_boot, seed=seed)
        lo, hi = percentile_ci(r.plain(), level)
        est = cols.mean(axis=0)
    else:
        lo = hi = est = np.full(4, np.nan)
    keys = [*ANGLE_NAMES, "mean"]
    return [
        MetricRow(f"mae_{k}", f"pose MAE {k}", float(est[j]), float(lo[j]), float(hi[j]), n, "deg")
        for j, k in enumerate(keys)
    ]


def _resolve_predictions(predictions: Predictions | str | Path) -> Predictions:
    if isinstance(predictions, Predictions):
        return predictions
    if isinstance(predictions, (str, Path)):
        return read_predictions(predictions)
    raise TypeError("predictions must be a path or a Predictions object")


def check_request(
    pred: Predictions, protocol: str, gt: str = "original", dense_gt: DenseGroundTruth | str | Path | None = None
) -> None:
    """Check what can be checked before the ground truth is loaded: protocol and ground-truth names, and that
    the predictions hold what the protocol needs (raises :class:`ScoringError` / :class:`PredictionError`)."""
    if protocol not in PROTOCOLS:
        raise ScoringError(f"unknown protocol {protocol!r} (choose {', '.join(PROTOCOLS)})")
    if gt not in GT_SOURCES:
        raise ScoringError(f"unknown ground truth {gt!r} (choose {', '.join(GT_SOURCES)})")
    src = pred.source
    if protocol in ("sparse-2d", "sparse-3d") and pred.landmarks is None:
        raise PredictionError(f"{src}: has no landmarks (protocol {protocol} needs them)")
    if protocol == "sparse-3d":
        if pred.dims != 3:
            raise PredictionError(f"{src}: landmarks are 2D (N, 68, 2); protocol sparse-3d needs (N, 68, 3)")
        if gt == "reannotated":
            raise ScoringError("the re-annotated ground truth is 2D only: protocol sparse-3d uses --gt original")
    if protocol == "pose" and pred.angles_deg is None:
        raise PredictionError(f"{src}: has no angles_deg (protocol pose needs them)")
    if protocol == "dense":
        if pred.dense is None:
            raise PredictionError(f"{src}: has no dense points (protocol dense needs an array dense (N, P, 3))")
        if dense_gt is None:
            raise ScoringError("protocol dense needs dense ground truth (--dense-gt FILE.npz with ids, points)")


def score(
    predictions: Predictions | str | Path,
    ground_truth: GroundTruth,
    protocol: str = "sparse-2d",
    gt: str = "original",
    allow_missing: bool = False,
    seed: int = 0,
    *,
    dense_gt: DenseGroundTruth | str | Path | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
) -> ScoreResult:
    """Score predictions against one split's ground truth under a named protocol.

    Args:
        predictions: a prediction file (see ``docs/predictions.md``) or a :class:`Predictions`.
        ground_truth: the split's :class:`GroundTruth` (``GroundTruth.from_source`` / ``from_store``).
        protocol: ``sparse-2d`` | ``sparse-3d`` | ``dense`` | ``pose``.
        gt: ``original`` | ``reannotated`` (sparse-2d only); ignored by ``dense`` and ``pose``.
        allow_missing: score the ground-truth samples that have a prediction and report the others,
            instead of failing.
        seed: bootstrap seed.
        dense_gt: dense ground truth (``dense`` protocol): a :class:`DenseGroundTruth` or an ``.npz`` path.
        n_boot: number of bootstrap resamples.
        level: confidence level of the intervals.

    Returns:
        :class:`ScoreResult`.
    """
    if not isinstance(ground_truth, GroundTruth):
        raise TypeError("ground_truth must be a GroundTruth (GroundTruth.from_source / GroundTruth.from_store)")
    if n_boot < 1:
        raise ScoringError("n_boot must be at least 1")
    if seed < 0:
        raise ScoringError(f"seed must be a non-negative integer, got {seed}")
    if not 0 < level < 1:
        raise ScoringError(f"confidence level must be in (0, 1), got {level}")
    pred = _resolve_predictions(predictions)
    g = ground_truth
    src = pred.source

    check_request(pred, protocol, gt, dense_gt)
    if protocol == "sparse-2d" and gt == "reannotated" and g.reannotated is None:
        raise ScoringError(
            f"ground truth ({g.describe()}) has no re-annotated landmarks "
            f"(give the 3DDFA folder with AFLW2000-3D-Reannotated.pts68.npy via --eval-dir)"
        )
    dense: DenseGroundTruth | None = None
    if protocol == "dense":
        assert dense_gt is not None  # checked by check_request
        dense = dense_gt if isinstance(dense_gt, DenseGroundTruth) else DenseGroundTruth.load(dense_gt)
    gt_used = gt if protocol in ("sparse-2d", "sparse-3d") else ("dense" if protocol == "dense" else "angles")

    match = match_ids(
        pred.ids,
        g.ids,
        allow_missing=allow_missing,
        source=src,
        gt_label=f"the ground truth (split={g.split})",
    )
    r, q = match.gt_rows, match.pred_rows
    n_all = len(g)
    all_bins = yaw_bins(g.yaw_deg)
    bins = all_bins[r]
    cols: dict[str, np.ndarray] = {"missing": np.ones(n_all, dtype=bool)}
    cols["missing"][r] = False
    if g.source_ids is not None:
        cols["source_id"] = np.asarray(g.source_ids).astype(str)

    # per-image numbers of the protocol ------------------------------------------------------------
    r_all = r.size == n_all  # every ground-truth row scored (r is then 0..N-1)
    q_same = bool(np.array_equal(q, np.arange(q.size)))  # prediction file already in ground-truth order

    def gt_rows(a: np.ndarray) -> np.ndarray:
        return a if r_all else a[r]

    lm = None if pred.landmarks is None else (pred.landmarks if q_same else pred.landmarks[q])
    # every sparse protocol the data allows: column → (ground truth, dims); the protocol's own is computed now,
    # the others only when the per-sample table is asked for
    specs: dict[str, tuple[np.ndarray, int]] = {}
    if lm is not None:
        specs["nme_sparse2d_original"] = (g.landmarks, 2)
        if g.reannotated is not None:
            specs["nme_sparse2d_reannotated"] = (g.reannotated, 2)
        if pred.dims == 3:
            specs["nme_sparse3d"] = (g.landmarks, 3)
    primary_errors: np.ndarray | None = None
    primary_col = ""
    if protocol in ("sparse-2d", "sparse-3d") and lm is not None:
        primary_col = {
            ("sparse-2d", "original"): "nme_sparse2d_original",
            ("sparse-2d", "reannotated"): "nme_sparse2d_reannotated",
        }.get((protocol, gt), "nme_sparse3d")
        arr, dims = specs[primary_col]
        primary_errors = point_errors(lm, gt_rows(arr), dims=dims, z_centred=dims == 3)
        cols[primary_col] = _full(n_all, r, 100 * nme_from_point_errors(primary_errors))

    def extra_columns() -> dict[str, np.ndarray]:
        out = {}
        for name, (arr, dims) in specs.items():
            if name != primary_col:
                e = point_errors(lm, gt_rows(arr), dims=dims, z_centred=dims == 3)
                out[name] = _full(n_all, r, 100 * nme_from_point_errors(e))
        return out

    occ_cols: dict[str, np.ndarray] = {}
    if primary_errors is not None and g.occluded is not None:
        occ = np.asarray(g.occluded, dtype=bool)[r]
        occ_cols["occluded"] = masked_nme(primary_errors, occ)
        occ_cols["visible"] = masked_nme(primary_errors, ~occ)
        cols["n_occluded"] = _full(n_all, r, occ.sum(axis=1).astype(np.float64))
        cols["nme_occluded"] = _full(n_all, r, 100 * occ_cols["occluded"])
        cols["nme_visible"] = _full(n_all, r, 100 * occ_cols["visible"])
    if dense is not None and pred.dense is not None:
        d_index = {sid: i for i, sid in enumerate(dense.ids.tolist())}
        ids_scored = np.asarray(g.ids)[r].tolist()
        d_rows = np.array([d_index.get(sid, -1) for sid in ids_scored], dtype=np.int64)
        if d_rows.size and d_rows.min() < 0:
            first = ids_scored[int(np.flatnonzero(d_rows < 0)[0])]
            raise ScoringError(f"{dense.source}: dense ground truth has no entry for id {first}")
        if pred.dense.shape[1] != dense.points.shape[1]:
            raise PredictionError(
                f"{src}: dense has {pred.dense.shape[1]} points per sample, the dense ground truth "
                f"{dense.source} has {dense.points.shape[1]}"
            )
        nd = nme_dense(pred.dense if q_same else pred.dense[q], dense.points[d_rows])
        cols["nme_dense"] = _full(n_all, r, 100 * nd)
        primary_errors_dense = nd
    if pred.angles_deg is not None:
        err = angle_errors(pred.angles_deg[q], g.angles_deg[r])
        for j, name in enumerate(ANGLE_NAMES):
            cols[f"err_{name}"] = _full(n_all, r, err[:, j])
        cols["err_pose_mean"] = _full(n_all, r, err.mean(axis=1))
        evaluated = np.zeros(n_all, dtype=bool)
        evaluated[r] = pose_mask(g.angles_deg[r])
        cols["pose_evaluated"] = evaluated

    # summary -------------------------------------------------------------------------------------
    if protocol == "pose":
        ok = pose_mask(g.angles_deg[r])
        rows = _pose_rows(err[ok], n_boot, seed, level)
        headline, primary = "mae_mean", "err_pose_mean"
    else:
        if protocol == "dense":
            per_image = primary_errors_dense
            primary_col = "nme_dense"
        else:
            assert primary_errors is not None
            per_image = nme_from_point_errors(primary_errors)
        stat_cols = {"nme": per_image, **occ_cols}
        rows = _nme_rows(stat_cols, bins, n_boot, seed, level)
        headline = "nme_plain" if protocol == "dense" else "nme_balanced"
        primary = primary_col
    cols = {"nme": cols[primary], **cols} if protocol != "pose" else cols

    return ScoreResult(
        protocol=protocol,
        gt=gt_used,
        ground_truth=g.describe(),
        split=g.split,
        data_version=g.data_version,
        provenance=dict(g.provenance),
        predictions=src,
        sha256=pred.sha256,
        n_scored=int(r.size),
        missing_ids=match.missing,
        seed=int(seed),
        n_boot=int(n_boot),
        level=float(level),
        rows=rows,
        headline=headline,
        ids=np.asarray(g.ids),
        yaw_deg=np.asarray(g.yaw_deg, dtype=np.float64),
        bins=all_bins,
        columns=cols,
        primary=primary,
        lazy_columns=extra_columns if any(name != primary_col for name in specs) else None,
    )


def compare(
    predictions_a: Predictions | str | Path,
    predictions_b: Predictions | str | Path,
    ground_truth: GroundTruth,
    protocol: str = "sparse-2d",
    gt: str = "original",
    allow_missing: bool = False,
    seed: int = 0,
    *,
    statistic: str | None = None,
    dense_gt: DenseGroundTruth | str | Path | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
) -> PairedComparison:
    """Paired bootstrap comparison of two prediction sets on the same images (Δ = A − B).

    Both are scored with :func:`score`; the comparison uses the images scored in both (with
    ``allow_missing=False`` that is every ground-truth image). The statistic defaults to the protocol's
    headline: ``balanced`` (stratified by yaw bin) for the sparse protocols, ``plain`` for dense and pose
    (pose compares the per-image mean of the three angle errors over the evaluated images). Differences are in
    the units of the protocol (NME %, degrees).
    """
    ra = score(predictions_a, ground_truth, protocol, gt, allow_missing, seed, dense_gt=dense_gt, n_boot=1)
    rb = score(predictions_b, ground_truth, protocol, gt, allow_missing, seed, dense_gt=dense_gt, n_boot=1)
    a = ra.columns[ra.primary]
    b = rb.columns[rb.primary]
    both = np.isfinite(a) & np.isfinite(b)
    if protocol == "pose":
        both &= ra.columns["pose_evaluated"]
    stat = statistic or ("balanced" if protocol in ("sparse-2d", "sparse-3d") else "plain")
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
