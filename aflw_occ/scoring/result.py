"""What one scoring run produced, with the provenance of every number: :class:`ScoreResult` (text, JSON,
summary and per-sample tables)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_path
from ..metrics.ced import ced_curve
from ..metrics.table import table_columns, write_table_csv
from ..predictions import PIXEL_ORIGIN
from ..protocols import (
    MetricRow,
    ScoringError,
    get_protocol,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


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
        out = Path(path)
        with atomic_path(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            write_table_csv(fh, self.per_sample_columns())
        return out
