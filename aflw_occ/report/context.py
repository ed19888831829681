"""Everything a report section reads: the results folders, their per-sample tables, the data behind them, the
options, and derived arrays computed once (paired values, per-landmark errors).

Results are read from the files ``aflw-occ evaluate`` writes (``meta.json``, ``scores.csv``, ``per_sample.csv``,
``predictions/<split>.npz``); the data through :mod:`aflw_occ.report.data`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AflwOccError
from ..evaluation.folder import ResultsFolder
from ..leaderboard import SPLIT_TITLES, Results
from ..protocols import REGISTRY, Conventions, Protocol, ScoringError
from .data import DataView, SplitData
from .stats import pair_by_source

__all__ = ["ReportOptions", "ReportContext", "Paired", "split_title", "WORST_BY"]

#: how worst samples are ranked: name → what the page says
WORST_BY: dict[str, str] = {
    "increase": "occluded splits ranked by the increase over the clean image (occluded NME − clean NME of the same "
    "source image), the clean split and splits of unchanged clean images (NOD) by NME",
    "nme": "ranked by NME",
}


def split_title(split: str) -> str:
    """The display name of a split (``CSOD square``, ``NSOD``, …)."""
    return SPLIT_TITLES.get(split, {"randocc": "RandOcc"}.get(split, split))


@dataclass(frozen=True)
class ReportOptions:
    """How the report is made.

    Attributes:
        worst_k: worst samples drawn per model and split (0: none).
        worst_by: ``increase`` (occluded NME − clean NME of the same image; clean split: NME) or ``nme``.
        n_boot, seed, level: the report's own bootstrap (paired drops, group intervals).
        tile: side of a drawn sample in pixels (the size it is shown at).
        title: page title.
    """

    worst_k: int = 4
    worst_by: str = "increase"
    n_boot: int = 1000
    seed: int = 0
    level: float = 0.95
    tile: int = 300
    title: str = "aflw-occ evaluation report"

    def __post_init__(self) -> None:
        checks = (
            (self.worst_k >= 0, f"worst samples must be ≥ 0, got {self.worst_k}"),
            (self.worst_by in WORST_BY, f"unknown ranking {self.worst_by!r} (choose {', '.join(WORST_BY)})"),
            (self.n_boot >= 1, f"bootstrap resamples must be ≥ 1, got {self.n_boot}"),
            (self.seed >= 0, f"seed must be ≥ 0, got {self.seed}"),
            (0 < self.level < 1, f"confidence level must be in (0, 1), got {self.level}"),
            (self.tile >= 64, f"sample size must be ≥ 64 px, got {self.tile}"),
        )
        for ok, message in checks:
            if not ok:
                raise AflwOccError(f"report options: {message}")


@dataclass(frozen=True)
class Paired:
    """One model's per-sample values of an occluded split and of the clean rows of the same source images.

    Attributes:
        ids: (M,) occluded sample ids. rows: (M,) their rows in the occluded split's per-sample table.
        occluded, clean: (M,) values (NaN where missing or not evaluated). bins: (M,) yaw bin.
    """

    ids: np.ndarray
    rows: np.ndarray
    occluded: np.ndarray
    clean: np.ndarray
    bins: np.ndarray


@dataclass
class ReportContext:
    """The inputs of every section (see module docstring)."""

    results: list[Results]
    frames: list[Any]
    splits: list[str]
    view: DataView | None
    view_note: str
    options: ReportOptions
    progress: Any = None
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    # provenance ---------------------------------------------------------------------------------------------------

    @property
    def data_version(self) -> str:
        return str(self.results[0].meta.get("data_version", "?"))

    @property
    def manifest(self) -> str:
        return str(self.results[0].meta.get("manifest_sha256", ""))[:12]

    def data_label(self) -> str:
        """``data 2.0.0, manifest 809da750f1c1`` (every results folder of a report has the same)."""
        return f"data {self.data_version}" + (f", manifest {self.manifest}" if self.manifest else "")

    def conventions(self, r: Results) -> Conventions:
        """The conventions the folder was scored with (``meta.json``'s ``conventions``, else the defaults)."""
        given = r.meta.get("conventions")
        if isinstance(given, dict):
            try:
                return Conventions(**{k: v for k, v in given.items() if k in Conventions.__dataclass_fields__})
            except ScoringError:
                pass
        return Conventions()

    def protocols(self) -> list[str]:
        """Every protocol any folder scored, registry order first."""
        seen: list[str] = []
        for r in self.results:
            for p in r.scores["protocol"].astype(str).tolist():
                if p not in seen:
                    seen.append(p)
        return [p for p in REGISTRY if p in seen] + [p for p in seen if p not in REGISTRY]

    @staticmethod
    def protocol(name: str) -> Protocol | None:
        return REGISTRY.get(name)

    def occluded_splits(self) -> list[str]:
        return [s for s in self.splits if s != "clean"]

    def same_as_clean(self, split: str) -> bool:
        """The split's images are its clean source images (NOD: naturally occluded images, nothing pasted), so a
        paired drop is 0 by construction (known from the data; False when the data is not available)."""
        sd = self.data(split)
        return sd is not None and sd.same_as_clean

    def pasted_splits(self) -> list[str]:
        """The occluded splits whose images carry a pasted occluder (a paired drop from clean is defined)."""
        return [s for s in self.occluded_splits() if not self.same_as_clean(s)]

    # per-sample values --------------------------------------------------------------------------------------------

    def frame(self, k: int, split: str) -> Any:
        """Model k's per-sample rows of one split (empty when it was not evaluated)."""
        key = ("frame", k, split)
        if key not in self._cache:
            df = self.frames[k]
            self._cache[key] = df[df["split"].astype(str) == split].reset_index(drop=True)
        return self._cache[key]

    def column(self, k: int, protocol: str) -> tuple[str, str | None] | None:
        """(per-sample column, evaluated-flag column or None) of a protocol's per-image error, or None when the
        per-sample table does not hold it."""
        proto = self.protocol(protocol)
        if proto is None:
            return None
        col = proto.column_name(self.conventions(self.results[k]))
        if col not in self.frames[k].columns:
            return None
        ev = proto.evaluated_column
        return col, ev if ev and ev in self.frames[k].columns else None

    def values(self, k: int, split: str, protocol: str) -> np.ndarray | None:
        """(N,) per-image error of a protocol on one split (NaN where missing or not evaluated), or None."""
        cols = self.column(k, protocol)
        df = self.frame(k, split)
        if cols is None or df.empty:
            return None
        v = df[cols[0]].to_numpy(dtype=np.float64)
        if cols[1] is not None:
            v = np.where(df[cols[1]].astype(str).str.lower().eq("true").to_numpy(), v, np.nan)
        return v

    def paired(self, k: int, split: str, protocol: str) -> Paired | None:
        """Model k's values on an occluded split paired with the clean rows of the same source images."""
        key = ("paired", k, split, protocol)
        if key in self._cache:
            return self._cache[key]  # type: ignore[no-any-return]
        out = None
        occ, clean = self.values(k, split, protocol), self.values(k, "clean", protocol)
        if occ is not None and clean is not None and split != "clean":
            df, cf = self.frame(k, split), self.frame(k, "clean")
            src = df["source_id"] if "source_id" in df.columns else df["id"]
            pairs = pair_by_source(cf["id"].astype(str).to_numpy(), src.astype(str).to_numpy())
            if len(pairs):
                out = Paired(
                    ids=df["id"].astype(str).to_numpy()[pairs.occluded],
                    rows=pairs.occluded,
                    occluded=occ[pairs.occluded],
                    clean=clean[pairs.clean],
                    bins=cf["yaw_bin"].to_numpy(dtype=np.int64)[pairs.clean],
                )
        self._cache[key] = out
        return out

    # per-landmark errors ------------------------------------------------------------------------------------------

    def data(self, split: str) -> SplitData | None:
        return None if self.view is None else self.view.split(split)

    def point_errors(self, k: int, split: str) -> np.ndarray | None:
        """(N, 68) sparse-2d point errors in % of √(w·h) of model k, rows of the data's split (NaN where the model
        has no prediction), from ``predictions/<split>.npz`` and the stored ground truth; None without them."""
        key = ("points", k, split)
        if key in self._cache:
            return self._cache[key]  # type: ignore[no-any-return]
        out = None
        sd, pred = self.data(split), self.predictions(k, split)
        if sd is not None and pred is not None:
            from ..metrics.nme import point_errors

            ids, landmarks = pred
            rows = sd.rows_of(ids)
            have = np.array([r is not None for r in rows])
            out = np.full((len(sd), 68), np.nan)
            if have.any():
                gt_rows = np.array([r for r in rows if r is not None], dtype=np.int64)
                e = point_errors(landmarks[have][..., :2], sd.landmarks[gt_rows][..., :2], dims=2)
                out[gt_rows] = 100 * e
        self._cache[key] = out
        return out

    def predictions(self, k: int, split: str) -> tuple[list[str], np.ndarray] | None:
        """(ids, (N, 68, 2|3) landmarks) of model k's ``predictions/<split>.npz`` (read once), or None."""
        key = ("pred", k, split)
        if key not in self._cache:
            path = ResultsFolder(Path(self.results[k].path)).predictions(split)
            out = None
            if path.is_file():
                from ..predictions import read_predictions

                pred = read_predictions(path)
                if pred.landmarks is not None:
                    out = ([str(i) for i in np.asarray(pred.ids).tolist()], pred.landmarks)
            self._cache[key] = out
        return self._cache[key]  # type: ignore[no-any-return]

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key for the whole report (sections share derived values this way)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def step(self, n: int = 1) -> None:
        """Advance the progress bar by ``n`` units of work."""
        if self.progress is not None:
            self.progress.update(n)


def fmt(v: float, digits: int = 3) -> str:
    """A number for a table cell (``–`` when undefined)."""
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"
