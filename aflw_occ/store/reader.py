"""Read a built store: splits, exact pixels, ground truth. Opened lazily; safe to use after ``fork``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import StoreError
from ..groundtruth import GroundTruth
from . import codec, schema
from .versions import FORMATS


def resolve_store_path(path: str | Path) -> Path:
    """A store file, or a build folder holding exactly one ``aflw-occ-*.h5``."""
    p = Path(path)
    if p.is_dir():
        found = sorted(p.glob("aflw-occ-*.h5"))
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise StoreError(f"{p}: {what} aflw-occ-*.h5 store(s) in this folder; pass the file itself")
        return found[0]
    if not p.is_file():
        raise StoreError(f"{p}: store file does not exist")
    return p


class Split:
    """One split of a store (``clean``, ``csod-single``, …), row-aligned by ``ids``.

    Only rows with ``selected`` set belong to the split (NOD stores v for all images but selects some);
    ``all_rows=True`` gives every stored row.
    """

    def __init__(self, store: DataStore, name: str, group: str, all_rows: bool = False) -> None:
        self.store = store
        self.name = name
        self.group = group
        g = store.file[group]
        if group == "base":
            n = g["ids"].shape[0]
            self.rows = np.arange(n)
            self.source_index = self.rows
        else:
            selected = g["selected"][()]
            self.rows = np.arange(selected.size) if all_rows else np.flatnonzero(selected)
            self.source_index = g["source_index"][()][self.rows]

    def __len__(self) -> int:
        return int(self.rows.size)

    def _strings(self, key: str, group: str | None = None) -> np.ndarray:
        ds = self.store.file[group or self.group][key]
        return np.array(ds.asstr()[()], dtype=object)

    @cached_property
    def ids(self) -> np.ndarray:
        return self._strings("ids")[self.rows]

    @cached_property
    def source_ids(self) -> np.ndarray:
        return self.store.base_ids[self.source_index]

    @cached_property
    def roi_boxes(self) -> np.ndarray:
        """(N, 4) 3DDFA crop boxes of each sample's source image (NaN if the build had no 3DDFA files)."""
        return self.store.file["base/roi_box"][()][self.source_index]

    def _g(self, key: str) -> np.ndarray:
        return self.store.file[self.group][key][()][self.rows]

    @cached_property
    def occluded(self) -> np.ndarray | None:
        """(N, 68) per-landmark occlusion flags (None for the clean split)."""
        return None if self.group == "base" else self._g("occluded").astype(bool)

    @cached_property
    def covered_fraction(self) -> np.ndarray | None:
        return None if self.group == "base" else self._g("covered_fraction")

    def params(self, i: int) -> dict[str, Any]:
        """The drawn parameters of row ``i``."""
        if self.group == "base":
            return {}
        return json.loads(self.store.file[self.group]["params"].asstr()[self.rows[i]])

    def all_params(self) -> list[dict[str, Any]]:
        """The drawn parameters of every row, in split order (one read of the dataset)."""
        if self.group == "base":
            return [{} for _ in range(len(self))]
        texts = self.store.file[self.group]["params"].asstr()[()]
        return [json.loads(texts[r]) for r in self.rows]

    def same_pixels_as_source(self) -> np.ndarray:
        """(N,) bool: rows whose pixels equal their source image's (equal stored ``pixels_sha256``; NOD rows, which
        select naturally occluded images and paste nothing)."""
        if self.group == "base":
            return np.ones(len(self), dtype=bool)
        base = np.array(self.store.file["base/pixels_sha256"].asstr()[()], dtype=object)[self.source_index]
        return np.asarray(self._strings("pixels_sha256")[self.rows] == base, dtype=bool)

    def record(self, i: int) -> dict[str, Any]:
        """Every stored value of row ``i``, keyed as in the row schema (:mod:`aflw_occ.store.schema`)."""
        r = int(self.rows[i])
        return self.store.read_rows(self.group, r, r + 1)[0]

    def field(self, name: str) -> np.ndarray:
        """An extra per-sample field (e.g. NOD's ``visible_rate``)."""
        return self._g(f"field_{name}")

    def image(self, i: int) -> np.ndarray:
        """Exact RGB uint8 pixels of row ``i``."""
        base = self.store.base_image(int(self.source_index[i]))
        if self.group == "base":
            return base
        g = self.store.file[self.group]
        r = int(self.rows[i])
        return codec.apply_patch(base, g["patch_box"][r], g["patch_png"][r])

    def mask(self, i: int) -> np.ndarray:
        """The (H, W) bool occluder mask of row ``i`` (all False for the clean split)."""
        shape = tuple(int(v) for v in self.store.file["base/shape"][int(self.source_index[i])][:2])
        if self.group == "base":
            return np.zeros(shape, dtype=bool)
        g = self.store.file[self.group]
        r = int(self.rows[i])
        return codec.patch_mask(shape, g["patch_box"][r], g["mask_png"][r])

    def extra_mask(self, i: int, name: str) -> np.ndarray:
        """An extra stored mask of row ``i`` (e.g. NOD's ``P`` or ``F``)."""
        data = self.store.file[self.group][f"mask_{name}_png"][int(self.rows[i])]
        return codec.decode_png(data, color=False)

    def iter_images(self, batch_size: int = 32) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        """Yield (row indices, RGB images) in batches, in split order."""
        for start in range(0, len(self), batch_size):
            idx = np.arange(start, min(start + batch_size, len(self)))
            yield idx, [self.image(int(i)) for i in idx]

    def ground_truth(self) -> GroundTruth:
        """Ground truth of this split, carried over unchanged from the source images."""
        f = self.store.file
        src = self.source_index
        re = f["base/reannotated"][()][src]
        return GroundTruth(
            ids=np.asarray(self.ids, dtype=str),
            landmarks=f["base/landmarks"][()][src],
            angles_deg=f["base/angles_deg"][()][src],
            reannotated=None if np.isnan(re).any() else re,
            occluded=self.occluded,
            source_ids=np.asarray(self.source_ids, dtype=str),
            split=self.name,
            data_version=self.store.version,
            provenance={"store": str(self.store.path), "manifest_sha256": self.store.manifest_sha256[:12]},
        )


def read_ground_truth(path: str | Path, split: str = "clean") -> GroundTruth:
    """Ground truth of one split of a built HDF5 store (occlusion flags included for occluded splits)."""
    with open_store(path) as store:
        return store.split(split).ground_truth()


class DataStore:
    """A built ``aflw-occ-<version>.h5``. The HDF5 file is opened on first use (per process)."""

    def __init__(self, path: str | Path) -> None:
        self.path = resolve_store_path(path)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._base_cache: tuple[int, np.ndarray] | None = None
        f = self.file
        if f.attrs.get("format") not in FORMATS:
            raise StoreError(f"{self.path}: not an aflw-occ store (format {f.attrs.get('format')!r})")

    @property
    def file(self) -> h5py.File:
        import os

        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot be opened as HDF5 ({exc})") from None
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> DataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def attr(self, name: str) -> Any:
        """A root attribute; :class:`StoreError` when it is missing."""
        if name not in self.file.attrs:
            raise StoreError(f"{self.path}: attribute {name!r} is missing")
        return self.file.attrs[name]

    @property
    def version(self) -> str:
        return str(self.attr("data_version"))

    @property
    def manifest_sha256(self) -> str:
        return str(self.attr("manifest_sha256"))

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.file.attrs)

    @cached_property
    def skipped(self) -> list[schema.Skip]:
        """The source images a ``--lenient`` build left out of every split (id, file, reason); empty if none."""
        text = self.file.attrs.get(schema.SKIPPED_ATTR)
        return [] if text is None else [schema.Skip.from_json(v) for v in json.loads(str(text))]

    @cached_property
    def splits(self) -> list[str]:
        return list(json.loads(self.file.attrs["splits"]))

    @cached_property
    def _groups(self) -> dict[str, str]:
        """Public split name → HDF5 group (each split group records its name in its ``split`` attribute)."""
        out = {"clean": "base"}
        for subset, g in self.file.items():
            if subset in ("base", "manifest") or not isinstance(g, h5py.Group):
                continue
            for variant, vg in g.items():
                out[str(vg.attrs["split"])] = f"{subset}/{variant}"
        return out

    def split(self, name: str, all_rows: bool = False) -> Split:
        if name not in self._groups:
            raise StoreError(f"{self.path}: no split {name!r}; it holds: {', '.join(self.splits)}")
        return Split(self, name, self._groups[name], all_rows)

    @cached_property
    def base_ids(self) -> np.ndarray:
        return np.array(self.file["base/ids"].asstr()[()], dtype=object)

    def base_image(self, index: int) -> np.ndarray:
        """Decoded pixels of base row ``index`` (the last one is cached: splits are read source by source)."""
        if self._base_cache is not None and self._base_cache[0] == index:
            return self._base_cache[1]
        img = codec.decode_jpeg(self.file["base/jpeg"][index].tobytes())
        img.setflags(write=False)
        self._base_cache = (index, img)
        return img

    def manifest_texts(self) -> tuple[str, dict[str, str]]:
        """The embedded manifest: (manifest.json text, {split: jsonl text}), from the attributes of ``/manifest``
        (format 2) or its scalar datasets (format 1); :class:`StoreError` when it is missing."""
        m = self.file.get("manifest")
        if isinstance(m, h5py.Group) and "manifest.json" in m.attrs:
            texts = {k: str(v) for k, v in m.attrs.items()}
        elif isinstance(m, h5py.Group) and isinstance(m.get("manifest.json"), h5py.Dataset):
            texts = {k: str(m[k].asstr()[()]) for k in m if isinstance(m[k], h5py.Dataset) and not m[k].shape}
        else:
            raise StoreError(f"{self.path}: the embedded manifest (/manifest, manifest.json) is missing")
        splits = {k[: -len(".jsonl")]: v for k, v in texts.items() if k.endswith(".jsonl")}
        return texts["manifest.json"], splits

    def layout(self, group: str) -> tuple[dict[str, list[str]], list[str]]:
        """A group's family extras (:func:`schema.family_extras`) and the problems of its datasets: a declared one
        missing, one the schema does not declare, a length other than the ids'."""
        g = self.file[group]
        kind = schema.kind_of(group)
        extras, unknown = schema.family_extras(kind, list(g))
        problems = [f"dataset {n!r} is not in the row schema" for n in unknown]
        ids = g.get("ids")
        n = ids.shape[0] if isinstance(ids, h5py.Dataset) and ids.shape else None
        for _, name, _ in schema.datasets(kind, extras):
            ds = g.get(name)
            if not isinstance(ds, h5py.Dataset) or not ds.shape:
                problems.append(f"dataset {name!r} is missing or not a per-row dataset")
            elif ds.shape[0] != n:
                problems.append(f"dataset {name!r} has {ds.shape[0]} rows, ids has {n}")
        return extras, problems

    def read_rows(self, group: str, lo: int, hi: int) -> list[dict[str, Any]]:
        """Rows ``lo:hi`` of a group (whose :meth:`layout` has no problem) as schema records."""
        g = self.file[group]
        kind = schema.kind_of(group)
        extras, _ = schema.family_extras(kind, list(g))
        data: dict[tuple[str, str], Any] = {}
        for col, name, extra in schema.datasets(kind, extras):
            ds = g[name]
            data[col.key, extra] = ds.asstr()[lo:hi] if col.encoding is schema.Encoding.STR else ds[lo:hi]
        return [_record(kind, data, extras, i) for i in range(hi - lo)]


def _record(kind: str, data: dict[tuple[str, str], Any], extras: dict[str, list[str]], i: int) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for col in schema.COLUMNS[kind]:
        if col.family:
            rec[col.key] = {e: data[col.key, e][i] for e in extras[col.key]}
        else:
            rec[col.key] = data[col.key, ""][i]
    return rec


def open_store(path: str | Path) -> DataStore:
    """Open a built store (file or build folder)."""
    return DataStore(path)
