"""The prediction-file contract (format version 1): read, validate, write.

A prediction file holds, for a set of sample ids, the predicted 68 landmarks in *original image pixels*
(x right, y down, **1-based like** ``pt3d_68``: the centre of the top-left pixel is (1, 1)), optionally the
predicted head pose (angles, or the rotation matrix to decode under a named convention) and dense points.
Formats (by suffix):

* ``.npz`` — arrays ``ids`` (N,) str, ``landmarks`` (N, 68, 2|3) or (N, 2|3, 68), optional ``angles_deg``
  (N, 3), ``rotation`` (N, 3, 3), ``pose_decoding`` (0-d str), ``dense`` (N, P, 3), and a scalar
  ``format_version`` (= 1; absent → 1 implied). Without ``ids`` the rows are in the release's sorted order;
* ``.npy`` — one landmark array (N, 68, 2|3) or (N, 2|3, 68) in the release's sorted order (ids implied), as
  3DDFA / SynergyNet users hold it;
* ``.h5`` / ``.hdf5`` — the same names as datasets at the root, ``format_version`` as a root attribute;
* ``.csv`` — one row per id, header ``id,x0,y0[,z0],...,x67,y67[,z67]`` with optional ``pitch,yaw,roll``
  columns (degrees) at the end; the header defines the version (1).

At least one of ``landmarks``, ``angles_deg``, ``rotation``, ``dense`` must be present; each protocol says what
it needs. Landmarks in 3DDFA's 120×120 crop coordinates are mapped to image pixels explicitly with
:class:`CropFrame` (``aflw-occ score --crop-boxes``). See ``docs/predictions.md`` for the full contract. Every
violation raises :class:`PredictionError` with one line naming the file and, where it applies, the first offending
id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import PredictionError
from .hashing import sha256_file
from .matching import IdMatch, match_ids  # re-exported: matching used to live here

__all__ = [
    "FORMAT_VERSION",
    "PIXEL_ORIGIN",
    "Predictions",
    "CropFrame",
    "IdMatch",
    "read_predictions",
    "write_predictions",
    "match_ids",
]

FORMAT_VERSION = 1
N_LANDMARKS = 68
#: The pixel convention of every landmark aflw-occ reads and of the ground truth (stated in every output header).
PIXEL_ORIGIN = "1-based image pixels like pt3d_68 (top-left pixel centre = (1, 1))"
_SUFFIXES = (".npz", ".npy", ".h5", ".hdf5", ".csv")
_SUFFIX_HELP = "use .npz, .npy, .h5, .hdf5 or .csv"
_ARRAYS = ("ids", "landmarks", "angles_deg", "rotation", "dense", "pose_decoding", "format_version")
#: Placeholder prefix of implied ids (rows in the release's sorted order, resolved against the ground truth).
IMPLIED_PREFIX = "#row"
_ANGLE_COLUMNS = ("pitch", "yaw", "roll")


#: |value| above this is no landmark (pixels) or angle (degrees): a wrong unit, a wrong array or corrupt data; the
#: squared errors of such values overflow float64 and every score would be NaN
MAX_MAGNITUDE = 1e6


def _first_nonfinite_row(arr: np.ndarray) -> int | None:
    bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    rows = np.flatnonzero(bad)
    return int(rows[0]) if rows.size else None


def _as_float(name: str, value: object, source: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise PredictionError(f"{source}: {name} is not numeric (dtype {arr.dtype})")
    return arr.astype(np.float64, copy=False)


def _as_ids(value: object, source: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind == "S":
        try:
            arr = np.char.decode(arr, "utf-8")
        except UnicodeDecodeError:
            raise PredictionError(f"{source}: ids are not valid UTF-8") from None
    elif arr.dtype.kind == "O":
        if not all(isinstance(x, str) for x in arr.reshape(-1)):
            raise PredictionError(f"{source}: ids must be strings")
        arr = arr.astype(str)
    elif arr.dtype.kind != "U":
        raise PredictionError(f"{source}: ids must be strings, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise PredictionError(f"{source}: ids have shape {arr.shape}, expected (N,)")
    if arr.size and np.any(np.char.str_len(arr) == 0):
        row = int(np.flatnonzero(np.char.str_len(arr) == 0)[0])
        raise PredictionError(f"{source}: empty id at row {row}")
    return arr


@dataclass(frozen=True)
class Predictions:
    """Predictions of one method for a set of samples, row-aligned by ``ids`` (validated on creation).

    Attributes:
        ids: (N,) unique sample ids (str). With ``implied_ids`` they are placeholders: row i is the i-th image of
            the release's sorted order, resolved when matched against the ground truth.
        landmarks: (N, 68, 2|3) float64 landmarks in 1-based image pixels, or None. (N, 2|3, 68) is accepted
            and transposed (unambiguous: one axis is 68).
        angles_deg: (N, 3) float64 predicted (pitch, yaw, roll) in degrees, or None.
        dense: (N, P, 3) float64 dense points (same order as the dense ground truth), or None.
        rotation: (N, 3, 3) float64 predicted rotation matrices (rows r1, r2, r1 × r2 of a 3DMM camera), decoded
            into angles under a named convention when scored, or None.
        pose_decoding: how ``angles_deg`` were decoded from a rotation (``aflw2000-3d``, ``synergynet``), if stated.
        source: the file the predictions came from, or ``"<memory>"``.
        sha256: sha256 of the file's bytes (or of the arrays for in-memory predictions).
        implied_ids: True when the file held no ids (rows in the release's sorted order).
        notes: what was implied or converted while reading (printed with the scores).
    """

    ids: np.ndarray | None
    landmarks: np.ndarray | None = None
    angles_deg: np.ndarray | None = None
    dense: np.ndarray | None = None
    source: str = "<memory>"
    sha256: str = field(default="")
    rotation: np.ndarray | None = None
    pose_decoding: str | None = None
    implied_ids: bool = False
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        src = self.source
        notes = list(self.notes)
        lm = self.landmarks
        if lm is not None:
            shape = np.shape(lm)
            if len(shape) == 3 and shape[1] in (2, 3) and shape[2] == N_LANDMARKS:
                lm = np.swapaxes(np.asarray(lm), 1, 2)
                notes.append(f"landmarks given as (N, {shape[1]}, 68) (3DDFA layout): read as (N, 68, {shape[1]})")
                object.__setattr__(self, "landmarks", lm)
        if self.ids is None or self.implied_ids:
            if self.ids is None:
                n_rows = _first_length(self, src)
                object.__setattr__(self, "ids", np.array([f"{IMPLIED_PREFIX}{i}" for i in range(n_rows)]))
            object.__setattr__(self, "implied_ids", True)
        ids = _as_ids(self.ids, src)
        object.__setattr__(self, "ids", ids)
        n = ids.shape[0]
        if n == 0:
            raise PredictionError(f"{src}: holds no predictions (0 ids)")
        if self.landmarks is None and self.angles_deg is None and self.dense is None and self.rotation is None:
            raise PredictionError(f"{src}: holds none of landmarks, angles_deg, rotation, dense")
        checks = (
            ("landmarks", lambda s: len(s) == 3 and s[1] == N_LANDMARKS and s[2] in (2, 3), "(N, 68, 2|3)"),
            ("angles_deg", lambda s: len(s) == 2 and s[1] == 3, "(N, 3)"),
            ("dense", lambda s: len(s) == 3 and s[1] > 0 and s[2] == 3, "(N, P, 3)"),
            ("rotation", lambda s: len(s) == 3 and s[1:] == (3, 3), "(N, 3, 3)"),
        )
        for name, ok, want in checks:
            value = getattr(self, name)
            if value is None:
                continue
            arr = _as_float(name, value, src)
            if not ok(arr.shape) or arr.shape[0] != n:
                raise PredictionError(
                    f"{src}: {name} have shape {arr.shape}, expected {want} with N = {n} (the number of ids)"
                )
            object.__setattr__(self, name, arr)
        if self.pose_decoding is not None:
            from .metrics.rotation import POSE_DECODINGS

            if self.pose_decoding not in POSE_DECODINGS:
                raise PredictionError(
                    f"{src}: pose_decoding {self.pose_decoding!r} is unknown (use one of {', '.join(POSE_DECODINGS)})"
                )
        _check_unique(ids, src)
        for name in ("landmarks", "angles_deg", "dense", "rotation"):
            arr = getattr(self, name)
            if arr is None:
                continue
            row = _first_nonfinite_row(arr)
            if row is not None:
                n_bad = int((~np.isfinite(arr.reshape(n, -1)).all(axis=1)).sum())
                raise PredictionError(
                    f"{src}: {name} of {_row_name(self, row)} hold NaN or inf ({n_bad} of the {n} ids)"
                )
            huge = np.flatnonzero((np.abs(arr.reshape(n, -1)) > MAX_MAGNITUDE).any(axis=1))
            if huge.size:
                raise PredictionError(
                    f"{src}: {name} of {_row_name(self, int(huge[0]))} hold values beyond ±{MAX_MAGNITUDE:g} "
                    f"({huge.size} of the {n} ids): landmarks are image pixels and angles degrees, so these are "
                    "unconverted or corrupt values (the errors would overflow to NaN)"
                )
        object.__setattr__(self, "notes", tuple(notes))
        if not self.sha256:
            object.__setattr__(self, "sha256", _arrays_sha256(self))

    def __len__(self) -> int:
        return int(self.ids.shape[0])  # type: ignore[union-attr]

    @property
    def dims(self) -> int | None:
        """2 or 3 (the landmark coordinates given), None without landmarks."""
        return None if self.landmarks is None else int(self.landmarks.shape[2])


def _first_length(p: Predictions, src: str) -> int:
    for name in ("landmarks", "angles_deg", "dense", "rotation"):
        value = getattr(p, name)
        if value is not None:
            shape = np.shape(value)
            if not shape:
                raise PredictionError(f"{src}: {name} is a scalar, expected an array with one row per image")
            return int(shape[0])
    raise PredictionError(f"{src}: holds none of landmarks, angles_deg, rotation, dense")


def _row_name(p: Predictions, row: int) -> str:
    return f"row {row}" if p.implied_ids else f"id {p.ids[row]}"  # type: ignore[index]


def _check_unique(ids: np.ndarray, source: str) -> None:
    if ids.size == 0:
        return
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if dup.size:
        # report the duplicate whose second occurrence comes first in file order
        rows = order[dup + 1]
        second = int(rows.min())
        first = int(np.flatnonzero(ids == ids[second])[0])
        raise PredictionError(f"{source}: duplicate id {ids[second]} (rows {first} and {second})")


def _arrays_sha256(p: Predictions) -> str:
    h = hashlib.sha256()
    h.update("\n".join(p.ids.tolist()).encode())  # type: ignore[union-attr]
    for arr in (p.landmarks, p.angles_deg, p.dense, p.rotation):
        h.update(b"|")
        if arr is not None:
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
    return "in-memory:" + h.hexdigest()


# Reading ------------------------------------------------------------------------------------------


def _check_version(value: object, source: str) -> None:
    """Refuse a version this reader does not know; an absent version means version 1 (plain ``np.savez``)."""
    if value is None:
        return
    v = np.asarray(value)
    if v.dtype.kind == "S":
        v = np.char.decode(v, "utf-8")
    try:
        version = int(v.reshape(-1)[0]) if v.size == 1 else None
    except (TypeError, ValueError):
        version = None
    if version != FORMAT_VERSION:
        raise PredictionError(
            f"{source}: format_version {v.tolist()!r} is not supported (this aflw-occ reads {FORMAT_VERSION})"
        )


def _read_npz(path: Path) -> dict[str, object]:
    src = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            out: dict[str, object] = {}
            for key in keys:
                try:
                    out[key] = z[key]
                except ValueError:
                    raise PredictionError(
                        f"{src}: array {key} is stored as Python objects; store strings as a fixed-width "
                        f"string array (np.asarray(ids, dtype=str))"
                    ) from None
    except PredictionError:
        raise
    except Exception as exc:
        raise PredictionError(f"{src}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    _check_version(out.get("format_version"), src)
    return out


def _read_npy(path: Path) -> dict[str, object]:
    """A bare landmark array (N, 68, 2|3) or (N, 2|3, 68) in the release's sorted order (ids implied)."""
    src = str(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise PredictionError(f"{src}: holds Python objects; save a numeric landmark array") from None
        raise PredictionError(f"{src}: not a readable .npy file ({type(exc).__name__}: {exc})") from None
    except Exception as exc:
        raise PredictionError(f"{src}: not a readable .npy file ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 3 or N_LANDMARKS not in arr.shape[1:]:
        raise PredictionError(
            f"{src}: a .npy prediction file holds one landmark array (N, 68, 2|3) or (N, 2|3, 68), "
            f"got shape {getattr(arr, 'shape', None)} (for anything else write an .npz with ids)"
        )
    return {"landmarks": arr}


def _read_h5(path: Path) -> dict[str, object]:
    import h5py

    src = str(path)
    try:
        fh = h5py.File(path, "r")
    except Exception as exc:
        raise PredictionError(f"{src}: not a readable HDF5 file ({type(exc).__name__}: {exc})") from None
    with fh:
        _check_version(fh.attrs.get("format_version"), src)
        out: dict[str, object] = {}
        for key in ("ids", "landmarks", "angles_deg", "rotation", "dense", "pose_decoding"):
            if key not in fh:
                continue
            obj = fh[key]
            if not isinstance(obj, h5py.Dataset):
                raise PredictionError(f"{src}: {key} is not a dataset")
            if key in ("ids", "pose_decoding") and h5py.check_string_dtype(obj.dtype) is not None:
                out[key] = np.asarray(obj.asstr()[()], dtype=object).astype(str)
            else:
                out[key] = obj[()]
    return out


def _csv_header(dims: int, with_angles: bool) -> list[str]:
    axes = "xyz"[:dims]
    cols = ["id"] + [f"{a}{k}" for k in range(N_LANDMARKS) for a in axes]
    return cols + list(_ANGLE_COLUMNS) if with_angles else cols


def _read_csv(path: Path) -> dict[str, object]:
    import csv

    src = str(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PredictionError(f"{src}: not a readable CSV file ({type(exc).__name__}: {exc})") from None
    if not rows:
        raise PredictionError(f"{src}: empty CSV file (expected a header id,x0,y0,...)")
    header = [c.strip() for c in rows[0]]
    layout = None
    for dims in (2, 3):
        for with_angles in (False, True):
            if header == _csv_header(dims, with_angles):
                layout = (dims, with_angles)
    if layout is None:
        if header[:1] == ["id"] and header[1:] == list(_ANGLE_COLUMNS):
            layout = (0, True)
        else:
            shown = ",".join(header[:4]) + (",..." if len(header) > 4 else "")
            raise PredictionError(f"{src}: CSV header {shown} is not id,x0,y0[,z0],...,x67,y67[,z67][,pitch,yaw,roll]")
    dims, with_angles = layout
    body = [r for r in rows[1:] if r]
    width = len(header)
    ids = [r[0].strip() for r in body]
    for r in body:
        if len(r) != width:
            raise PredictionError(f"{src}: row of id {r[0]} has {len(r)} columns, expected {width}")
    try:
        values = np.array([r[1:] for r in body], dtype=np.float64).reshape(len(body), width - 1)
    except ValueError:
        for r in body:
            try:
                np.array(r[1:], dtype=np.float64)
            except ValueError:
                raise PredictionError(f"{src}: row of id {r[0]} holds a non-numeric value") from None
        raise PredictionError(f"{src}: non-numeric values") from None
    out: dict[str, object] = {"ids": np.array(ids, dtype=str)}
    n_lm = N_LANDMARKS * dims
    if dims:
        out["landmarks"] = values[:, :n_lm].reshape(len(body), N_LANDMARKS, dims)
    if with_angles:
        out["angles_deg"] = values[:, n_lm : n_lm + 3]
    return out


def _as_label(value: object, name: str, source: str) -> str | None:
    if value is None:
        return None
    v = np.asarray(value)
    if v.dtype.kind == "S":
        v = np.char.decode(v, "utf-8")
    if v.dtype.kind not in "UO" or v.size != 1:
        raise PredictionError(f"{source}: {name} must be one string, got {v.dtype} of shape {v.shape}")
    return str(v.reshape(-1)[0])


def read_predictions(path: str | Path) -> Predictions:
    """Read and validate a prediction file (``.npz``, ``.npy``, ``.h5``/``.hdf5`` or ``.csv``) once.

    What was implied while reading (no ``format_version``, no ids, the (N, 2|3, 68) layout) is recorded in
    :attr:`Predictions.notes` and printed with the scores.
    """
    p = Path(path)
    src = str(p)
    if not p.is_file():
        raise PredictionError(f"{src}: prediction file does not exist")
    suffix = p.suffix.lower()
    if suffix not in _SUFFIXES:
        raise PredictionError(f"{src}: unknown prediction file type {suffix!r} ({_SUFFIX_HELP})")
    if suffix == ".npz":
        arrays = _read_npz(p)
    elif suffix == ".npy":
        arrays = _read_npy(p)
    elif suffix == ".csv":
        arrays = _read_csv(p)
    else:
        arrays = _read_h5(p)
    unknown = sorted(set(arrays) - set(_ARRAYS))
    if unknown:
        raise PredictionError(f"{src}: unknown array(s) {', '.join(unknown)} (contract version {FORMAT_VERSION})")
    notes = []
    if suffix in (".npz", ".h5", ".hdf5") and "format_version" not in arrays:
        notes.append(f"no format_version: version {FORMAT_VERSION} implied")
    ids = _as_ids(arrays["ids"], src) if "ids" in arrays else None
    if ids is None:
        notes.append("no ids: rows taken in the release's sorted order (image00002 … image04375)")
    return Predictions(
        ids=ids,
        landmarks=arrays.get("landmarks"),  # type: ignore[arg-type]
        angles_deg=arrays.get("angles_deg"),  # type: ignore[arg-type]
        dense=arrays.get("dense"),  # type: ignore[arg-type]
        rotation=arrays.get("rotation"),  # type: ignore[arg-type]
        pose_decoding=_as_label(arrays.get("pose_decoding"), "pose_decoding", src),
        source=src,
        sha256=sha256_file(p),
        notes=tuple(notes),
    )


# 3DDFA crop coordinates → image pixels ------------------------------------------------------------------


@dataclass(frozen=True)
class CropFrame:
    """3DDFA's crop boxes, to map landmarks from 120×120 crop coordinates to image pixels.

    3DDFA's ``_predict_vertices`` (``utils/inference.py``; SynergyNet's is the same) maps a crop-coordinate point
    (x_c, y_c, z_c) — as its ``reconstruct_vertex`` returns it, y already flipped — through the box
    [sx, sy, ex, ey]:  x = x_c·(ex − sx)/S + sx,  y = y_c·(ey − sy)/S + sy,  z = z_c·(s_x + s_y)/2, S = 120.
    Its outputs are then compared with ``pt3d_68`` as they are, so they are in the ground truth's 1-based pixels.

    Attributes:
        boxes: (M, 4) [sx, sy, ex, ey] per image (``AFLW2000-3D_crop.roi_box.npy``).
        names: (M,) the image id of each box (``AFLW2000-3D_crop.list`` without ``.jpg``), release sorted order.
        size: crop side S (120).
        source: the box file.
    """

    boxes: np.ndarray
    names: np.ndarray
    size: int = 120
    source: str = "<memory>"

    @classmethod
    def load(cls, roi_box_file: str | Path, list_file: str | Path | None = None, size: int = 120) -> CropFrame:
        """Read ``AFLW2000-3D_crop.roi_box.npy`` and its name list (default: ``AFLW2000-3D_crop.list`` beside it)."""
        p = Path(roi_box_file)
        names_p = Path(list_file) if list_file is not None else p.with_name("AFLW2000-3D_crop.list")
        for f, what in ((p, "crop-box file"), (names_p, "name list of the crop boxes")):
            if not f.is_file():
                raise PredictionError(f"{f}: {what} does not exist (3DDFA's AFLW2000-3D_crop.roi_box.npy + .list)")
        try:
            boxes = np.load(p, allow_pickle=False).astype(np.float64)
        except Exception as exc:
            raise PredictionError(f"{p}: not a readable crop-box .npy ({type(exc).__name__}: {exc})") from None
        names = np.array([Path(n.strip()).stem for n in names_p.read_text().splitlines() if n.strip()])
        if boxes.ndim != 2 or boxes.shape[1] < 4 or boxes.shape[0] != names.shape[0]:
            raise PredictionError(
                f"{p}: crop boxes have shape {boxes.shape}, expected ({names.shape[0]}, 4) (one per name in {names_p})"
            )
        return cls(boxes=boxes[:, :4], names=names, size=size, source=str(p))

    def to_image(self, pred: Predictions) -> Predictions:
        """The same predictions with landmarks (and dense points) mapped from crop coordinates to image pixels.

        Rows are matched to boxes by id, or row by row when the ids are implied (release sorted order).
        """
        from .crops import crop_to_image

        src = pred.source
        if pred.landmarks is None and pred.dense is None:
            raise PredictionError(f"{src}: has no landmarks or dense points to map from crop coordinates")
        if pred.implied_ids:
            if len(pred) != len(self.names):
                raise PredictionError(
                    f"{src}: {len(pred)} rows in the release's order, but {self.source} has {len(self.names)} boxes"
                )
            rows = np.arange(len(pred))
        else:
            index = {n: i for i, n in enumerate(self.names.tolist())}
            rows = np.array([index.get(i, -1) for i in pred.ids.tolist()], dtype=np.int64)  # type: ignore[union-attr]
            if rows.size and rows.min() < 0:
                first = pred.ids[int(np.flatnonzero(rows < 0)[0])]  # type: ignore[index]
                raise PredictionError(
                    f"{src}: id {first} has no crop box in {self.source} (crop boxes are per AFLW2000-3D image)"
                )
        boxes = self.boxes[rows]
        lm = None if pred.landmarks is None else crop_to_image(pred.landmarks, boxes, self.size)
        dense = None if pred.dense is None else crop_to_image(pred.dense, boxes, self.size)
        note = f"landmarks converted from {self.size}×{self.size} crop coordinates with {self.source}"
        return replace(pred, landmarks=lm, dense=dense, notes=(*pred.notes, note))


# Writing ------------------------------------------------------------------------------------------


def write_predictions(
    path: str | Path,
    ids: Sequence[str] | np.ndarray,
    landmarks: np.ndarray | None,
    angles_deg: np.ndarray | None = None,
    *,
    dense: np.ndarray | None = None,
    rotation: np.ndarray | None = None,
    pose_decoding: str | None = None,
) -> Path:
    """Validate and write a prediction file atomically (temporary file in the same folder, then rename).

    The format follows the suffix of ``path``: ``.npz``, ``.h5``/``.hdf5`` or ``.csv`` (CSV cannot hold
    ``dense``).

    Args:
        path: output file.
        ids: (N,) unique sample ids.
        landmarks: (N, 68, 2|3) landmarks in original image pixels, or None.
        angles_deg: optional (N, 3) predicted (pitch, yaw, roll) in degrees.
        dense: optional (N, P, 3) dense points.
        rotation: optional (N, 3, 3) rotation matrices (decoded into angles when scored, ``--pose-decoding``).
        pose_decoding: how ``angles_deg`` were decoded from a rotation (``aflw2000-3d`` / ``synergynet``).

    Returns:
        The path written.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in _SUFFIXES:
        raise PredictionError(f"{out}: unknown prediction file type {suffix!r} ({_SUFFIX_HELP})")
    if suffix == ".npy":
        raise PredictionError(f"{out}: write .npz, .h5 or .csv (a .npy holds no ids; it is read-only input)")
    pred = Predictions(
        ids=np.asarray(ids, dtype=str) if not isinstance(ids, np.ndarray) else ids,
        landmarks=landmarks,
        angles_deg=angles_deg,
        dense=dense,
        rotation=rotation,
        pose_decoding=pose_decoding,
        source=str(out),
    )
    if suffix == ".csv" and (pred.dense is not None or pred.rotation is not None or pred.pose_decoding):
        raise PredictionError(f"{out}: CSV prediction files cannot hold dense points or rotations (use .npz or .h5)")
    if suffix == ".csv" and pred.landmarks is None and pred.angles_deg is None:
        raise PredictionError(f"{out}: nothing to write")
    if suffix == ".csv":
        bad = [i for i in pred.ids.tolist() if "," in i or '"' in i or "\n" in i or i != i.strip()]
        if bad:
            raise PredictionError(f"{out}: id {bad[0]!r} cannot be written to CSV (comma, quote, newline or blank)")
    if not out.parent.is_dir():
        raise PredictionError(f"{out}: folder {out.parent} does not exist")
    with atomic_path(out) as tmp:
        if suffix == ".npz":
            with tmp.open("wb") as fh:
                _write_npz(fh, pred)
        elif suffix in (".h5", ".hdf5"):
            _write_h5(tmp, pred)
        elif suffix == ".csv":
            _write_csv(tmp, pred)
    return out


def _write_npz(fh, pred: Predictions) -> None:
    arrays: dict[str, np.ndarray] = {
        "format_version": np.asarray(FORMAT_VERSION, dtype=np.int64),
        "ids": np.asarray(pred.ids, dtype=str),
    }
    for name in ("landmarks", "angles_deg", "dense", "rotation"):
        value = getattr(pred, name)
        if value is not None:
            arrays[name] = value
    if pred.pose_decoding is not None:
        arrays["pose_decoding"] = np.asarray(pred.pose_decoding)
    np.savez(fh, **arrays)


def _write_h5(tmp: Path, pred: Predictions) -> None:
    import h5py

    with h5py.File(tmp, "w") as fh:
        fh.attrs["format_version"] = FORMAT_VERSION
        fh.create_dataset("ids", data=pred.ids.astype(object), dtype=h5py.string_dtype("utf-8"))
        for name in ("landmarks", "angles_deg", "dense", "rotation"):
            value = getattr(pred, name)
            if value is not None:
                fh.create_dataset(name, data=value)
        if pred.pose_decoding is not None:
            fh.create_dataset("pose_decoding", data=pred.pose_decoding, dtype=h5py.string_dtype("utf-8"))


def _write_csv(tmp: Path, pred: Predictions) -> None:
    n = len(pred)
    dims = pred.dims or 0
    parts = []
    if pred.landmarks is not None:
        parts.append(pred.landmarks.reshape(n, -1))
    if pred.angles_deg is not None:
        parts.append(pred.angles_deg)
    values = np.concatenate(parts, axis=1)
    header = _csv_header(dims, pred.angles_deg is not None) if dims else ["id", *_ANGLE_COLUMNS]
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(header) + "\n")
        for sid, row in zip(pred.ids.tolist(), values, strict=True):
            fh.write(sid + "," + ",".join(repr(float(v)) for v in row) + "\n")
