"""Ground truth for scoring, whatever it comes from (the AFLW2000-3D folder or a built HDF5 split).

Both sources produce the same :class:`GroundTruth`, so one scorer serves the clean images and every occluded split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .source import AFLW2000_3D


@dataclass(frozen=True)
class GroundTruth:
    """Ground truth of one split, row-aligned by ``ids``.

    Attributes:
        ids: (N,) sample ids (unique). For the clean split these are the image ids (``image00002``).
        landmarks: (N, 68, 3) float64 original ground truth (``pt3d_68``), image pixels.
        angles_deg: (N, 3) float64 raw (pitch, yaw, roll) in degrees, unwrapped, as stored.
        reannotated: (N, 68, 2) float64 re-annotated 2D landmarks, or None.
        occluded: (N, 68) bool per-landmark occlusion flags, or None (the clean split has none).
        source_ids: (N,) the AFLW2000-3D image each sample was made from.
        split: split name (``clean``, ``csod-single``, ...).
        data_version: data version of the HDF5 store, or ``"source"`` for a raw folder.
        provenance: where this came from (path and, for a store, the manifest hash).
    """

    ids: np.ndarray
    landmarks: np.ndarray
    angles_deg: np.ndarray
    reannotated: np.ndarray | None = None
    occluded: np.ndarray | None = None
    source_ids: np.ndarray | None = None
    split: str = "clean"
    data_version: str = "source"
    provenance: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.landmarks.shape != (n, 68, 3):
            raise ValueError(f"ground truth landmarks have shape {self.landmarks.shape}, expected {(n, 68, 3)}")
        if self.angles_deg.shape != (n, 3):
            raise ValueError(f"ground truth angles have shape {self.angles_deg.shape}, expected {(n, 3)}")
        if len(set(self.ids.tolist())) != n:
            raise ValueError("ground truth ids are not unique")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def yaw_deg(self) -> np.ndarray:
        return self.angles_deg[:, 1]

    def describe(self) -> str:
        """A one-line statement of which data produced a number: split, data version, provenance."""
        prov = ", ".join(f"{k}={v}" for k, v in self.provenance.items())
        return f"split={self.split} data={self.data_version} n={len(self)}" + (f" ({prov})" if prov else "")

    @classmethod
    def from_store(cls, path: str | Path, split: str = "clean") -> GroundTruth:
        """Ground truth of one split of a built HDF5 store (occlusion flags included for occluded splits)."""
        from .store import open_store

        with open_store(path) as store:
            return store.split(split).ground_truth()

    @classmethod
    def from_source(cls, source: AFLW2000_3D | str | Path, eval_dir: str | Path | None = None) -> GroundTruth:
        """Ground truth of the clean split read straight from an AFLW2000-3D folder."""
        ds = source if isinstance(source, AFLW2000_3D) else AFLW2000_3D(source, eval_dir)
        ids = np.array(ds.ids)
        prov = {"source": str(ds.root)}
        if ds.eval_dir is not None:
            prov["eval_dir"] = str(ds.eval_dir)
        return cls(
            ids=ids,
            landmarks=ds.landmarks(),
            angles_deg=ds.angles_deg(),
            reannotated=ds.reannotated(),
            source_ids=ids.copy(),
            split="clean",
            data_version="source",
            provenance=prov,
        )
