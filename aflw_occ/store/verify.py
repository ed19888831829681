"""``verify``: recompute every sample's pixel hash from the store and compare it, and every recorded value, with a
manifest (the one embedded in the store, or a committed ``manifests/<version>/`` folder).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from ..parallel import process_pool
from . import codec
from .hashing import pixel_hash
from .manifest import Manifest, flags_string
from .reader import DataStore, open_store

CHUNK = 100


@dataclass
class Mismatch:
    split: str
    id: str
    what: str

    def __str__(self) -> str:
        return f"{self.split}/{self.id}: {self.what}"


@dataclass
class VerifyReport:
    store: Path
    version: str
    manifest_sha256: str
    manifest_origin: str
    checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self, first: int = 10) -> str:
        head = (
            f"{self.store}: data version {self.version}, manifest {self.manifest_sha256[:12]} "
            f"({self.manifest_origin}): {self.checked} samples checked, {len(self.mismatches)} mismatch(es)"
        )
        return "\n".join([head, *(f"  MISMATCH {m}" for m in self.mismatches[:first])])


def _hash_chunk(path: Path, group: str, rows: np.ndarray) -> list[tuple[int, str]]:
    """Pixel hashes of some rows of one group, decoded from the store (runs in a worker)."""
    store = DataStore(path)
    f = store.file
    g = f[group]
    out = []
    if group == "base":
        for r in rows:
            out.append((int(r), pixel_hash(store.base_image(int(r)))))
        return out
    src = g["source_index"][()]
    for r in rows:
        img = codec.apply_patch(store.base_image(int(src[r])), g["patch_box"][r], g["patch_png"][r])
        out.append((int(r), pixel_hash(img)))
    return out


def _same_float(a: float, b: float) -> bool:
    """Exact equality, NaN equal to NaN (NOD's covered fraction is NaN when the face region is empty)."""
    return a == b or (math.isnan(a) and math.isnan(b))


def _compare_split(
    name: str, group: Any, lines: dict[str, dict[str, Any]], report: VerifyReport, partial: bool
) -> None:
    ids = group["ids"].asstr()[()]
    stored = set(ids)
    for missing in [] if partial else sorted(set(lines) - stored):
        report.mismatches.append(Mismatch(name, missing, "listed in the manifest, absent from the store"))
    for extra in sorted(stored - set(lines)):
        report.mismatches.append(Mismatch(name, extra, "in the store, absent from the manifest"))
    if name == "base":
        jpeg_hash = group["jpeg_sha256"].asstr()[()]
        for i, sid in enumerate(ids):
            line = lines.get(sid)
            if line is not None and line["jpeg_sha256"] != jpeg_hash[i]:
                report.mismatches.append(Mismatch(name, sid, "source JPEG bytes differ from the manifest"))
        return
    seeds = group["seed"][()]
    occl = group["occluded"][()]
    cov = group["covered_fraction"][()]
    sel = group["selected"][()]
    params = group["params"].asstr()[()]
    for i, sid in enumerate(ids):
        line = lines.get(sid)
        if line is None:
            continue
        checks = (
            ("seed", int(seeds[i]) == line["seed"]),
            ("occlusion flags", flags_string(occl[i]) == line["occluded"]),
            ("covered fraction", _same_float(float(cov[i]), line["covered_fraction"])),
            ("selection", bool(sel[i]) == line["selected"]),
            ("drawn parameters", json.loads(params[i]) == line["params"]),
        )
        for what, ok in checks:
            if not ok:
                report.mismatches.append(Mismatch(name, sid, f"{what} differ from the manifest"))


def verify(
    store_path: str | Path,
    manifest: str | Path | None = None,
    workers: int = 1,
    splits: list[str] | None = None,
    partial: bool = False,
) -> VerifyReport:
    """Check a store against a manifest; mismatches are listed by split and sample id.

    ``partial=True`` accepts a store that holds only some of the manifest's splits or samples (a build of a few
    subsets or ids): what the store lacks is not a mismatch, everything it holds is checked.
    """
    store = open_store(store_path)
    if manifest is None:
        header, texts = store.manifest_texts()
        man = Manifest.from_texts(header, texts, f"{store.path}#/manifest")
        origin = "embedded"
    else:
        man = Manifest.load(Path(manifest))
        origin = str(manifest)
    if man.version != store.version:
        raise StoreError(
            f"{manifest or store.path}: manifest is for data version {man.version}, the store is {store.version}"
        )
    seed = int(store.file.attrs["seed"])
    if int(man.header["seed"]) != seed:
        raise StoreError(f"{origin}: manifest was built with seed {man.header['seed']}, the store with seed {seed}")
    report = VerifyReport(store.path, store.version, man.sha256, origin)
    f = store.file
    groups = {"base": "base"} | {n: store.split(n).group for n in store.splits if n != "clean"}
    wanted = None if splits is None else {"base" if s == "clean" else s for s in splits}
    names = [n for n in groups if n in man.splits and (wanted is None or n in wanted)]
    for absent in [] if partial else sorted(set(man.splits) - set(groups)):
        report.mismatches.append(Mismatch(absent, "*", "split listed in the manifest, absent from the store"))
    jobs = []
    for name in names:
        n = f[groups[name]]["ids"].shape[0]
        for start in range(0, n, CHUNK):
            jobs.append((name, np.arange(start, min(n, start + CHUNK))))
    hashes: dict[str, dict[int, str]] = {name: {} for name in names}
    if workers > 1:
        with process_pool(workers, preload=(__name__,)) as pool:
            futs = [(name, pool.submit(_hash_chunk, store.path, groups[name], rows)) for name, rows in jobs]
            for name, fut in futs:
                hashes[name].update(fut.result())
    else:
        for name, rows in jobs:
            hashes[name].update(_hash_chunk(store.path, groups[name], rows))
    for name in names:
        g = f[groups[name]]
        lines = man.splits[name]
        _compare_split(name, g, lines, report, partial)
        ids = g["ids"].asstr()[()]
        recorded = g["pixels_sha256"].asstr()[()]
        for r in sorted(hashes[name]):
            sid = ids[r]
            got = hashes[name][r]
            line = lines.get(sid)
            if line is not None and got != line["pixels_sha256"]:
                what = f"pixel hash {got[:12]} differs from the manifest's {line['pixels_sha256'][:12]}"
                report.mismatches.append(Mismatch(name, sid, what))
            elif got != recorded[r]:
                report.mismatches.append(Mismatch(name, sid, "pixels differ from the hash recorded in the store"))
            report.checked += 1
    report.mismatches.sort(key=lambda m: (names.index(m.split) if m.split in names else -1, m.id))
    return report
