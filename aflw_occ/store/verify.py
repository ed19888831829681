"""``verify``: re-render every stored row into its manifest line and compare it with a manifest.

Each row is read through the row schema (:mod:`aflw_occ.store.schema`), its payload decoded (pixels, masks) and its
recomputed columns and digests checked; the line rendered from it is compared, key by key, with the line of the
manifest embedded in the store and, with ``--manifest``, with the line of that folder. A line pins the pixels, the
masks, the flags, the drawn parameters (less their ``diagnostics``), the fields and the ground truth (``row_sha256``),
so nothing a score depends on can change unnoticed. The store's own consistency is checked as well: the
``manifest_sha256`` attribute against the embedded ``manifest.json``, every declared dataset and attribute present,
no row stored twice. A corrupt value is a mismatch naming its split and sample; an unreadable store or manifest is a
:class:`StoreError` (one ``error:`` line from the CLI).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import StoreError
from ..hashing import pixel_hash, sha256_bytes
from ..parallel import process_pool
from . import codec, schema
from .bulk import read_many
from .manifest import Manifest, line_differences, render_line
from .reader import DataStore, open_store

CHUNK = 100
STORE = "store"  # the split name of mismatches that concern the whole store (attributes, embedded manifest)

#: what a differing manifest key means, for the mismatch lines
LABELS = {
    "row_sha256": "ground truth (row_sha256)",
    "pixels_sha256": "pixels",
    "mask_sha256": "occluder mask",
    "masks": "extra masks",
    "occluded": "occlusion flags",
    "params": "drawn parameters",
    "jpeg_sha256": "source JPEG bytes",
    "mat_sha256": "source .mat",
}


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
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def add(self, split: str, sid: str, what: str) -> None:
        self.mismatches.append(Mismatch(split, sid, what))

    def summary(self, first: int = 10) -> str:
        head = (
            f"{self.store}: data version {self.version}, manifest {self.manifest_sha256[:12]} "
            f"({self.manifest_origin}): {self.checked} samples checked, {len(self.mismatches)} mismatch(es)"
        )
        lines = [head, *(f"  note: {n}" for n in self.notes), *(f"  MISMATCH {m}" for m in self.mismatches[:first])]
        if len(self.mismatches) > first:
            lines.append(f"  … and {len(self.mismatches) - first} more")
        return "\n".join(lines)


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
        return RowResult(row, sid, None, [f"cannot be decoded or checked ({_brief(exc)})"])
    problems = [f"{k} differs from the value recorded in the store" for k, v in columns.items() if rec[k] != v]
    return RowResult(row, sid, line, problems)


def _brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _check_chunk(path: Path, group: str, lo: int, hi: int) -> list[RowResult]:
    """Rows ``lo:hi`` of one group, each re-rendered into its manifest line (runs in a worker)."""
    store = DataStore(path)
    kind = schema.kind_of(group)
    try:
        records = store.read_rows(group, lo, hi)
    except Exception as exc:  # an unreadable chunk of a dataset
        return [RowResult(lo, f"rows {lo}:{hi}", None, [f"cannot be read ({_brief(exc)})"])]
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


# --------------------------------------------------------------------------------------------------------------
# the store and its manifests
def _embedded(store: DataStore, report: VerifyReport) -> Manifest | None:
    """The embedded manifest (None when it is missing or invalid: a mismatch), its hash checked against the
    store's ``manifest_sha256`` attribute."""
    try:
        header, texts = store.manifest_texts()
        man = Manifest.from_texts(header, texts, f"{store.path}#/manifest")
    except StoreError as exc:
        report.add(STORE, "manifest", f"embedded manifest unusable: {exc}")
        return None
    attr = store.file.attrs.get("manifest_sha256")
    if attr is not None and str(attr) != man.sha256:
        report.add(STORE, "manifest", f"attribute manifest_sha256 {str(attr)[:12]} is not the sha256 of the "
                                      f"embedded manifest.json ({man.sha256[:12]})")  # fmt: skip
    return man


def _check_attrs(store: DataStore, man: Manifest | None, report: VerifyReport) -> None:
    """Every declared root attribute present (format 1 stores had ``created_with`` for ``environment``) and equal
    to what the embedded manifest says; the list of images a ``--lenient`` build left out (attribute ``skipped``)
    equal to the manifest's ``source.skipped`` (both absent when nothing was left out)."""
    attrs = store.file.attrs
    legacy = attrs.get("format") == "aflw-occ/hdf5-1"
    for name in schema.ROOT_ATTRS:
        if name not in attrs and not (legacy and name == "environment"):
            report.add(STORE, "attributes", f"attribute {name!r} is missing")
    if man is None:
        return
    source = man.header.get("source") or {}
    expect = {
        "builders": man.header.get("builders"),
        "options": man.header.get("options"),
        "source_sha256": source.get("sha256"),
    }
    for name, value in expect.items():
        if name in attrs and _attr_value(attrs[name]) != value:
            report.add(STORE, "attributes", f"attribute {name!r} differs from the embedded manifest")
    stored = _attr_value(attrs[schema.SKIPPED_ATTR]) if schema.SKIPPED_ATTR in attrs else None
    if stored != source.get("skipped"):
        report.add(STORE, "attributes", f"attribute {schema.SKIPPED_ATTR!r} (images left out by --lenient) differs "
                                        "from the embedded manifest's source.skipped")  # fmt: skip


def _skipped(store: DataStore, report: VerifyReport) -> dict[str, schema.Skip]:
    """Source id → why a ``--lenient`` build left it out (the store's ``skipped`` attribute), with a note."""
    if schema.SKIPPED_ATTR not in store.file.attrs:
        return {}
    try:
        skips = [schema.Skip.from_json(v) for v in json.loads(str(store.file.attrs[schema.SKIPPED_ATTR]))]
    except (ValueError, TypeError) as exc:
        report.add(STORE, "attributes", f"attribute {schema.SKIPPED_ATTR!r} is not a skip list ({_brief(exc)})")
        return {}
    if skips:
        shown = ", ".join(str(k) for k in skips[:3]) + (f", … ({len(skips) - 3} more)" if len(skips) > 3 else "")
        report.notes.append(f"built with --lenient: {len(skips)} source image(s) left out of every split: {shown}")
    return {k.id: k for k in skips}


def _attr_value(value: Any) -> Any:
    text = str(value)
    try:
        return json.loads(text) if text[:1] in "{[" else text
    except json.JSONDecodeError:
        return text


def _groups(store: DataStore, report: VerifyReport) -> dict[str, str]:
    """Split name → group of every split group in the file (a group without its ``split`` attribute: a mismatch)."""
    out = {"base": "base"} if isinstance(store.file.get("base"), h5py.Group) else {}
    if not out:
        report.add(STORE, "base", "group /base is missing")
    for subset, g in store.file.items():
        if subset in ("base", "manifest") or not isinstance(g, h5py.Group):
            continue
        for variant, vg in g.items():
            name = vg.attrs.get("split") if isinstance(vg, h5py.Group) else None
            if name is None:
                report.add(STORE, f"{subset}/{variant}", "split group has no 'split' attribute")
            else:
                out[str(name)] = f"{subset}/{variant}"
    return out


def _reference(
    store: DataStore, embedded: Manifest | None, manifest: str | Path | None, report: VerifyReport
) -> tuple[Manifest, str]:
    """The manifest the report is against: the folder ``manifest``, else the embedded one."""
    if manifest is not None:
        return Manifest.load(Path(manifest)), str(manifest)
    if embedded is None:
        raise StoreError(f"{store.path}: {report.mismatches[-1].what}; pass --manifest to verify against a folder")
    return embedded, "embedded"


def _check_identity(store: DataStore, man: Manifest, origin: str) -> None:
    if man.version != store.version:
        raise StoreError(f"{origin}: manifest is for data version {man.version}, the store is {store.version}")
    seed = int(store.attr("seed"))
    if int(man.header["seed"]) != seed:
        raise StoreError(f"{origin}: manifest was built with seed {man.header['seed']}, the store with seed {seed}")


# --------------------------------------------------------------------------------------------------------------
# comparison
@dataclass
class _Target:
    """A manifest rows are compared with: ``strict`` = every manifest row must be in the store."""

    man: Manifest
    label: str
    strict: bool


def _absent(name: str, sid: str, label: str, man: Manifest, skipped: dict[str, schema.Skip]) -> str:
    """Why a row of manifest ``label`` is not in the store: the source image a --lenient build left out, if so."""
    line = man.splits.get(name, {}).get(sid, {})
    source = line.get("source_id", sid) if name != "base" else sid
    skip = skipped.get(str(source))
    why = f": the build left out its source image with --lenient ({skip.file}: {skip.reason})" if skip else ""
    return f"listed in the {label} manifest, absent from the store{why}"


def _compare_rows(
    name: str,
    results: list[RowResult],
    targets: list[_Target],
    report: VerifyReport,
    skipped: dict[str, schema.Skip] | None = None,
) -> None:
    seen: set[str] = set()
    for res in results:
        problems = list(res.problems)
        if res.id in seen:
            problems.append("stored twice")
        seen.add(res.id)
        for t in targets:
            want = t.man.splits.get(name, {}).get(res.id)
            if want is None:
                problems.append(f"in the store, absent from the {t.label} manifest")
            elif res.line is not None:
                diff = line_differences(res.line, want, t.man.level)
                if diff:
                    what = ", ".join(LABELS.get(k, k) for k in diff)
                    problems.append(f"{what} differ from the {t.label} manifest")
        if problems:
            report.add(name, res.id, "; ".join(problems))
        report.checked += 1
    for t in targets:
        for dup in t.man.duplicates.get(name, []):
            report.add(name, dup, f"listed twice in the {t.label} manifest")
        for missing in sorted(set(t.man.splits.get(name, {})) - seen) if t.strict else []:
            report.add(name, missing, _absent(name, missing, t.label, t.man, skipped or {}))


def _jobs(
    store: DataStore, groups: dict[str, str], names: list[str], report: VerifyReport
) -> list[tuple[str, int, int]]:
    """(split, first row, end row) chunks of every split whose datasets are all there (else: a mismatch)."""
    jobs = []
    for name in names:
        _, problems = store.layout(groups[name])
        for p in problems:
            report.add(name, "*", p)
        if problems:
            continue
        n = store.file[groups[name]]["ids"].shape[0]
        jobs.extend((name, start, min(n, start + CHUNK)) for start in range(0, n, CHUNK))
    return jobs


def _run(
    store: DataStore, groups: dict[str, str], jobs: list[tuple[str, int, int]], workers: int, progress: bool | None
) -> Iterator[tuple[str, list[RowResult]]]:
    """Every job's row results, in job order: in ``workers`` processes, with a progress bar on stderr."""
    from tqdm import tqdm

    total = sum(hi - lo for _, lo, hi in jobs)
    off = None if progress is None else not progress  # None: tqdm shows the bar only on a terminal
    with tqdm(total=total, unit="row", desc="verify", file=sys.stderr, disable=off) as bar:
        if workers > 1 and len(jobs) > 1:
            with process_pool(workers, preload=(__name__,)) as pool:
                futs = [(name, pool.submit(_check_chunk, store.path, groups[name], lo, hi)) for name, lo, hi in jobs]
                for name, fut in futs:
                    yield name, fut.result()
                    bar.update(len(fut.result()))
        else:
            for name, lo, hi in jobs:
                yield name, _check_chunk(store.path, groups[name], lo, hi)
                bar.update(hi - lo)


def verify(
    store_path: str | Path,
    manifest: str | Path | None = None,
    workers: int = 1,
    splits: list[str] | None = None,
    partial: bool = False,
    progress: bool | None = None,
) -> VerifyReport:
    """Check a store against its embedded manifest and, with ``manifest``, a manifest folder; mismatches are
    listed by split and sample id.

    ``partial=True`` accepts a store that holds only some of the folder's splits or samples (a build of a few
    subsets or ids): what the store lacks is not a mismatch, everything it holds is checked. ``progress``: a bar on
    stderr (None: only when stderr is a terminal).
    """
    store = open_store(store_path)
    try:
        return _verify(store, manifest, workers, splits, partial, progress)
    except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:  # a store too broken to walk
        raise StoreError(f"{store.path}: cannot be verified ({_brief(exc)})") from None


def _verify(
    store: DataStore, manifest: str | Path | None, workers: int, splits: list[str] | None, partial: bool,
    progress: bool | None,
) -> VerifyReport:  # fmt: skip
    report = VerifyReport(store.path, store.version, "", "")
    embedded = _embedded(store, report)
    man, origin = _reference(store, embedded, manifest, report)
    _check_identity(store, man, origin)
    report.manifest_sha256, report.manifest_origin = man.sha256, origin
    _check_attrs(store, embedded, report)
    skipped = _skipped(store, report)
    targets = [_Target(man, "embedded" if manifest is None else "given", manifest is None or not partial)]
    if manifest is not None and embedded is not None:
        targets.append(_Target(embedded, "embedded", True))
    if embedded is not None and embedded.sha256 != man.sha256:
        report.notes.append(
            f"embedded manifest {embedded.sha256[:12]} is not {origin} (headers differ: a partial build, another "
            "generator, …); every row is compared with both"
        )
    if man.level == 1:
        report.notes.append(f"{origin} is a format-1 manifest: ground truth and masks are not pinned by it")
    groups = _groups(store, report)
    wanted = None if splits is None else {"base" if s == "clean" else s for s in splits}
    names = [n for n in groups if wanted is None or n in wanted]
    for t in targets:
        for absent in sorted(set(t.man.splits) - set(groups)) if t.strict else []:
            if wanted is None or absent in wanted:
                report.add(absent, "*", f"split listed in the {t.label} manifest, absent from the store")
    for name in [n for n in names if n not in man.splits]:
        report.add(name, "*", f"split in the store, absent from the {targets[0].label} manifest")
    names = [n for n in names if n in man.splits]
    collected: dict[str, list[RowResult]] = {n: [] for n in names}
    for name, results in _run(store, groups, _jobs(store, groups, names, report), workers, progress):
        collected[name].extend(results)
    for name in names:
        _compare_rows(name, collected[name], targets, report, skipped)
    order = {n: i for i, n in enumerate(names)}
    report.mismatches.sort(key=lambda m: (order.get(m.split, -1), m.id))
    return report
