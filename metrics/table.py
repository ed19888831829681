"""The per-sample result table: one row per (split, image), every per-image number a breakdown needs.

pandas is imported only by :func:`per_sample_table` (it costs ~0.5 s to import); :func:`write_table_csv`
writes the same table as CSV without it, for the command line.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING

import numpy as np

from .bins import BIN_LABELS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["table_columns", "per_sample_table", "write_table_csv"]


def table_columns(
    ids: np.ndarray,
    split: str,
    yaw_deg: np.ndarray,
    bins: np.ndarray,
    columns: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """The ordered columns of the per-sample table.

    Args:
        ids: (N,) sample ids.
        split: split name, repeated on every row.
        yaw_deg: (N,) raw yaw in degrees.
        bins: (N,) yaw-bin index (0, 1, 2).
        columns: further (N,) columns in the order they should appear (e.g. ``nme``, ``nme_occluded``, ...).

    Returns:
        ``{"id", "split", "yaw_deg", "yaw_bin", "bin_label", *columns}`` → (N,) arrays.
    """
    n = len(ids)
    b = np.asarray(bins, dtype=np.int64)
    data: dict[str, np.ndarray] = {
        "id": np.asarray(ids).astype(str),
        "split": np.full(n, split, dtype=object),
        "yaw_deg": np.asarray(yaw_deg, dtype=np.float64),
        "yaw_bin": b,
        "bin_label": np.asarray(BIN_LABELS, dtype=object)[b],
    }
    for name, col in columns.items():
        arr = np.asarray(col)
        if arr.shape != (n,):
            raise ValueError(f"column {name} has shape {arr.shape}, expected ({n},)")
        data[name] = arr
    return data


def per_sample_table(
    ids: np.ndarray,
    split: str,
    yaw_deg: np.ndarray,
    bins: np.ndarray,
    columns: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """The per-sample table as a DataFrame (columns as :func:`table_columns`)."""
    import pandas as pd

    return pd.DataFrame(table_columns(ids, split, yaw_deg, bins, columns))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_table_csv(fh: IO[str], columns: Mapping[str, np.ndarray]) -> None:
    """Write columns as CSV: header, then one row per sample; floats round-trip exactly, NaN is empty."""
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(list(columns))
    lists = [np.asarray(c).tolist() for c in columns.values()]
    writer.writerows([_cell(v) for v in row] for row in zip(*lists, strict=True))
