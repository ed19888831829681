"""Write a build's journal blocks, in block order, into one HDF5 file (temporary file, renamed at the end).

Layout (``docs/store.md``)::

    /                       attrs: format, data_version, generator_version, seed, options, builders, environment,
                                   source_sha256, manifest_sha256, provenance, splits (JSON)
    /base                   the clean images: one dataset per column of ``schema.BASE_COLUMNS``
    /<subset>/<variant>     one group per split: one dataset per column of ``schema.SPLIT_COLUMNS``
                            (``field_<name>``, ``mask_<name>_png`` per extra name)
    /manifest               attrs: manifest.json and <split>.jsonl texts
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from .. import environment
from ..atomic import atomic_path
from ..builders import kernels
from ..builders.registry import group_path
from ..errors import SourceError, StoreError
from ..hashing import sha256_bytes
from ..version import __version__
from . import manifest as mf
from . import schema
from .versions import FORMAT, store_filename

if TYPE_CHECKING:
    from ..build_plan import BuildPlan

VLEN_U8 = h5py.vlen_dtype(np.dtype("uint8"))
STR = h5py.string_dtype("utf-8")
#: HDF5 1.8 file format: readable by every HDF5 since 2008, and attributes above 64 KB (the embedded manifest)
LIBVER = ("v108", "v108")
#: dataset chunks: whole rows, about this many bytes, at most CHUNK_ROWS rows
CHUNK_BYTES = 1 << 18
CHUNK_ROWS = 4096
#: the writer appends to the datasets once this many source rows are waiting (fewer, larger HDF5 writes)
FLUSH_ROWS = 400
#: the build's notes (images left out by --lenient, builder warnings), one per line, in the manifest folder:
#: information only, outside the manifest hash (like environment.json)
NOTES_FILE = "build-notes.txt"


@dataclass
class Finished:
    """A written store: its path, the rows of each split (NOD: the selected ones), the source images left out
    (``--lenient``), the builders' warnings (``split/id: message``) and the file that lists both (None if none)."""

    path: Path
    counts: dict[str, int]
    skipped: list[schema.Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes_file: Path | None = None


def _rows(values: list[Any], dtype: Any = None) -> np.ndarray:
    """Per-row values as one array along axis 0; ``STR`` and ``VLEN_U8`` rows stay one object each (equal-length byte
    vectors must not broadcast into a 2-D array)."""
    if dtype is VLEN_U8 or dtype is STR:
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            out[i] = v
        return out
    return np.stack(values) if dtype is None else np.asarray(values, dtype=dtype)


def _append(
    g: h5py.Group, name: str, values: list[Any] | np.ndarray, dtype: Any = None, compress: bool = False
) -> None:
    """Append rows (a list of per-row values, or an array) to dataset ``name`` of ``g``, created resizable on first
    use, in chunks of whole rows of about :data:`CHUNK_BYTES` (variable-length entries count as their 16-byte heap
    references)."""
    data = values if isinstance(values, np.ndarray) else _rows(values, dtype)
    if name not in g:
        tail = data.shape[1:]
        row_bytes = (16 if data.dtype == object else data.dtype.itemsize) * int(np.prod(tail, dtype=np.int64))
        chunk = (max(1, min(CHUNK_ROWS, CHUNK_BYTES // row_bytes)), *tail)
        g.create_dataset(
            name, shape=(0, *tail), maxshape=(None, *tail), dtype=data.dtype if dtype is None else dtype, chunks=chunk,
            compression="gzip" if compress else None,
        )  # fmt: skip
    ds = g[name]
    n = ds.shape[0]
    ds.resize(n + len(data), axis=0)
    if data.dtype == object:  # slice assignment would try to broadcast equal-length byte vectors into 2-D
        ds.write_direct(data, dest_sel=np.s_[n:])
    else:
        ds[n:] = data


def _h5_dtype(col: schema.Column) -> Any:
    if col.encoding is schema.Encoding.STR:
        return STR
    if col.encoding is schema.Encoding.BYTES:
        return VLEN_U8
    return None if col.dtype is None else np.dtype(col.dtype)


def _extras(kind: str, rows: list[dict[str, Any]], what: str) -> dict[str, list[str]]:
    """The extra names of each family column, the same in every row."""
    extras = {c.key: sorted(rows[0][c.key]) for c in schema.COLUMNS[kind] if c.family}
    for r in rows:
        for key, names in extras.items():
            if sorted(r[key]) != names:
                raise StoreError(f"{what}/{r['id']}: {key} {sorted(r[key])} differ from the split's {names}")
    return extras


def _append_rows(g: h5py.Group, kind: str, rows: list[dict[str, Any]]) -> None:
    """Append schema rows (:func:`schema.conform` records) to a group: one dataset per column of the schema."""
    extras = _extras(kind, rows, g.name)
    if "ids" in g and schema.family_extras(kind, list(g))[0] != extras:
        raise StoreError(f"{g.name}: extra fields or masks differ from those of the rows already written")
    for col, name, extra in schema.datasets(kind, extras):
        values = [r[col.key][extra] if col.family else r[col.key] for r in rows]
        _append(g, name, values, _h5_dtype(col), compress=col.compress)


class StoreWriter:
    """Writes a store block by block, in block order, while a build runs; :meth:`finish` adds the manifest.

    The HDF5 file is written under a temporary name (:func:`aflw_occ.atomic.atomic_path`) and gets its final name
    only in :meth:`finish`; leaving the ``with`` block before that (an error, an interrupted build) deletes it.
    Rows are appended to resizable (chunked) datasets every :data:`FLUSH_ROWS` source images, so memory holds a few
    blocks at a time, not the whole store.
    """

    def __init__(self, plan: BuildPlan, identity: dict[str, Any]) -> None:
        self.plan = plan
        self.identity = identity
        self.identity_sha = sha256_bytes(json.dumps(identity, sort_keys=True).encode())
        self.final = plan.out / store_filename(plan.version)
        self.blocks = 0
        self._file: h5py.File | None = None
        self._stack = contextlib.ExitStack()
        self._base_ids: dict[str, int] = {}
        self._source_lines: list[str] = []
        self._lines: dict[str, list[str]] = {"base": []}
        self._selected: dict[str, int] = {}
        self._notes: list[str] = []
        self._skipped: list[schema.Skip] = []
        self._provenance: dict[str, str] | None = None
        self._pending: list[dict[str, Any]] = []

    def __enter__(self) -> StoreWriter:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(self.final))
            self._file = stack.enter_context(h5py.File(tmp, "w", libver=LIBVER))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._file is None:  # finished (or never entered)
            return
        self._file = None
        if exc_type is None:  # left without finish(): not a store; the temporary file is deleted
            err = StoreError(f"{self.final}: store left unfinished after {self.blocks} block(s)")
            self._stack.__exit__(StoreError, err, None)
            raise err
        self._stack.__exit__(exc_type, exc, tb)

    def add(self, payload: dict[str, Any]) -> None:
        """Append one journal block (:func:`load_block`); blocks must come in order 0, 1, 2, …"""
        f = self._file
        assert f is not None, "StoreWriter.add outside its with block"
        if payload["identity_sha256"] != self.identity_sha:
            raise StoreError(f"journal block {payload['block']}: belongs to another build")
        if payload["block"] != self.blocks:
            raise StoreError(f"journal block {payload['block']}: expected block {self.blocks} of this build")
        prov = payload["provenance"]
        if self._provenance is None:
            self._provenance = prov
        elif prov != self._provenance:
            raise StoreError(
                f"journal block {payload['block']}: made with other builder resources than block 0 "
                f"(provenance differs: {sorted(k for k in prov if prov[k] != self._provenance.get(k))})"
            )
        self._skipped.extend(schema.Skip.from_json(k) for k in payload["skipped"])
        for e in payload["base"]:
            r = e["row"]
            self._base_ids[r["id"]] = len(self._base_ids)
            self._source_lines.append(f"{r['id']} {r['jpeg_sha256']} {r['mat_sha256']}\n")
            self._lines["base"].append(e["line"])
        for name, entries in payload["splits"].items():
            if name not in self._selected:
                self._selected[name] = 0
                self._lines[name] = []
                f.create_group(group_path(name, self.plan.subsets)).attrs["split"] = name
            for e in entries:
                self._link(name, e["row"])
            self._lines[name].extend(e["line"] for e in entries)
            self._selected[name] += sum(bool(e["row"]["selected"]) for e in entries)
        self._notes.extend(payload["warnings"])
        self._pending.append(payload)
        self.blocks += 1
        if sum(len(p["base"]) for p in self._pending) >= FLUSH_ROWS:
            self._flush()

    def _link(self, split: str, row: dict[str, Any]) -> None:
        """Set a split row's ``source_index`` to the row of its source in ``/base`` (the worker numbers the images
        of the source, and a ``--lenient`` build may leave some of them out of ``/base``)."""
        base_row = self._base_ids.get(row["source_id"])
        if base_row is None:
            raise StoreError(f"{split}/{row['id']}: its source {row['source_id']} is not in /base")
        row["source_index"] = np.int32(base_row)

    def _flush(self) -> None:
        """Append the waiting blocks' rows to the datasets."""
        f, pending = self._file, self._pending
        assert f is not None
        if not pending:
            return
        base_rows = [e["row"] for p in pending for e in p["base"]]
        if base_rows:  # (a --lenient block may have left out every image)
            _append_rows(f.require_group("base"), schema.BASE, base_rows)
        for name in dict.fromkeys(name for p in pending for name in p["splits"]):
            rows = [e["row"] for p in pending for e in p["splits"].get(name, [])]
            _append_rows(f[group_path(name, self.plan.subsets)], schema.SPLIT, rows)
        self._pending = []

    def finish(self) -> Finished:
        """Write the attributes and the manifest, give the store its final name, write the manifest folder."""
        f, plan = self._file, self.plan
        assert f is not None, "StoreWriter.finish outside its with block"
        skipped = schema.skips_json([*plan.skipped, *self._skipped])
        if not self._base_ids:
            raise NothingLeft(f"{plan.source}: no usable samples: all {len(skipped)} requested image(s) were left out "
                              f"(first: {schema.Skip.from_json(skipped[0]) if skipped else '-'})")  # fmt: skip
        self._flush()
        region_kind = getattr(plan.region_fn, "kind", "custom") if plan.region_fn is not None else "landmark-hull"
        provenance: dict[str, str] = {"face_region": region_kind, **(self._provenance or {})}
        header = {
            "data_version": plan.version,
            "generator_version": _generator_version(),
            "seed": plan.options.seed,
            "options": plan.options.identity(),
            "builders": self.identity["builders"],
            "source": {
                "count": len(self._base_ids),
                "sha256": sha256_bytes("".join(self._source_lines).encode()),
                **plan.source_record,
                **({"skipped": skipped} if skipped else {}),  # absent when nothing was left out
            },
            "provenance": provenance,
        }
        header_text, texts = mf.render(header, self._lines)
        f.attrs["format"] = FORMAT
        f.attrs["data_version"] = plan.version
        f.attrs["generator_version"] = header["generator_version"]
        f.attrs["seed"] = plan.options.seed
        f.attrs["options"] = json.dumps(plan.options.identity(), sort_keys=True)
        f.attrs["builders"] = json.dumps(self.identity["builders"], sort_keys=True)
        env = {**environment.collect(), "pixel_kernels": kernels.describe()}
        f.attrs["environment"] = json.dumps(env, sort_keys=True)
        f.attrs["source_sha256"] = header["source"]["sha256"]
        f.attrs["manifest_sha256"] = sha256_bytes(header_text.encode())
        f.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
        f.attrs["splits"] = json.dumps(["clean", *self._selected], sort_keys=False)
        if skipped:
            f.attrs[schema.SKIPPED_ATTR] = json.dumps(skipped, sort_keys=True)
        declared = set(schema.ROOT_ATTRS)
        assert declared <= set(f.attrs) <= declared | set(schema.OPTIONAL_ROOT_ATTRS), "root attributes vs schema"
        # attributes, not datasets: every dataset of the file then has one row per source image, which generic
        # readers (Hugging Face datasets' "hdf5" loader) need
        m = f.create_group("manifest")
        m.attrs["manifest.json"] = header_text
        for name, text in texts.items():
            m.attrs[f"{name}.jsonl"] = text
        self._file = None
        self._stack.close()  # closes the file and renames it
        folder = plan.out / f"manifest-{plan.version}"
        skips = [schema.Skip.from_json(k) for k in skipped]
        notes = notes_text(plan.version, skips, self._notes)
        mf.write_folder(folder, header_text, texts, env, {NOTES_FILE: notes} if notes else None)
        counts = {"clean": len(self._base_ids), **self._selected}
        return Finished(self.final, counts, skips, self._notes, folder / NOTES_FILE if notes else None)


class NothingLeft(SourceError):
    """Every source image of a ``--lenient`` build was left out: there is no store to write."""


def notes_text(version: str, skipped: list[schema.Skip], warnings: list[str]) -> str:
    """The build-notes file: every image left out and every builder warning, one per line ('' when none)."""
    if not skipped and not warnings:
        return ""
    lines = [f"# aflw-occ build notes, data version {version}: information only (the manifest pins the data)"]
    if skipped:
        lines.append(f"# {len(skipped)} source image(s) left out by --lenient (also in manifest.json source.skipped "
                     "and the store's 'skipped' attribute)")  # fmt: skip
        lines += [f"skipped {s}" for s in skipped]
    if warnings:
        lines.append(f"# {len(warnings)} builder warning(s)")
        lines += [f"warning {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def _generator_version() -> str:
    return __version__
