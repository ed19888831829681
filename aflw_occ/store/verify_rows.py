"""``verify``'s row check (run in worker processes): every stored row read through the row schema, its payload decoded
(pixels, masks), its recomputed columns and digests checked, and re-rendered into its manifest line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..hashing import pixel_hash, sha256_bytes
from . import codec, schema
from .bulk import read_many
from .manifest import render_line
from .reader import DataStore


# --------------------------------------------------------------------------------------------------------------
# rows (run in worker processes)
@dataclass
class RowResult:
    row: int
    id: str
    line: dict[str, Any] | None
    problems: list[str]


def _recompute_base(
    store: DataStore, rec: dict[str, Any], jpegs: dict[int, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recomputed columns and the digests of a base row, from its JPEG bytes."""
    jpeg = np.asarray(rec["jpeg"], dtype=np.uint8)
    return {"jpeg_sha256": sha256_bytes(jpeg), "pixels_sha256": pixel_hash(codec.decode_jpeg(jpeg))}, {}


def _recompute_split(
    store: DataStore, rec: dict[str, Any], jpegs: dict[int, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recomputed columns and the digests of a split row, from its source pixels, patch and masks
    (``jpegs``: base JPEG bytes read ahead for the chunk, by base row; else the row's base image is read alone)."""
    src = int(rec["source_index"])
    if not 0 <= src < len(store.base_ids) or store.base_ids[src] != rec["source_id"]:
        raise ValueError(f"source_index {src} is not the base row of {rec['source_id']}")
    base = codec.decode_jpeg(jpegs[src]) if jpegs and src in jpegs else store.base_image(src)
    image = codec.apply_patch(base, rec["patch_box"], rec["patch_png"])
    mask = codec.patch_mask(base.shape[:2], rec["patch_box"], rec["mask_png"])
    extra = {k: schema.mask_sha256(codec.decode_png(v, color=False)) for k, v in sorted(rec["mask_pngs"].items())}
    return {"pixels_sha256": pixel_hash(image)}, {"mask_sha256": schema.mask_sha256(mask), "masks": extra}


RECOMPUTE = {schema.BASE: _recompute_base, schema.SPLIT: _recompute_split}


def _check_row(store: DataStore, kind: str, row: int, rec: dict[str, Any], jpegs: dict[int, Any]) -> RowResult:
    sid = str(rec["id"])
    try:
        columns, digests = RECOMPUTE[kind](store, rec, jpegs)
        line = render_line(kind, {**rec, **columns}, digests)
    except Exception as exc:  # corrupt payload (undecodable PNG/JPEG, a box outside the image, …): a named mismatch
        return RowResult(row, sid, None, [f"cannot be decoded or checked ({brief(exc)})"])
    problems = [f"{k} differs from the value recorded in the store" for k, v in columns.items() if rec[k] != v]
    return RowResult(row, sid, line, problems)


def brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def check_chunk(path: Path, group: str, lo: int, hi: int) -> list[RowResult]:
    """Rows ``lo:hi`` of one group, each re-rendered into its manifest line (runs in a worker)."""
    store = DataStore(path)
    kind = schema.kind_of(group)
    try:
        records = store.read_rows(group, lo, hi)
    except Exception as exc:  # an unreadable chunk of a dataset
        return [RowResult(lo, f"rows {lo}:{hi}", None, [f"cannot be read ({brief(exc)})"])]
    jpegs = _base_jpegs(store, records) if kind == schema.SPLIT else {}
    return [_check_row(store, kind, lo + i, rec, jpegs) for i, rec in enumerate(records)]


def _base_jpegs(store: DataStore, records: list[dict[str, Any]]) -> dict[int, Any]:
    """The base JPEG bytes of a chunk's split rows, read in bulk (:func:`~aflw_occ.store.bulk.read_many`: one h5py
    read for a dense range instead of a lookup and a read per row). Empty when the read fails: each row then reads
    its own base image and reports its own problem."""
    n = len(store.base_ids)
    rows = sorted({int(r["source_index"]) for r in records if 0 <= int(r["source_index"]) < n})
    try:
        return read_many(store.file["base/jpeg"], rows)
    except Exception:
        return {}
