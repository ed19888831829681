"""The data behind a results folder, as the report needs it: per split the ids, source ids, ground truth, yaw,
covered fraction, per-landmark occlusion flags and drawn parameters, plus pixels and occluder masks of single rows.

Read through :mod:`aflw_occ.store` (a built store or build folder) or :mod:`aflw_occ.source` (the clean split of an
AFLW2000-3D folder, for results of ``evaluate --source``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AflwOccError
from ..groundtruth import GroundTruth

__all__ = ["SplitData", "DataView", "StoreView", "SourceView", "open_view"]


@dataclass
class SplitData:
    """One split as the report reads it: its ground truth (the scoring stage's sample type,
    :class:`~aflw_occ.groundtruth.GroundTruth`) and the split's occlusion descriptors, row-aligned.

    Attributes:
        gt: the split's ground truth (ids, source ids, landmarks, angles, per-landmark occlusion flags).
        covered: (N,) share of the face region under the occluder, or None (clean).
        unchanged: (N,) rows whose pixels are their clean source image's (NOD: natural occlusion), or None.
    """

    gt: GroundTruth
    covered: np.ndarray | None = None
    unchanged: np.ndarray | None = None
    _params: list[dict[str, Any]] | None = field(default=None, repr=False)
    _read_params: Any = field(default=None, repr=False)
    _ids: np.ndarray = field(init=False, repr=False)
    _source_ids: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        g = self.gt
        self._ids = np.asarray(g.ids).astype(str)
        self._source_ids = np.asarray(g.source_ids if g.source_ids is not None else g.ids).astype(str)

    @property
    def name(self) -> str:
        return self.gt.split

    @property
    def ids(self) -> np.ndarray:
        """(N,) str sample ids."""
        return self._ids

    @property
    def source_ids(self) -> np.ndarray:
        """(N,) str: the AFLW2000-3D image of each row."""
        return self._source_ids

    @property
    def landmarks(self) -> np.ndarray:
        """(N, 68, 3) original ground truth, image pixels."""
        return self.gt.landmarks

    @property
    def yaw_deg(self) -> np.ndarray:
        """(N,) raw yaw, degrees."""
        return self.gt.yaw_deg

    @property
    def occluded(self) -> np.ndarray | None:
        """(N, 68) per-landmark occlusion flags, or None (clean)."""
        return self.gt.occluded

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def params(self) -> list[dict[str, Any]]:
        """Every row's drawn parameters (read on first use; empty dicts for the clean split)."""
        if self._params is None:
            self._params = self._read_params() if self._read_params is not None else [{} for _ in range(len(self))]
        return self._params

    @property
    def same_as_clean(self) -> bool:
        """Every row shows its clean source image unchanged (a naturally occluded selection such as NOD)."""
        return self.name != "clean" and self.unchanged is not None and bool(np.all(self.unchanged))

    def rows_of(self, ids: list[str]) -> list[int | None]:
        """Row of each id (None when absent)."""
        index = {s: r for r, s in enumerate(self.ids.tolist())}
        return [index.get(i) for i in ids]


class DataView:
    """What the report reads: ``version``, ``manifest`` (sha256), ``path``, ``splits``, :meth:`split`,
    :meth:`image`, :meth:`mask`."""

    version: str = ""
    manifest: str = ""
    path: str = ""
    splits: list[str]

    def __init__(self) -> None:
        self._cache: dict[str, SplitData] = {}

    def split(self, name: str) -> SplitData | None:
        """The split's data (cached), or None when the data has no such split."""
        if name not in self.splits:
            return None
        if name not in self._cache:
            self._cache[name] = self._load(name)
        return self._cache[name]

    def _load(self, name: str) -> SplitData:
        raise NotImplementedError

    def image(self, split: str, row: int) -> np.ndarray:
        """RGB uint8 pixels of one row."""
        raise NotImplementedError

    def mask(self, split: str, row: int) -> np.ndarray | None:
        """(H, W) bool occluder mask of one row (None for the clean split)."""
        return None

    def close(self) -> None:
        return None


class StoreView(DataView):
    """A built HDF5 store (file or build folder)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        from ..store import open_store

        self._store = open_store(path)
        self.path = str(self._store.path)
        self.version = self._store.version
        self.manifest = self._store.manifest_sha256
        self.splits = list(self._store.splits)
        self._splits: dict[str, Any] = {}

    def _split(self, name: str) -> Any:
        if name not in self._splits:
            self._splits[name] = self._store.split(name)
        return self._splits[name]

    def _load(self, name: str) -> SplitData:
        sp = self._split(name)
        return SplitData(
            gt=sp.ground_truth(),
            covered=None if sp.covered_fraction is None else np.asarray(sp.covered_fraction, dtype=np.float64),
            unchanged=sp.same_pixels_as_source(),
            _read_params=sp.all_params,
        )

    def image(self, split: str, row: int) -> np.ndarray:
        return self._split(split).image(int(row))

    def mask(self, split: str, row: int) -> np.ndarray | None:
        return None if split == "clean" else self._split(split).mask(int(row))

    def close(self) -> None:
        self._store.close()


class SourceView(DataView):
    """The clean split of an AFLW2000-3D release folder (only the ids a report asks for are read)."""

    version = "source"

    def __init__(self, root: str | Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.path = str(self.root)
        self.splits = ["clean"]
        self._ds: Any = None

    def _dataset(self) -> Any:
        if self._ds is None:
            from ..source import AFLW2000_3D

            self._ds = AFLW2000_3D(self.root)
        return self._ds

    def _load(self, name: str) -> SplitData:
        return SplitData(GroundTruth.from_source(self._dataset()))

    def image(self, split: str, row: int) -> np.ndarray:
        return self._dataset()[int(row)].read_image()


def open_view(data: str | Path) -> DataView:
    """A :class:`StoreView` for a store file or build folder, a :class:`SourceView` for an AFLW2000-3D folder;
    :class:`AflwOccError` naming the path when it is neither."""
    p = Path(data)
    if not p.exists():
        raise AflwOccError(f"{p}: data not found (give the store the results were computed on with --data)")
    if p.is_dir() and not any(p.glob("aflw-occ-*.h5")):
        return SourceView(p)
    return StoreView(p)
