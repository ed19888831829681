"""The per-sample metadata of a built store as one flat table (``aflw-occ export-table``), for pandas & co.

One row per sample of each requested split (NOD: its selected rows), in split order then row order::

    id, split, source_id             the sample, its split, the AFLW2000-3D image it was made from
    pitch_deg, yaw_deg, roll_deg     the source's raw Pose_Para angles in degrees (unwrapped, as binned)
    covered_fraction                 share of the face region under the occluder (NOD: 1 − v; clean: 0)
    occluded_count                   how many of the 68 landmarks are flagged occluded (clean: 0)
    occluder_category, occluder_type, occluder_colour
                                     what covers the face (:meth:`Builder.describe_occluder`; empty: nothing drawn)
    <field>                          every extra per-sample field of the exported splits (NOD: visible_rate), NaN
                                     in the rows of splits without it
    seed                             the sample's seed (0 for clean rows)
    data_version, manifest_sha256    which data (the store's data version and manifest hash)

CSV is written by pandas (UTF-8); Parquet needs pyarrow (``pip install 'aflw-occ[parquet]'``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import AflwOccError

if TYPE_CHECKING:
    import pandas as pd

    from .store.reader import DataStore, Split

#: output formats by file suffix → the pandas writer's name
FORMATS = {".csv": "csv", ".parquet": "parquet"}
FIXED_COLUMNS = (
    "id", "split", "source_id", "pitch_deg", "yaw_deg", "roll_deg", "covered_fraction", "occluded_count",
    "occluder_category", "occluder_type", "occluder_colour",
)  # fmt: skip
TAIL_COLUMNS = ("seed", "data_version", "manifest_sha256")


class ExportError(AflwOccError):
    """The table cannot be written as asked (unknown format, a missing optional library)."""


def _split_frame(store: DataStore, sp: Split) -> dict[str, np.ndarray | list[str]]:
    """The columns of one split (fixed columns, its fields, its seeds)."""
    import json

    from .builders import get_builder

    f = store.file
    n = len(sp)
    angles = f["base/angles_deg"][()][sp.source_index] if n else np.zeros((0, 3))
    cols: dict[str, np.ndarray | list[str]] = {
        "id": [str(i) for i in sp.ids],
        "split": [sp.name] * n,
        "source_id": [str(i) for i in sp.source_ids],
        "pitch_deg": angles[:, 0],
        "yaw_deg": angles[:, 1],
        "roll_deg": angles[:, 2],
    }
    if sp.group == "base":
        cols["covered_fraction"] = np.zeros(n)
        cols["occluded_count"] = np.zeros(n, dtype=np.int64)
        cols.update({k: [""] * n for k in ("occluder_category", "occluder_type", "occluder_colour")})
        cols["seed"] = np.zeros(n, dtype=np.int64)
        return cols
    g = f[sp.group]
    builder = get_builder(sp.group.split("/")[0])
    params = g["params"].asstr()[()][sp.rows] if n else []
    described = [builder.describe_occluder(json.loads(p)) for p in params]
    cols["covered_fraction"] = np.asarray(sp.covered_fraction, dtype=np.float64)
    occluded = sp.occluded if sp.occluded is not None else np.zeros((n, 68), dtype=bool)
    cols["occluded_count"] = occluded.sum(axis=1).astype(np.int64)
    cols["occluder_category"] = [d.category for d in described]
    cols["occluder_type"] = [d.kind for d in described]
    cols["occluder_colour"] = [d.colour for d in described]
    for name in sorted(k[len("field_") :] for k in g if k.startswith("field_")):
        cols[name] = np.asarray(sp.field(name), dtype=np.float64).reshape(n, -1)[:, 0]
    cols["seed"] = g["seed"][()][sp.rows].astype(np.int64)
    return cols


def metadata_table(store: DataStore, splits: Sequence[str] | None = None) -> pd.DataFrame:
    """The metadata of ``splits`` (default: every split of the store, in its order) as one DataFrame (module
    docstring); an unknown split name is a :class:`~aflw_occ.errors.StoreError` naming the store's splits."""
    import pandas as pd

    names = list(splits) if splits else list(store.splits)
    frames = [pd.DataFrame(_split_frame(store, store.split(name))) for name in names]
    fields = sorted({c for fr in frames for c in fr.columns} - set(FIXED_COLUMNS) - set(TAIL_COLUMNS))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(FIXED_COLUMNS))
    for name in fields:
        table[name] = table[name].astype(np.float64)
    table["data_version"] = store.version
    table["manifest_sha256"] = store.manifest_sha256
    table = table.astype({"seed": np.int64, "occluded_count": np.int64})
    return table[[*FIXED_COLUMNS, *fields, *TAIL_COLUMNS]]


def output_format(path: Path) -> str:
    """``csv`` or ``parquet`` from the file name; :class:`ExportError` for anything else, or for Parquet without
    pyarrow."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(f"{path}: the table is written as .csv or .parquet (got {path.suffix or 'no suffix'!r})")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ExportError(f"{path}: writing Parquet needs pyarrow: pip install 'aflw-occ[parquet]' (or write a .csv)")
    return fmt


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as CSV or Parquet (by suffix), atomically."""
    from .atomic import atomic_path

    fmt = output_format(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            table.to_csv(tmp, index=False, encoding="utf-8")
        else:
            table.to_parquet(tmp, index=False, engine="pyarrow")
