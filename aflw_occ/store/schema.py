"""The per-sample row schema of the store, declared once.

Every per-sample value a build stores is a :class:`Column` of :data:`BASE` (the clean images, group ``/base``) or
:data:`SPLIT` (every occluded split, ``/<subset>/<variant>``). The worker encoding checks its records against it
(:func:`conform`), the writer creates one dataset per column, the manifest renders each line from it, the reader
reads rows through it and ``verify`` re-renders every stored row with it: a value that is not declared here cannot be
stored, and a declared one cannot escape verification.

Each column says how it enters the manifest line (:class:`Render`) and whether it is part of the line's
``row_sha256`` (the sha256 of the row's ground-truth arrays). Values that are not rendered are payload: the pixels
(JPEG, patch PNG, patch box) and masks, which the manifest pins through the digests of :data:`DIGESTS`, recomputed
from the decoded payload by ``verify``. Float diagnostics live under the ``"diagnostics"`` key of a row's
parameters: stored and shown, never compared.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

BASE = "base"
SPLIT = "split"
#: the key of a row's parameters that holds float diagnostics (stored, shown, never part of the identity)
DIAGNOSTICS = "diagnostics"
#: the manifest key of the row's ground-truth hash
ROW_SHA256 = "row_sha256"


class Encoding(Enum):
    STR = "utf-8 string"
    BYTES = "variable-length uint8"
    ARRAY = "fixed-shape array"


class Render(Enum):
    """How a column appears in the manifest line."""

    VALUE = "value"  # its JSON value, compared exactly
    FLAGS = "flags"  # a string of 0/1, compared exactly
    JSON = "json"  # a JSON text, parsed; compared exactly except its "diagnostics" key
    PAYLOAD = "payload"  # not rendered: pinned through a digest of its decoded content
    ROW = "row_sha256"  # not rendered: pinned through the line's row_sha256 only
    LINK = "link"  # not rendered: checked against another column (row index into /base)


@dataclass(frozen=True)
class Column:
    """One per-sample value: dataset ``name`` (``{}`` = one dataset per extra name, e.g. ``field_{}``), record and
    manifest ``key``, encoding, dtype and per-row ``shape`` (None = any), how it is rendered, whether it enters
    ``row_sha256``, and whether ``verify`` recomputes it from the payload."""

    name: str
    key: str
    encoding: Encoding
    render: Render
    dtype: str | None = None
    shape: tuple[int, ...] | None = ()
    row_hash: bool = False
    recomputed: bool = False
    compress: bool = False
    doc: str = ""

    @property
    def family(self) -> bool:
        return "{}" in self.name

    def dataset(self, extra: str = "") -> str:
        return self.name.format(extra) if self.family else self.name

    def extra_of(self, dataset: str) -> str | None:
        """The extra name of a family dataset (``field_visible_rate`` → ``visible_rate``), else None."""
        head, _, tail = self.name.partition("{}")
        ok = self.family and dataset.startswith(head) and dataset.endswith(tail) and len(dataset) > len(head + tail)
        return dataset[len(head) : len(dataset) - len(tail)] if ok else None


def _c(
    name: str, key: str, enc: Encoding, render: Render, dtype: str | None = None, shape: Any = (), **kw: Any
) -> Column:
    return Column(name, key, enc, render, dtype, shape, **kw)


S, B, A = Encoding.STR, Encoding.BYTES, Encoding.ARRAY
V, F, J, P, R, L = Render.VALUE, Render.FLAGS, Render.JSON, Render.PAYLOAD, Render.ROW, Render.LINK

BASE_COLUMNS: tuple[Column, ...] = (
    _c("ids", "id", S, V, doc="AFLW2000-3D id"),
    _c("jpeg", "jpeg", B, P, doc="the original JPEG bytes, untouched"),
    _c("jpeg_sha256", "jpeg_sha256", S, V, recomputed=True, doc="sha256 of the JPEG bytes"),
    _c("mat_sha256", "mat_sha256", S, V, doc="sha256 of the source .mat"),
    _c("pixels_sha256", "pixels_sha256", S, V, recomputed=True, doc="sha256 of the decoded pixels"),
    _c("shape", "shape", A, R, "int32", (3,), row_hash=True, doc="decoded image shape (H, W, 3)"),
    _c("landmarks", "landmarks", A, R, "float64", (68, 3), row_hash=True, compress=True, doc="pt3d_68ᵀ, pixels"),
    _c("reannotated", "reannotated", A, R, "float64", (68, 2), row_hash=True, compress=True, doc="3DDFA (NaN: none)"),
    _c("pose_para", "pose_para", A, R, "float64", (7,), row_hash=True, compress=True, doc="raw Pose_Para"),
    _c("angles_deg", "angles_deg", A, R, "float64", (3,), row_hash=True, doc="raw pitch, yaw, roll in degrees"),
    _c("roi_box", "roi_box", A, R, "float64", (4,), row_hash=True, compress=True, doc="3DDFA box (NaN: none)"),
)

SPLIT_COLUMNS: tuple[Column, ...] = (
    _c("ids", "id", S, V, doc='"<source id>.<split>"'),
    _c("source_ids", "source_id", S, V, doc="the AFLW2000-3D id it was made from"),
    _c("source_index", "source_index", A, L, "int32", doc="row of the source in /base (checked against source_ids)"),
    _c("seed", "seed", A, V, "uint32", doc="the sample's 32-bit seed"),
    _c("params", "params", S, J, doc="every drawn parameter (JSON); float diagnostics under 'diagnostics'"),
    _c("patch_box", "patch_box", A, P, "int32", (4,), doc="[x0, y0, x1, y1) of the mask's bounding box"),
    _c("patch_png", "patch_png", B, P, doc="PNG of the output pixels inside patch_box"),
    _c("mask_png", "mask_png", B, P, doc="PNG (1 bit) of the occluder mask inside patch_box"),
    _c("occluded", "occluded", A, F, "bool", (68,), row_hash=True, compress=True, doc="per-landmark occlusion flags"),
    _c(
        "covered_fraction",
        "covered_fraction",
        A,
        V,
        "float64",
        row_hash=True,
        doc="share of the face region under the mask (exact ratio)",
    ),
    _c("selected", "selected", A, V, "bool", row_hash=True, doc="row belongs to the split (NOD stores every image)"),
    _c("pixels_sha256", "pixels_sha256", S, V, recomputed=True, doc="sha256 of the decoded output pixels"),
    _c("field_{}", "fields", A, V, None, None, row_hash=True, doc="extra per-sample values (e.g. visible_rate)"),
    _c("mask_{}_png", "mask_pngs", B, P, doc="extra full-image masks (PNG, 1 bit; e.g. NOD's P and F)"),
)

COLUMNS: dict[str, tuple[Column, ...]] = {BASE: BASE_COLUMNS, SPLIT: SPLIT_COLUMNS}


@dataclass(frozen=True)
class Digest:
    """A manifest value that is not stored: computed from the decoded payload by the worker and by ``verify``."""

    key: str
    source: tuple[str, ...]
    doc: str


DIGESTS: dict[str, tuple[Digest, ...]] = {
    BASE: (),
    SPLIT: (
        Digest("mask_sha256", ("patch_box", "mask_png"), "mask_sha256 of the full occluder mask"),
        Digest("masks", ("mask_{}_png",), "{name: mask_sha256} of the extra masks"),
    ),
}


#: the root attributes of a store (JSON texts unless said): format, data_version, generator_version, seed (int),
#: options, builders, environment (informational), source_sha256, manifest_sha256 (sha256 of the embedded
#: manifest.json), provenance, splits (the public split names, JSON list)
ROOT_ATTRS = (
    "format", "data_version", "generator_version", "seed", "options", "builders", "environment", "source_sha256",
    "manifest_sha256", "provenance", "splits",
)  # fmt: skip
#: the root attribute of a store built with ``--lenient`` that skipped source images (JSON list of :class:`Skip`
#: records, in id order); a store without it skipped nothing. The manifest header holds the same list
#: (``source.skipped``), so the skips are part of the manifest hash.
SKIPPED_ATTR = "skipped"
OPTIONAL_ROOT_ATTRS = (SKIPPED_ATTR,)


@dataclass(frozen=True)
class Skip:
    """A source image a ``--lenient`` build left out of every split: its ``id``, the ``file`` at fault (name only,
    no folder: the record does not depend on where the source lives) and the ``reason``."""

    id: str
    file: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "file": self.file, "reason": self.reason}

    @classmethod
    def from_json(cls, value: Any) -> Skip:
        if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in ("id", "file", "reason")):
            raise ValueError(f"not a skip record: {value!r}")
        return cls(value["id"], value["file"], value["reason"])

    def __str__(self) -> str:
        return f"{self.id} ({self.file}: {self.reason})"


def skips_json(skips: list[Skip]) -> list[dict[str, str]]:
    """The skip list as stored (attribute and manifest header): records sorted by id, then file."""
    return [s.to_json() for s in sorted(set(skips), key=lambda s: (s.id, s.file))]


def kind_of(group: str) -> str:
    return BASE if group == BASE else SPLIT


def column(kind: str, key: str) -> Column:
    return next(c for c in COLUMNS[kind] if c.key == key)


def datasets(kind: str, extras: dict[str, list[str]]) -> list[tuple[Column, str, str]]:
    """(column, dataset name, extra name) of every dataset a group of ``kind`` holds; ``extras`` maps a family
    column's key to its extra names."""
    out = []
    for col in COLUMNS[kind]:
        for extra in sorted(extras.get(col.key, ())) if col.family else [""]:
            out.append((col, col.dataset(extra), extra))
    return out


def family_extras(kind: str, names: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split a group's dataset names into the family extras per column key and the names the schema does not
    declare."""
    fixed = {c.name for c in COLUMNS[kind] if not c.family}
    extras: dict[str, list[str]] = {c.key: [] for c in COLUMNS[kind] if c.family}
    unknown = []
    for name in names:
        if name in fixed:
            continue
        hit = next(((c.key, e) for c in COLUMNS[kind] if (e := c.extra_of(name)) is not None), None)
        if hit is None:
            unknown.append(name)
        else:
            extras[hit[0]].append(hit[1])
    return extras, unknown


class SchemaError(ValueError):
    """A record does not match the declared row schema."""


#: (min, max) of the integer dtypes a column may declare
_INT_RANGES = {
    name: (int(np.iinfo(name).min), int(np.iinfo(name).max))
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
}


def _conform_value(col: Column, value: Any, what: str) -> Any:
    if col.encoding is Encoding.STR:
        if not isinstance(value, str):
            raise SchemaError(f"{what}: {col.key} must be a str, got {type(value).__name__}")
        return value
    if col.encoding is Encoding.BYTES:
        return np.ascontiguousarray(np.frombuffer(value, np.uint8) if isinstance(value, bytes) else value, np.uint8)
    if type(value) is int and col.shape in (None, ()) and col.dtype in _INT_RANGES:
        lo, hi = _INT_RANGES[col.dtype]
        if lo <= value <= hi:  # a Python int the column holds: the 0-d array the checks below would accept and make
            return np.array(value, dtype=col.dtype)
    arr = np.asarray(value)
    if col.dtype is not None:
        target = np.dtype(col.dtype)
        if arr.dtype != target and arr.size and not (np.can_cast(arr.dtype, target, "safe") or _int_fits(arr, target)):
            raise SchemaError(f"{what}: {col.key} has dtype {arr.dtype}, declared {col.dtype}")
        arr = arr.astype(target)
    if col.shape is not None and arr.shape != col.shape:
        raise SchemaError(f"{what}: {col.key} has shape {arr.shape}, declared {col.shape}")
    return arr


def _int_fits(arr: np.ndarray, target: np.dtype) -> bool:
    """An integer array whose values the integer ``target`` dtype holds exactly."""
    return arr.dtype.kind in "iu" and target.kind in "iu" and np.array_equal(arr.astype(target), arr)


def conform(kind: str, rec: dict[str, Any], what: str) -> dict[str, Any]:
    """``rec`` with every value cast to its column's declared encoding, dtype and shape; raises
    :class:`SchemaError` for a missing, undeclared or ill-shaped value."""
    cols = {c.key: c for c in COLUMNS[kind]}
    unknown = sorted(set(rec) - set(cols))
    missing = sorted(set(cols) - set(rec))
    if unknown or missing:
        raise SchemaError(f"{what}: record keys differ from the {kind} row schema (undeclared {unknown}, missing "
                          f"{missing})")  # fmt: skip
    out: dict[str, Any] = {}
    for key, col in cols.items():
        if col.family:
            out[key] = {k: _conform_value(col, v, f"{what} {key}[{k}]") for k, v in sorted(rec[key].items())}
        else:
            out[key] = _conform_value(col, rec[key], what)
    return out


def mask_sha256(mask: np.ndarray) -> str:
    """sha256 of a (H, W) bool mask: ``"HxW:"`` header, then its bits packed row-major (numpy ``packbits``)."""
    m = np.asarray(mask, dtype=bool)
    h = hashlib.sha256(f"{m.shape[0]}x{m.shape[1]}:".encode())
    h.update(np.packbits(m, axis=None).tobytes())
    return h.hexdigest()


def row_sha256(kind: str, rec: dict[str, Any]) -> str:
    """sha256 of a row's ground-truth arrays (the ``row_hash`` columns, in schema order; a family's members by
    name): per array ``"<key>[/<extra>]:<dtype>:<shape>:"`` then its C-ordered bytes."""
    h = hashlib.sha256()
    for col in COLUMNS[kind]:
        if not col.row_hash:
            continue
        items = sorted(rec[col.key].items()) if col.family else [("", rec[col.key])]
        for extra, value in items:
            arr = np.asarray(value)
            label = f"{col.key}/{extra}" if extra else col.key
            h.update(f"{label}:{arr.dtype.str}:{'x'.join(map(str, arr.shape))}:".encode())
            h.update(arr.tobytes())
    return h.hexdigest()


def markdown_table() -> str:
    """The row schema as the Markdown table of ``docs/store.md`` (a test keeps the two equal)."""
    rows = [
        "| group | dataset | dtype, per-row shape | manifest line | row_sha256 | what |",
        "|---|---|---|---|---|---|",
    ]
    for kind, cols in COLUMNS.items():
        where = "/base" if kind == BASE else "/<subset>/<variant>"
        for c in cols:
            shape = "" if c.shape is None else " scalar" if c.shape == () else f" {c.shape}"
            dtype = (c.dtype or "any") + shape if c.encoding is Encoding.ARRAY else c.encoding.value
            shown = f"`{c.key}`" if c.render in (Render.VALUE, Render.FLAGS, Render.JSON) else c.render.value
            hashed = "yes" if c.row_hash else ""
            rows.append(f"| {where} | `{c.name.format('<name>')}` | {dtype} | {shown} | {hashed} | {c.doc} |")
        for d in DIGESTS[kind]:
            rows.append(f"| {where} | (not stored) | sha256 | `{d.key}` | | {d.doc} |")
    return "\n".join(rows) + "\n"
