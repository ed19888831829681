"""Writing prediction files: :func:`write_predictions` validates through
:class:`~aflw_occ.predictions.contract.Predictions`, then one writer per suffix (:data:`WRITERS`) writes atomically."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from ..atomic import atomic_path
from ..errors import PredictionError
from .contract import ANGLE_COLUMNS, FORMAT_VERSION, SUFFIX_HELP, SUFFIXES, Predictions, csv_header


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
    if suffix not in SUFFIXES:
        raise PredictionError(f"{out}: unknown prediction file type {suffix!r} ({SUFFIX_HELP})")
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
    if suffix == ".csv":
        _check_csv_writable(out, pred)
    if not out.parent.is_dir():
        raise PredictionError(f"{out}: folder {out.parent} does not exist")
    with atomic_path(out) as tmp:
        WRITERS[suffix](tmp, pred)
    return out


def _check_csv_writable(out: Path, pred: Predictions) -> None:
    """A CSV holds landmarks and angles only, and ids without separators, quotes or surrounding blanks."""
    if pred.dense is not None or pred.rotation is not None or pred.pose_decoding:
        raise PredictionError(f"{out}: CSV prediction files cannot hold dense points or rotations (use .npz or .h5)")
    if pred.landmarks is None and pred.angles_deg is None:
        raise PredictionError(f"{out}: nothing to write")
    bad = [i for i in pred.ids.tolist() if "," in i or '"' in i or "\n" in i or i != i.strip()]
    if bad:
        raise PredictionError(f"{out}: id {bad[0]!r} cannot be written to CSV (comma, quote, newline or blank)")


def _write_npz(tmp: Path, pred: Predictions) -> None:
    with tmp.open("wb") as fh:
        _savez(fh, pred)


def _savez(fh: IO[bytes], pred: Predictions) -> None:
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
    header = csv_header(dims, pred.angles_deg is not None) if dims else ["id", *ANGLE_COLUMNS]
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(header) + "\n")
        for sid, row in zip(pred.ids.tolist(), values, strict=True):
            fh.write(sid + "," + ",".join(repr(float(v)) for v in row) + "\n")


#: suffix → the writer of that file type (to a temporary path, renamed into place by the caller)
WRITERS: dict[str, Callable[[Path, Predictions], None]] = {
    ".npz": _write_npz,
    ".h5": _write_h5,
    ".hdf5": _write_h5,
    ".csv": _write_csv,
}
