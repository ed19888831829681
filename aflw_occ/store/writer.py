"""Write a build's journal blocks, in block order, into one HDF5 file (temporary file, renamed at the end).

Layout (``docs/store.md``)::

    /                       attrs: format, data_version, generator_version, seed, options, builders, created_with,
                                   source_sha256, manifest_sha256, provenance (JSON)
    /base                   the clean images: ids, jpeg (original bytes), jpeg_sha256, mat_sha256, pixels_sha256,
                            shape, landmarks (N,68,3), reannotated (N,68,2; NaN if absent), pose_para (N,7),
                            angles_deg (N,3), roi_box (N,4; NaN if absent)
    /<subset>/<variant>     one group per split: ids, source_index, seed, params (JSON), patch_box (N,4),
                            patch_png, mask_png, occluded (N,68), covered_fraction, selected, pixels_sha256,
                            field_<name>, mask_<name>_png
    /manifest               manifest.json and <split>.jsonl texts
"""

from __future__ import annotations

import contextlib
import json
import pickle
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from ..atomic import atomic_path
from ..builders import get_builder
from ..errors import StoreError
from . import manifest as mf
from .hashing import sha256_bytes
from .versions import FORMAT, store_filename

if TYPE_CHECKING:
    from ..pipeline import BuildPlan

VLEN_U8 = h5py.vlen_dtype(np.dtype("uint8"))
STR = h5py.string_dtype("utf-8")
#: dataset chunks: whole rows, about this many bytes, at most CHUNK_ROWS rows
CHUNK_BYTES = 1 << 18
CHUNK_ROWS = 4096
#: the writer appends to the datasets once this many source rows are waiting (fewer, larger HDF5 writes)
FLUSH_ROWS = 400


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("aflw-occ", "numpy", "opencv-python-headless", "h5py", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    import cv2

    out["opencv-build"] = cv2.__version__
    return out


def group_path(split: str, subsets: tuple[str, ...]) -> str:
    """HDF5 group of a public split name: ``clean`` → ``base``, ``csod-single`` → ``csod/single``."""
    if split == "clean":
        return "base"
    for name in subsets:
        cls = get_builder(name)
        for config in cls.CONFIGS:
            if cls.split_name(config) == split:
                return f"{name}/{config.name}"
    raise KeyError(split)


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
            name, shape=(0, *tail), maxshape=(None, *tail), dtype=dtype or data.dtype, chunks=chunk,
            compression="gzip" if compress else None,
        )  # fmt: skip
    ds = g[name]
    n = ds.shape[0]
    ds.resize(n + len(data), axis=0)
    if data.dtype == object:  # slice assignment would try to broadcast equal-length byte vectors into 2-D
        ds.write_direct(data, dest_sel=np.s_[n:])
    else:
        ds[n:] = data


def _append_base(g: h5py.Group, rows: list[dict[str, Any]]) -> None:
    _append(g, "ids", [r["id"] for r in rows], STR)
    _append(g, "jpeg", [r["jpeg"] for r in rows], VLEN_U8)
    for key in ("jpeg_sha256", "mat_sha256", "pixels_sha256"):
        _append(g, key, [r[key] for r in rows], STR)
    _append(g, "shape", [r["shape"] for r in rows])
    for key in ("landmarks", "reannotated", "pose_para", "roi_box"):
        _append(g, key, [r[key] for r in rows], np.float64, compress=True)
    _append(g, "angles_deg", np.degrees(np.stack([r["pose_para"][:3] for r in rows])))


def _append_split(g: h5py.Group, rows: list[dict[str, Any]], index: dict[str, int]) -> None:
    _append(g, "ids", [r["id"] for r in rows], STR)
    _append(g, "source_ids", [r["source_id"] for r in rows], STR)
    _append(g, "source_index", [index[r["source_id"]] for r in rows], np.int32)
    _append(g, "seed", [r["seed"] for r in rows], np.uint32)
    _append(g, "params", [r["params"] for r in rows], STR)
    _append(g, "patch_box", [r["box"] for r in rows], np.int32)
    _append(g, "patch_png", [r["pixels_png"] for r in rows], VLEN_U8)
    _append(g, "mask_png", [r["mask_png"] for r in rows], VLEN_U8)
    _append(g, "occluded", [r["occluded"] for r in rows], compress=True)
    _append(g, "covered_fraction", [r["covered_fraction"] for r in rows], np.float64)
    _append(g, "selected", [r["selected"] for r in rows], bool)
    _append(g, "pixels_sha256", [r["pixels_sha256"] for r in rows], STR)
    for name in sorted(rows[0]["fields"]):
        _append(g, f"field_{name}", [r["fields"][name] for r in rows])
    for name in sorted(rows[0]["masks"]):
        _append(g, f"mask_{name}_png", [r["masks"][name] for r in rows], VLEN_U8)


def load_block(journal: Path, block: int, identity_sha: str) -> dict[str, Any]:
    """One journal block's payload, checked to belong to the build ``identity_sha``."""
    path = journal / f"block-{block:05d}.pkl"
    with path.open("rb") as fh:
        payload: dict[str, Any] = pickle.load(fh)
    if payload["identity_sha256"] != identity_sha or payload["block"] != block:
        raise StoreError(f"{path}: journal block belongs to another build")
    return payload


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
        self._provenance: dict[str, str] | None = None
        self._pending: list[dict[str, Any]] = []

    def __enter__(self) -> StoreWriter:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(self.final))
            self._file = stack.enter_context(h5py.File(tmp, "w"))
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
        for r in payload["base"]:
            self._base_ids[r["id"]] = len(self._base_ids)
            self._source_lines.append(f"{r['id']} {r['jpeg_sha256']} {r['mat_sha256']}\n")
            self._lines["base"].append(r["manifest_line"])
        for name, rows in payload["splits"].items():
            if name not in self._selected:
                self._selected[name] = 0
                self._lines[name] = []
                f.create_group(group_path(name, self.plan.subsets)).attrs["split"] = name
            self._lines[name].extend(r["manifest_line"] for r in rows)
            self._selected[name] += sum(bool(r["selected"]) for r in rows)
        self._notes.extend(payload["warnings"])
        self._pending.append(payload)
        self.blocks += 1
        if sum(len(p["base"]) for p in self._pending) >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        """Append the waiting blocks' rows to the datasets."""
        f, pending = self._file, self._pending
        assert f is not None
        if not pending:
            return
        _append_base(f.require_group("base"), [r for p in pending for r in p["base"]])
        for name in pending[0]["splits"]:
            rows = [r for p in pending for r in p["splits"][name]]
            _append_split(f[group_path(name, self.plan.subsets)], rows, self._base_ids)
        self._pending = []

    def finish(self) -> tuple[Path, dict[str, int], list[str]]:
        """Write the attributes and the manifest, give the store its final name, write the manifest folder.
        Returns (store path, selected rows per split, builder warnings)."""
        f, plan = self._file, self.plan
        assert f is not None, "StoreWriter.finish outside its with block"
        self._flush()
        region_kind = getattr(plan.region_fn, "kind", "custom") if plan.region_fn is not None else "landmark-hull"
        provenance: dict[str, str] = {"face_region": region_kind, **(self._provenance or {})}
        header = {
            "data_version": plan.version,
            "generator_version": _generator_version(),
            "seed": plan.options.seed,
            "options": plan.options.identity(),
            "builders": self.identity["builders"],
            "source": {"count": len(self._base_ids), "sha256": sha256_bytes("".join(self._source_lines).encode())},
            "provenance": provenance,
        }
        header_text, texts = mf.render(header, self._lines)
        f.attrs["format"] = FORMAT
        f.attrs["data_version"] = plan.version
        f.attrs["generator_version"] = header["generator_version"]
        f.attrs["seed"] = plan.options.seed
        f.attrs["options"] = json.dumps(plan.options.identity(), sort_keys=True)
        f.attrs["builders"] = json.dumps(self.identity["builders"], sort_keys=True)
        f.attrs["created_with"] = json.dumps(library_versions(), sort_keys=True)
        f.attrs["source_sha256"] = header["source"]["sha256"]
        f.attrs["manifest_sha256"] = sha256_bytes(header_text.encode())
        f.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
        f.attrs["splits"] = json.dumps(["clean", *self._selected], sort_keys=False)
        m = f.create_group("manifest")
        m.create_dataset("manifest.json", data=header_text, dtype=STR)
        for name, text in texts.items():
            m.create_dataset(f"{name}.jsonl", data=text, dtype=STR)
        self._file = None
        self._stack.close()  # closes the file and renames it
        mf.write_folder(plan.out / f"manifest-{plan.version}", header_text, texts)
        return self.final, {"clean": len(self._base_ids), **self._selected}, self._notes


def assemble(
    plan: BuildPlan, journal: Path, n_blocks: int, identity: dict[str, Any]
) -> tuple[Path, dict[str, int], list[str]]:
    """Write the store and its manifest from a complete journal (a sharded or resumed build's last step)."""
    with StoreWriter(plan, identity) as writer:
        for b in range(n_blocks):
            writer.add(load_block(journal, b, writer.identity_sha))
        return writer.finish()


def _generator_version() -> str:
    from .. import __version__

    return __version__
