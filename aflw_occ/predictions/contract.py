"""The prediction-file contract (format version 1): :class:`Predictions`, one method's validated predictions for a
set of samples, and the names and limits every reader and writer shares (see the package docstring and
``docs/predictions.md``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import PredictionError
from ..metrics.rotation import POSE_DECODINGS

FORMAT_VERSION = 1
N_LANDMARKS = 68
#: The pixel convention of every landmark aflw-occ reads and of the ground truth (stated in every output header).
PIXEL_ORIGIN = "1-based image pixels like pt3d_68 (top-left pixel centre = (1, 1))"
SUFFIXES = (".npz", ".npy", ".h5", ".hdf5", ".csv")
SUFFIX_HELP = "use .npz, .npy, .h5, .hdf5 or .csv"
ARRAYS = ("ids", "landmarks", "angles_deg", "rotation", "dense", "pose_decoding", "format_version")
#: Placeholder prefix of implied ids (rows in the release's sorted order, resolved against the ground truth).
IMPLIED_PREFIX = "#row"
ANGLE_COLUMNS = ("pitch", "yaw", "roll")
#: the per-sample arrays of a prediction file, in the order they are checked
VALUE_ARRAYS = ("landmarks", "angles_deg", "dense", "rotation")


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


#: array → (its shape is right, given the shape; the expected shape, as printed)
_SHAPES: dict[str, tuple[Any, str]] = {
    "landmarks": (lambda s: len(s) == 3 and s[1] == N_LANDMARKS and s[2] in (2, 3), "(N, 68, 2|3)"),
    "angles_deg": (lambda s: len(s) == 2 and s[1] == 3, "(N, 3)"),
    "dense": (lambda s: len(s) == 3 and s[1] > 0 and s[2] == 3, "(N, P, 3)"),
    "rotation": (lambda s: len(s) == 3 and s[1:] == (3, 3), "(N, 3, 3)"),
}


def csv_header(dims: int, with_angles: bool) -> list[str]:
    """``id,x0,y0[,z0],...,x67,y67[,z67][,pitch,yaw,roll]`` for ``dims`` coordinates."""
    axes = "xyz"[:dims]
    cols = ["id"] + [f"{a}{k}" for k in range(N_LANDMARKS) for a in axes]
    return cols + list(ANGLE_COLUMNS) if with_angles else cols


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
        notes = list(self.notes)
        self._accept_3ddfa_layout(notes)
        self._resolve_ids()
        n = len(self)
        if n == 0:
            raise PredictionError(f"{self.source}: holds no predictions (0 ids)")
        if all(getattr(self, name) is None for name in VALUE_ARRAYS):
            raise PredictionError(f"{self.source}: holds none of landmarks, angles_deg, rotation, dense")
        self._check_shapes(n)
        if self.pose_decoding is not None and self.pose_decoding not in POSE_DECODINGS:
            raise PredictionError(
                f"{self.source}: pose_decoding {self.pose_decoding!r} is unknown "
                f"(use one of {', '.join(POSE_DECODINGS)})"
            )
        _check_unique(self.ids, self.source)  # type: ignore[arg-type]
        for name in ("landmarks", "angles_deg", "dense", "rotation"):
            arr = getattr(self, name)
            if arr is not None:
                self._check_values(name, arr, n)
        object.__setattr__(self, "notes", tuple(notes))
        if not self.sha256:
            object.__setattr__(self, "sha256", _arrays_sha256(self))

    def _accept_3ddfa_layout(self, notes: list[str]) -> None:
        """Landmarks given as (N, 2|3, 68) (3DDFA's layout) are transposed to (N, 68, 2|3), with a note."""
        if self.landmarks is None:
            return
        shape = np.shape(self.landmarks)
        if len(shape) == 3 and shape[1] in (2, 3) and shape[2] == N_LANDMARKS:
            notes.append(f"landmarks given as (N, {shape[1]}, 68) (3DDFA layout): read as (N, 68, {shape[1]})")
            object.__setattr__(self, "landmarks", np.swapaxes(np.asarray(self.landmarks), 1, 2))

    def _resolve_ids(self) -> None:
        """Placeholder ids for a file without ids (release sorted order); then the ids as a checked (N,) str array."""
        if self.ids is None or self.implied_ids:
            if self.ids is None:
                n_rows = _first_length(self, self.source)
                object.__setattr__(self, "ids", np.array([f"{IMPLIED_PREFIX}{i}" for i in range(n_rows)]))
            object.__setattr__(self, "implied_ids", True)
        object.__setattr__(self, "ids", _as_ids(self.ids, self.source))

    def _check_shapes(self, n: int) -> None:
        """Every given array numeric, float64, of its contract shape with N = ``n`` rows."""
        for name, (ok, want) in _SHAPES.items():
            value = getattr(self, name)
            if value is None:
                continue
            arr = _as_float(name, value, self.source)
            if not ok(arr.shape) or arr.shape[0] != n:
                raise PredictionError(
                    f"{self.source}: {name} have shape {arr.shape}, expected {want} with N = {n} (the number of ids)"
                )
            object.__setattr__(self, name, arr)

    def _check_values(self, name: str, arr: np.ndarray, n: int) -> None:
        """Finite values, and none beyond ±:data:`MAX_MAGNITUDE` (a wrong unit or corrupt data)."""
        row = _first_nonfinite_row(arr)
        if row is not None:
            n_bad = int((~np.isfinite(arr.reshape(n, -1)).all(axis=1)).sum())
            raise PredictionError(
                f"{self.source}: {name} of {_row_name(self, row)} hold NaN or inf ({n_bad} of the {n} ids)"
            )
        huge = np.flatnonzero((np.abs(arr.reshape(n, -1)) > MAX_MAGNITUDE).any(axis=1))
        if huge.size:
            raise PredictionError(
                f"{self.source}: {name} of {_row_name(self, int(huge[0]))} hold values beyond ±{MAX_MAGNITUDE:g} "
                f"({huge.size} of the {n} ids): landmarks are image pixels and angles degrees, so these are "
                "unconverted or corrupt values (the errors would overflow to NaN)"
            )

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
