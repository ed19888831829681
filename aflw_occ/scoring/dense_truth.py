"""User-supplied dense ground truth (the ``dense`` and ``dense-2d`` protocols): :class:`DenseGroundTruth`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..protocols import (
    ScoringError,
)

if TYPE_CHECKING:  # pragma: no cover
    pass


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
