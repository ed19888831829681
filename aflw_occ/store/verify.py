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

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError
from ..parallel import process_pool
from . import schema
from .manifest import Manifest, line_differences
from .reader import DataStore, open_store
from .verify_report import Mismatch, VerifyReport
from .verify_rows import RowResult, brief, check_chunk
from .verify_store import (
    check_attrs,
    check_identity,
    embedded_manifest,
    reference_manifest,
    skipped_images,
    split_groups,
)

__all__ = ["Mismatch", "VerifyReport", "verify"]

CHUNK = 100

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
            with process_pool(workers, preload=("aflw_occ.store.verify_rows",)) as pool:
                futs = [(name, pool.submit(check_chunk, store.path, groups[name], lo, hi)) for name, lo, hi in jobs]
                for name, fut in futs:
                    yield name, fut.result()
                    bar.update(len(fut.result()))
        else:
            for name, lo, hi in jobs:
                yield name, check_chunk(store.path, groups[name], lo, hi)
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
        raise StoreError(f"{store.path}: cannot be verified ({brief(exc)})") from None


def _verify(
    store: DataStore, manifest: str | Path | None, workers: int, splits: list[str] | None, partial: bool,
    progress: bool | None,
) -> VerifyReport:  # fmt: skip
    report = VerifyReport(store.path, store.version, "", "")
    embedded = embedded_manifest(store, report)
    man, origin = reference_manifest(store, embedded, manifest, report)
    check_identity(store, man, origin)
    report.manifest_sha256, report.manifest_origin = man.sha256, origin
    check_attrs(store, embedded, report)
    skipped = skipped_images(store, report)
    targets = _targets(man, origin, embedded, manifest is None, partial, report)
    groups = split_groups(store, report)
    names = _split_names(groups, splits, targets, report)
    collected: dict[str, list[RowResult]] = {n: [] for n in names}
    for name, results in _run(store, groups, _jobs(store, groups, names, report), workers, progress):
        collected[name].extend(results)
    for name in names:
        _compare_rows(name, collected[name], targets, report, skipped)
    order = {n: i for i, n in enumerate(names)}
    report.mismatches.sort(key=lambda m: (order.get(m.split, -1), m.id))
    return report


def _targets(
    man: Manifest, origin: str, embedded: Manifest | None, only_embedded: bool, partial: bool, report: VerifyReport
) -> list[_Target]:
    """The manifests rows are compared with: the reference (strict unless ``partial`` against a given folder), and
    the embedded one as well when a folder is given; with notes on how they relate."""
    targets = [_Target(man, "embedded" if only_embedded else "given", only_embedded or not partial)]
    if not only_embedded and embedded is not None:
        targets.append(_Target(embedded, "embedded", True))
    if embedded is not None and embedded.sha256 != man.sha256:
        report.notes.append(
            f"embedded manifest {embedded.sha256[:12]} is not {origin} (headers differ: a partial build, another "
            "generator, …); every row is compared with both"
        )
    if man.level == 1:
        report.notes.append(f"{origin} is a format-1 manifest: ground truth and masks are not pinned by it")
    return targets


def _split_names(
    groups: dict[str, str], splits: list[str] | None, targets: list[_Target], report: VerifyReport
) -> list[str]:
    """The splits to check (``splits``, ``clean`` meaning ``base``; default all): those in the store and in the
    reference manifest. A split only one side has is a mismatch (a store's missing split only for strict targets)."""
    wanted = None if splits is None else {"base" if s == "clean" else s for s in splits}
    names = [n for n in groups if wanted is None or n in wanted]
    for t in targets:
        for absent in sorted(set(t.man.splits) - set(groups)) if t.strict else []:
            if wanted is None or absent in wanted:
                report.add(absent, "*", f"split listed in the {t.label} manifest, absent from the store")
    reference = targets[0].man
    for name in [n for n in names if n not in reference.splits]:
        report.add(name, "*", f"split in the store, absent from the {targets[0].label} manifest")
    return [n for n in names if n in reference.splits]
