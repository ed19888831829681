"""Ground truth for scoring, whatever it comes from (the AFLW2000-3D folder or a built HDF5 split).

Both sources produce the same :class:`GroundTruth` (:meth:`GroundTruth.from_source` here; a store's split through
:meth:`aflw_occ.store.Split.ground_truth` or :func:`aflw_occ.store.read_ground_truth`), so one scorer serves the clean
images and every occluded split. It sits in the source layer, below the store that produces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import StoreError
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
        yaw_aflw_deg: (N,) |yaw| in degrees from AFLW's own labels (3DDFA's ``AFLW2000-3D-new.pose.npy``), or
            None; the alternative yaw source of the bins (``--yaw-source aflw-labels``).
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
    yaw_aflw_deg: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.landmarks.shape != (n, 68, 3):
            raise ValueError(f"ground truth landmarks have shape {self.landmarks.shape}, expected {(n, 68, 3)}")
        if self.angles_deg.shape != (n, 3):
            raise ValueError(f"ground truth angles have shape {self.angles_deg.shape}, expected {(n, 3)}")
        if len(set(self.ids.tolist())) != n:
            raise ValueError("ground truth ids are not unique")
        if self.yaw_aflw_deg is not None and np.shape(self.yaw_aflw_deg) != (n,):
            raise ValueError(f"AFLW yaw labels have shape {np.shape(self.yaw_aflw_deg)}, expected {(n,)}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def yaw_deg(self) -> np.ndarray:
        return self.angles_deg[:, 1]

    def describe(self) -> str:
        """A one-line statement of which data produced a number: split, data version, provenance."""
        prov = ", ".join(f"{k}={v}" for k, v in self.provenance.items())
        return f"split={self.split} data={self.data_version} n={len(self)}" + (f" ({prov})" if prov else "")

    def with_aflw_yaw(self, eval_dir: str | Path) -> GroundTruth:
        """A copy carrying AFLW's own yaw labels (``AFLW2000-3D-new.pose.npy`` of 3DDFA's evaluation folder),
        matched through the source image of every sample. Raises ``ValueError`` naming a missing file or image."""
        from dataclasses import replace

        yaw = load_aflw_yaw(eval_dir)
        keys = self.source_ids if self.source_ids is not None else self.ids
        missing = [k for k in np.asarray(keys).tolist() if k not in yaw]
        if missing:
            raise ValueError(f"{eval_dir}: AFLW2000-3D-new.pose.npy has no yaw for image {missing[0]}")
        return replace(self, yaw_aflw_deg=np.array([yaw[k] for k in np.asarray(keys).tolist()], dtype=np.float64))

    @classmethod
    def from_source(cls, source: AFLW2000_3D | str | Path, eval_dir: str | Path | None = None) -> GroundTruth:
        """Ground truth of the clean split read straight from an AFLW2000-3D folder."""
        ds = source if isinstance(source, AFLW2000_3D) else AFLW2000_3D(source, eval_dir)
        ids = np.array(ds.ids)
        prov = {"source": str(ds.root)}
        yaw_aflw = None
        if ds.eval_dir is not None:
            prov["eval_dir"] = str(ds.eval_dir)
            if (Path(ds.eval_dir) / AFLW_YAW_FILE).is_file():
                table = load_aflw_yaw(ds.eval_dir)
                if all(i in table for i in ids.tolist()):
                    yaw_aflw = np.array([table[i] for i in ids.tolist()], dtype=np.float64)
        return cls(
            ids=ids,
            landmarks=ds.landmarks(),
            angles_deg=ds.angles_deg(),
            reannotated=ds.reannotated(),
            source_ids=ids.copy(),
            split="clean",
            data_version="source",
            provenance=prov,
            yaw_aflw_deg=yaw_aflw,
        )

    @classmethod
    def from_store(cls, path: str | Path, split: str = "clean") -> GroundTruth:
        """Moved (0.2.0, issue 16): ground truth lives in the source layer and cannot read the store; a store's split
        is read by :func:`aflw_occ.read_ground_truth` (``aflw_occ.store.read_ground_truth``). Raises a
        :class:`StoreError` that says so, instead of an ``AttributeError``."""
        raise StoreError(
            f"{path}: GroundTruth.from_store moved; use aflw_occ.read_ground_truth({str(path)!r}, {split!r})"
        )


AFLW_YAW_FILE = "AFLW2000-3D-new.pose.npy"


def load_aflw_yaw(eval_dir: str | Path) -> dict[str, float]:
    """image id → |yaw| in degrees from AFLW's labels (``AFLW2000-3D-new.pose.npy``, rows in the name-list order)."""
    d = Path(eval_dir)
    names_p, yaw_p = d / "AFLW2000-3D_crop.list", d / AFLW_YAW_FILE
    for f in (names_p, yaw_p):
        if not f.is_file():
            raise ValueError(f"{f}: missing (3DDFA's evaluation folder holds it; needed for --yaw-source aflw-labels)")
    names = [Path(n.strip()).stem for n in names_p.read_text().splitlines() if n.strip()]
    yaw = np.load(yaw_p, allow_pickle=False).astype(np.float64).reshape(-1)
    if yaw.shape[0] != len(names):
        raise ValueError(f"{yaw_p}: {yaw.shape[0]} values for {len(names)} names in {names_p}")
    return dict(zip(names, yaw.tolist(), strict=True))
