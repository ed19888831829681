"""Reading prediction files: one reader per suffix (:data:`READERS`), each returning the file's named arrays, then
:func:`read_predictions` validates them once into :class:`~aflw_occ.predictions.contract.Predictions`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import PredictionError
from ..hashing import sha256_file
from .contract import (
    ANGLE_COLUMNS,
    ARRAYS,
    FORMAT_VERSION,
    N_LANDMARKS,
    SUFFIX_HELP,
    SUFFIXES,
    Predictions,
    _as_ids,
    csv_header,
)


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


def _csv_layout(header: list[str], src: str) -> tuple[int, bool]:
    """(landmark coordinates 0|2|3, angle columns present) of a CSV header; 0 coordinates: ``id,pitch,yaw,roll``."""
    layout = None
    for dims in (2, 3):
        for with_angles in (False, True):
            if header == csv_header(dims, with_angles):
                layout = (dims, with_angles)
    if layout is not None:
        return layout
    if header[:1] == ["id"] and header[1:] == list(ANGLE_COLUMNS):
        return 0, True
    shown = ",".join(header[:4]) + (",..." if len(header) > 4 else "")
    raise PredictionError(f"{src}: CSV header {shown} is not id,x0,y0[,z0],...,x67,y67[,z67][,pitch,yaw,roll]")


def _csv_values(body: list[list[str]], width: int, src: str) -> np.ndarray:
    """(rows, width − 1) float64 values of the CSV rows after the id column; the first bad row is named."""
    for r in body:
        if len(r) != width:
            raise PredictionError(f"{src}: row of id {r[0]} has {len(r)} columns, expected {width}")
    try:
        return np.array([r[1:] for r in body], dtype=np.float64).reshape(len(body), width - 1)
    except ValueError:
        for r in body:
            try:
                np.array(r[1:], dtype=np.float64)
            except ValueError:
                raise PredictionError(f"{src}: row of id {r[0]} holds a non-numeric value") from None
        raise PredictionError(f"{src}: non-numeric values") from None


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
    dims, with_angles = _csv_layout(header, src)
    body = [r for r in rows[1:] if r]
    ids = [r[0].strip() for r in body]
    values = _csv_values(body, len(header), src)
    out: dict[str, object] = {"ids": np.array(ids, dtype=str)}
    n_lm = N_LANDMARKS * dims
    if dims:
        out["landmarks"] = values[:, :n_lm].reshape(len(body), N_LANDMARKS, dims)
    if with_angles:
        out["angles_deg"] = values[:, n_lm : n_lm + 3]
    return out


#: suffix → the reader of that file type (its named arrays)
READERS: dict[str, Callable[[Path], dict[str, object]]] = {
    ".npz": _read_npz,
    ".npy": _read_npy,
    ".h5": _read_h5,
    ".hdf5": _read_h5,
    ".csv": _read_csv,
}


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
    if suffix not in SUFFIXES:
        raise PredictionError(f"{src}: unknown prediction file type {suffix!r} ({SUFFIX_HELP})")
    arrays = READERS[suffix](p)
    unknown = sorted(set(arrays) - set(ARRAYS))
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
