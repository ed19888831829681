"""What :func:`~aflw_occ.evaluation.evaluate` runs on: a built HDF5 store, or the clean split of an AFLW2000-3D folder
(:class:`SourceData`, with a store split's interface), and the split names it is asked for."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EvaluationError
from ..groundtruth import GroundTruth
from ..paths import find_data

#: the order results are listed in: DSFNet's tables (clean, NOD, CSOD, NSOD); splits not named here (randocc, any new
#: subset of the registry, :mod:`aflw_occ.builders.registry`) follow in the store's order. Not a list of what exists.
ALL_SPLITS: tuple[str, ...] = ("clean", "nod", "csod-single", "csod-double", "csod-column", "nsod")


class SourceSplit:
    """The clean split read from an AFLW2000-3D folder, with the interface of a store split."""

    def __init__(self, dataset: Any, threads: int = 2) -> None:
        self._ds = dataset
        self.ids = np.array(dataset.ids)
        self.source_ids = self.ids.copy()
        self.roi_boxes = dataset.roi_boxes()
        self._threads = max(1, int(threads))
        self._gt: GroundTruth | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def image(self, i: int) -> np.ndarray:
        return self._ds[int(i)].read_image()

    def iter_images(self, batch_size: int) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        with ThreadPoolExecutor(self._threads) as pool:
            for start in range(0, len(self), batch_size):
                idx = np.arange(start, min(start + batch_size, len(self)))
                yield idx, list(pool.map(self.image, idx))

    def ground_truth(self) -> GroundTruth:
        if self._gt is None:
            self._gt = GroundTruth.from_source(self._ds)
        return self._gt


class SourceData:
    """An AFLW2000-3D folder seen as a data set with the single split ``clean``."""

    version = "source"
    manifest_sha256 = ""
    splits = ["clean"]

    def __init__(self, root: str | Path | Any, eval_dir: str | Path | None = None, threads: int = 2) -> None:
        from ..source import AFLW2000_3D

        if isinstance(root, AFLW2000_3D):
            ds = root
        else:
            root = Path(root)
            ds = AFLW2000_3D(root, find_data("eval_dir", eval_dir, source=root))  # the one discovery rule
        self.path = str(ds.root)
        self._split = SourceSplit(ds, threads)

    def split(self, name: str) -> SourceSplit:
        if name != "clean":
            raise EvaluationError(f"{self.path}: a source folder has only the clean split, not '{name}'")
        return self._split


@contextlib.contextmanager
def open_data(data: Any, threads: int = 2) -> Iterator[Any]:
    """Open what ``evaluate`` accepts: ``.h5`` store path, open store, AFLW2000-3D folder or reader."""
    from ..source import AFLW2000_3D

    if isinstance(data, (AFLW2000_3D, SourceData)):
        yield data if isinstance(data, SourceData) else SourceData(data, threads=threads)
        return
    if isinstance(data, (str, Path)):
        p = Path(data)
        if p.is_dir() and not any(p.glob("aflw-occ-*.h5")):  # an AFLW2000-3D folder, not a build folder
            yield SourceData(p, threads=threads)
            return
        if not p.exists():
            raise EvaluationError(f"{p}: data file does not exist (give a built .h5 store or an AFLW2000-3D folder)")
        from ..store import open_store

        with open_store(p) as st:
            yield st
        return
    if hasattr(data, "split") and hasattr(data, "splits"):
        yield data
        return
    raise EvaluationError(f"cannot evaluate on {data!r}: give a .h5 store path, an open store or a source folder")


def resolve_splits(requested: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """``"all"``/None → every available split in canonical order; else the named ones (comma list allowed)."""
    avail = list(available)
    if requested is None or requested == "all":
        order = [s for s in ALL_SPLITS if s in avail] + [s for s in avail if s not in ALL_SPLITS]
        return order
    names = [s.strip() for s in requested.split(",")] if isinstance(requested, str) else list(requested)
    if "all" in names:
        return resolve_splits("all", avail)
    out: list[str] = []
    for s in names:
        if s not in avail:
            raise EvaluationError(f"split '{s}' is not in the data (available: {', '.join(avail)})")
        if s not in out:
            out.append(s)
    return out
