"""Detection files: the detections of one split of a store, self-describing, written atomically.

One ``.npz`` per split (``DIR/<split>.npz``, written by ``aflw-occ detect``), read back with ``allow_pickle=False``:

==================  ===============  ==========================================================================
key                 shape / dtype    meaning
==================  ===============  ==========================================================================
``format``          () str           ``aflw-occ-detections/1``
``meta``            () str           JSON: detector, detector_version, settings, match_rule, data_version,
                                     manifest_sha256, store, split, seconds, cpu_seconds, created_utc, aflw_occ
``ids``             (N,) str         sample ids, in the split's order
``source_ids``      (N,) str         the AFLW2000-3D image of each sample
``box``             (N, 4) float64   the matched detection ``[x0, y0, x1, y1]`` (1-based image pixels, like the
                                     ground truth: :mod:`aflw_occ.detection.boxes`); NaN row = no detection
``score``           (N,) float64     its detector score; NaN = no detection
``iou``             (N,) float64     IoU of the best candidate with the 68-point box (0: no candidate)
``cand_offsets``    (N + 1,) int64   candidates of sample i are rows ``cand_offsets[i]:cand_offsets[i+1]``
``cand_boxes``      (M, 4) float64   every candidate the detector returned (best score first per sample)
``cand_scores``     (M,) float64     their scores
==================  ===============  ==========================================================================

A detection file belongs to one store: :func:`check_store` refuses it for a store of another data version or manifest,
or a split whose ids differ, with the command that makes the right one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..errors import AflwOccError

__all__ = ["FORMAT", "DetectionFileError", "SplitDetections", "write_detections", "read_detections", "check_store"]

FORMAT = "aflw-occ-detections/1"
#: keys of ``meta`` every file must hold
META_KEYS = ("detector", "detector_version", "settings", "match_rule", "data_version", "manifest_sha256", "split")


class DetectionFileError(AflwOccError):
    """A detection file is missing, unreadable, malformed, or belongs to other data."""


@dataclass(frozen=True)
class SplitDetections:
    """The detections of one split (see the module docstring for every field)."""

    ids: np.ndarray
    source_ids: np.ndarray
    box: np.ndarray
    score: np.ndarray
    iou: np.ndarray
    cand_offsets: np.ndarray
    cand_boxes: np.ndarray
    cand_scores: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = "<in memory>"

    def __post_init__(self) -> None:
        n = len(self.ids)
        shapes = {
            "source_ids": (self.source_ids, (n,)),
            "box": (self.box, (n, 4)),
            "score": (self.score, (n,)),
            "iou": (self.iou, (n,)),
            "cand_offsets": (self.cand_offsets, (n + 1,)),
            "cand_scores": (self.cand_scores, (len(self.cand_boxes),)),
        }
        for key, (arr, want) in shapes.items():
            if np.shape(arr) != want:
                raise DetectionFileError(f"{self.path}: {key} has shape {np.shape(arr)}, expected {want}")
        if np.ndim(self.cand_boxes) != 2 or np.shape(self.cand_boxes)[1] != 4:
            raise DetectionFileError(f"{self.path}: cand_boxes has shape {np.shape(self.cand_boxes)}, expected (M, 4)")
        off = np.asarray(self.cand_offsets)
        if n and (off[0] != 0 or off[-1] != len(self.cand_boxes) or np.any(np.diff(off) < 0)):
            raise DetectionFileError(f"{self.path}: cand_offsets are not increasing from 0 to {len(self.cand_boxes)}")
        hit = np.isfinite(self.box).all(axis=1)
        if not np.array_equal(hit, np.isfinite(self.score)) or np.any(np.isnan(self.box[hit])):
            raise DetectionFileError(f"{self.path}: box and score disagree on which samples have a detection")
        if hit.any() and np.any((self.box[hit, 2] <= self.box[hit, 0]) | (self.box[hit, 3] <= self.box[hit, 1])):
            raise DetectionFileError(f"{self.path}: a detection box is empty (need x1 > x0 and y1 > y0)")
        missing = [k for k in META_KEYS if k not in self.meta]
        if missing:
            raise DetectionFileError(f"{self.path}: meta lacks {', '.join(missing)}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def detected(self) -> np.ndarray:
        """(N,) bool: the sample has a matched detection."""
        return np.isfinite(self.box).all(axis=1)

    @property
    def split(self) -> str:
        return str(self.meta["split"])

    @property
    def detector(self) -> str:
        return str(self.meta["detector"])

    def identity(self) -> tuple[str, str, str, str, str, str]:
        """What makes two files comparable: detector, its version and settings, match rule, data version, manifest."""
        m = self.meta
        return (
            str(m["detector"]),
            str(m["detector_version"]),
            json.dumps(m["settings"], sort_keys=True),
            str(m["match_rule"]),
            str(m["data_version"]),
            str(m["manifest_sha256"]),
        )

    def describe(self) -> str:
        """One line naming the detector, its version and settings, and the data."""
        m = self.meta
        settings = ", ".join(f"{k}={v}" for k, v in m["settings"].items())
        return (
            f"detector={m['detector']} ({m['detector_version']}; {settings}) "
            f"data={m['data_version']} manifest={str(m['manifest_sha256'])[:12]}"
        )

    def candidates(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Every candidate of sample ``i``: ``(boxes (K, 4), scores (K,))``."""
        a, b = int(self.cand_offsets[i]), int(self.cand_offsets[i + 1])
        return self.cand_boxes[a:b], self.cand_scores[a:b]


def write_detections(path: str | Path, det: SplitDetections) -> Path:
    """Write ``det`` to ``path`` (``.npz``) atomically: a temporary file in the same folder, renamed when complete."""
    out = Path(path)
    meta = dict(det.meta)
    meta.setdefault("created_utc", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    arrays = {
        "format": np.asarray(FORMAT),
        "meta": np.asarray(json.dumps(meta, sort_keys=True)),
        "ids": np.asarray(det.ids, dtype=str),
        "source_ids": np.asarray(det.source_ids, dtype=str),
        "box": np.asarray(det.box, dtype=np.float64),
        "score": np.asarray(det.score, dtype=np.float64),
        "iou": np.asarray(det.iou, dtype=np.float64),
        "cand_offsets": np.asarray(det.cand_offsets, dtype=np.int64),
        "cand_boxes": np.asarray(det.cand_boxes, dtype=np.float64).reshape(-1, 4),
        "cand_scores": np.asarray(det.cand_scores, dtype=np.float64),
    }
    with atomic_path(out) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)
    return out


def read_detections(path: str | Path) -> SplitDetections:
    """Read and validate one detection file; :class:`DetectionFileError` naming the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise DetectionFileError(f"{p}: detection file does not exist (make it with `aflw-occ detect`)")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # numpy raises several types for a corrupt or foreign file
        raise DetectionFileError(f"{p}: not a readable .npz detection file ({type(exc).__name__}: {exc})") from None
    fmt = str(data.get("format", ""))
    if fmt != FORMAT:
        raise DetectionFileError(f"{p}: format {fmt!r} is not {FORMAT!r} (not a detection file of this aflw-occ)")
    need = ("meta", "ids", "source_ids", "box", "score", "iou", "cand_offsets", "cand_boxes", "cand_scores")
    lacking = [k for k in need if k not in data]
    if lacking:
        raise DetectionFileError(f"{p}: missing {', '.join(lacking)}")
    try:
        meta = json.loads(str(data["meta"]))
    except json.JSONDecodeError as exc:
        raise DetectionFileError(f"{p}: meta is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DetectionFileError(f"{p}: meta is not a JSON object")
    return SplitDetections(
        ids=data["ids"].astype(str),
        source_ids=data["source_ids"].astype(str),
        box=data["box"].astype(np.float64),
        score=data["score"].astype(np.float64),
        iou=data["iou"].astype(np.float64),
        cand_offsets=data["cand_offsets"].astype(np.int64),
        cand_boxes=data["cand_boxes"].astype(np.float64),
        cand_scores=data["cand_scores"].astype(np.float64),
        meta=meta,
        path=str(p),
    )


def split_file(folder: str | Path, split: str) -> Path:
    """Where ``aflw-occ detect`` writes the detections of ``split`` in ``folder``."""
    return Path(folder) / f"{split}.npz"


def check_store(det: SplitDetections, data_version: str, manifest_sha256: str, split: str, ids: np.ndarray) -> None:
    """:class:`DetectionFileError` unless ``det`` was made on this store's split (data version, manifest, ids)."""
    m = det.meta
    redo = f"run `aflw-occ detect STORE --detector {m.get('detector', 'NAME')} --out DIR` on the store you evaluate"
    if str(m["data_version"]) != str(data_version) or str(m["manifest_sha256"]) != str(manifest_sha256):
        raise DetectionFileError(
            f"{det.path}: detections of data {m['data_version']} (manifest {str(m['manifest_sha256'])[:12]}), "
            f"but the store is data {data_version} (manifest {str(manifest_sha256)[:12]}): {redo}"
        )
    if str(m["split"]) != split:
        raise DetectionFileError(f"{det.path}: detections of split {m['split']!r}, not {split!r}")
    want = np.asarray(ids).astype(str)
    if len(det.ids) != len(want) or not np.array_equal(det.ids, want):
        raise DetectionFileError(
            f"{det.path}: its {len(det.ids)} ids are not the {len(want)} ids of split {split!r} of the store: {redo}"
        )
