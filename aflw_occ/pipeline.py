"""The build pipeline: source → builders (in worker processes) → journal blocks → one HDF5 store + manifest.

Work is cut into blocks of consecutive source ids. A worker decodes each source image once, runs every requested
builder variant on it with its per-sample seed, encodes the results (PNG patches, hashes, manifest lines) and writes
the block to the journal folder atomically. While the workers run, this process appends the finished blocks, in block
order, to the store's temporary file (:class:`aflw_occ.store.writer.StoreWriter`), which gets the manifest and its
final name once the last block is in. ``--resume`` keeps the journal blocks of an interrupted build with the same
identity; ``--shard k/n`` computes only the blocks ``b`` with ``b % n == k - 1`` (the shard that completes the
journal writes the store). The builders' resources (occluder library, mesh, segmenter) are loaded in the workers only;
each block records their provenance.
The result never depends on the worker count, the shard split or the order of completion.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .builders import BUILDERS, BuildOptions, get_builder
from .builders.base import (
    Builder,
    BuilderConfig,
    MeshFaceRegion,
    RegionFn,
    SourceSample,
    prime_face_geometry,
    sample_rng,
    sample_seed,
)
from .errors import AflwOccError, SourceError
from .outdir import OutLock, check_overwrite, prepare_out, remove_leftovers
from .parallel import process_pool, stop_pool
from .source import AFLW2000_3D, Sample
from .store import codec, schema
from .store import manifest as mf
from .store.hashing import PixelHashes, sha256_bytes, sha256_file
from .store.versions import get_version, store_filename

if TYPE_CHECKING:
    from .store.writer import Finished, StoreWriter

BLOCK_SIZE = 40
JOURNAL_FORMAT = 5  # 5: blocks list the images a --lenient worker skipped


class BuildError(AflwOccError):
    """A build cannot proceed (bad options, inconsistent output folder, builder failure)."""


@dataclass
class BuildPlan:
    """Everything that defines a build's output (its identity) plus how to run it."""

    source: Path
    out: Path
    version: str
    subsets: tuple[str, ...]
    options: BuildOptions
    eval_dir: Path | None = None
    workers: int = 1
    resume: bool = False
    #: replace a store of this version already in ``out`` (refused otherwise)
    overwrite: bool = False
    shard: tuple[int, int] = (1, 1)
    ids: tuple[str, ...] | None = None
    #: False (``--lenient``): a source image that cannot be read or decoded is left out and recorded, not an error
    strict: bool = True
    block_size: int = BLOCK_SIZE
    progress: bool = True
    region_fn: RegionFn | None = field(default=None, repr=False)
    #: what the manifest records about the source check (the checksum list used)
    source_record: dict[str, Any] = field(default_factory=dict, repr=False)
    #: source images the driver's check left out (``--lenient``); the workers add those they cannot decode
    skipped: list[schema.Skip] = field(default_factory=list, repr=False)

    def identity(self, ids: Sequence[str], eval_dir: Path | None = None) -> dict[str, Any]:
        """What the output depends on: a resumed build must match it (``eval_dir``: the one the source uses)."""
        from .fingerprint import build_inputs

        builders = {name: get_builder(name).VERSION for name in self.subsets}
        return {
            "journal_format": JOURNAL_FORMAT,
            "version": self.version,
            "subsets": list(self.subsets),
            "builders": builders,
            "options": self.options.identity(),
            "face_region": getattr(self.region_fn, "kind", "custom") if self.region_fn else "landmark-hull",
            "ids_sha256": sha256_bytes("\n".join(ids).encode()),
            "block_size": self.block_size,
            "lenient": not self.strict,
            "inputs": build_inputs(self.subsets, self.options, eval_dir),
        }


@dataclass
class BuildResult:
    """What a build did. ``skipped``: the source images a ``--lenient`` build left out; ``warnings``: the builders'
    notes, ``"split/id: message"``; ``notes_file``: where both are listed (None when there is nothing to list)."""

    path: Path | None
    blocks_done: int
    blocks_total: int
    skipped: list[schema.Skip]
    splits: dict[str, int]
    computed: int = 0
    warnings: list[str] = field(default_factory=list)
    notes_file: Path | None = None


# --------------------------------------------------------------------------------------------------------------
# worker side
_WORKER: dict[str, Any] = {}


def _init_worker(subsets: tuple[str, ...], options: BuildOptions, region_fn: Any) -> None:
    import cv2

    from .heap import keep_freed_memory

    cv2.setNumThreads(1)
    keep_freed_memory()  # temporary arrays reuse freed memory instead of new zeroed pages (aflw_occ.heap)
    _WORKER.clear()
    _WORKER["region_fn"] = region_fn
    builders: list[Builder] = []
    provenance: dict[str, str] = {}
    try:
        if isinstance(region_fn, MeshFaceRegion):
            _ = region_fn.mesh  # load and prepare it now, before the first block
        for name in subsets:
            b = get_builder(name)(options)
            b.prepare()
            builders.append(b)
            provenance.update(b.provenance())
    except AflwOccError as exc:  # raised by the first block: the driver reports it as one line, no traceback
        _WORKER["error"] = exc
    _WORKER["builders"] = builders
    _WORKER["provenance"] = provenance


def _encode_base(sample: Sample, jpeg: np.ndarray, image: np.ndarray, hashes: PixelHashes) -> dict[str, Any]:
    """The journal entry of a source image: its row of the base schema and its manifest line."""
    pose = sample.pose_para.copy()
    re68 = sample.reannotated_68
    rec = {
        "id": sample.id,
        "jpeg": jpeg,
        "jpeg_sha256": sha256_bytes(jpeg),
        "mat_sha256": sha256_file(sample.mat_path),
        "pixels_sha256": hashes.digest,
        "shape": np.array(image.shape, dtype=np.int32),
        "landmarks": sample.pt3d_68.T.copy(),
        "reannotated": re68.T.copy() if re68 is not None else np.full((68, 2), np.nan),
        "pose_para": pose,
        "angles_deg": np.degrees(pose[:3]),
        "roi_box": sample.roi_box.copy() if sample.roi_box is not None else np.full(4, np.nan),
    }
    return _entry(schema.BASE, rec, {}, sample.id)


def _entry(kind: str, rec: dict[str, Any], digests: dict[str, Any], what: str) -> dict[str, Any]:
    """A journal entry: the record conformed to the row schema, and its manifest line."""
    row = schema.conform(kind, rec, what)
    return {"row": row, "line": mf.line_text(mf.render_line(kind, row, digests))}


def _encode_example(
    builder: Builder, config: BuilderConfig, src: SourceSample, hashes: PixelHashes, seed32: int
) -> dict[str, Any]:
    split = builder.split_name(config)
    what = f"{split}/{src.id}"
    ex = builder.generate(src, config, sample_rng(seed32))
    if ex.image is not None:
        if ex.mask is None:
            raise BuildError(f"{what}: builder returned pixels without an occluder mask")
        patch = codec.encode_patch(ex.image, src.image, ex.mask, what)  # checks: no change outside the mask box
        pix = hashes.of_edit(ex.image, src.image.shape[0] if patch.box == codec.EMPTY_BOX else patch.box[1])
    else:
        empty = np.zeros(0, dtype=np.uint8)
        patch = codec.Patch(codec.EMPTY_BOX, empty, empty)
        pix = hashes.digest
    occluded = np.asarray(ex.occluded, dtype=bool)
    if occluded.shape != (68,):
        raise BuildError(f"{what}: occlusion flags have shape {occluded.shape}, expected (68,)")
    masks = {k: np.asarray(m, dtype=bool) for k, m in ex.masks.items()}
    rec = {
        "id": f"{src.id}.{split}",
        "source_id": src.id,
        "source_index": src.index,
        "seed": seed32,
        "params": json.dumps(ex.params, sort_keys=True, separators=(",", ":")),
        "patch_box": np.array(patch.box, dtype=np.int32),
        "patch_png": patch.pixels_png,
        "mask_png": patch.mask_png,
        "occluded": occluded,
        "covered_fraction": float(ex.covered_fraction),
        "selected": bool(ex.selected),
        "pixels_sha256": pix,
        "fields": {k: np.asarray(v) for k, v in ex.fields.items()},
        "mask_pngs": {k: codec.encode_png(m) for k, m in masks.items()},
    }
    # the occluder mask as stored: none for a subset without pixels (NOD keeps its region and skin in masks)
    full_mask = ex.mask if ex.image is not None else np.zeros(src.shape, dtype=bool)
    digests = {
        "mask_sha256": schema.mask_sha256(full_mask),
        "masks": {k: schema.mask_sha256(m) for k, m in sorted(masks.items())},
    }
    return _entry(schema.SPLIT, rec, digests, what)


def _read_source_image(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """The JPEG bytes and decoded RGB pixels of a source image; :class:`SourceError` naming the file otherwise."""
    try:
        jpeg = np.fromfile(sample.image_path, dtype=np.uint8)
        return jpeg, codec.decode_jpeg(jpeg)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SourceError(f"{sample.image_path}: cannot be decoded ({reason})") from None


def _process_block(
    block: int, samples: list[Sample], journal: Path, identity_sha: str, seed: int, lenient: bool = False
) -> int:
    """Compute one block and write it to the journal atomically. Returns the block number. A source image that
    cannot be read or decoded is an error, or with ``lenient`` left out and listed in the block's ``skipped``."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    builders: list[Builder] = _WORKER["builders"]
    base_records: list[dict[str, Any]] = []
    split_records: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    skipped: list[dict[str, str]] = []
    sources: list[SourceSample] = []
    hashes: list[PixelHashes] = []
    for sample in samples:
        try:
            jpeg, image = _read_source_image(sample)
        except SourceError as exc:
            if not lenient:
                raise SourceError(f"{exc}; replace the file, or pass --lenient to leave the image out") from None
            reason = str(exc).partition(": ")[2]
            skipped.append(schema.Skip(sample.id, sample.image_path.name, reason).to_json())
            continue
        image.setflags(write=False)
        hashes.append(PixelHashes(image))
        base_records.append(_encode_base(sample, jpeg, image, hashes[-1]))
        sources.append(
            SourceSample(
                sample.id,
                sample.index,
                image,
                sample.pt3d_68.T.copy(),
                sample.pose_para,
                _WORKER["region_fn"],
                sample.shape_para,
                sample.exp_para,
            )
        )
    prime_face_geometry(sources)
    for src, src_hashes in zip(sources, hashes, strict=True):
        for builder in builders:
            for config in builder.CONFIGS:
                seed32 = sample_seed(seed, builder.name, config.name, src.id)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    rec = _encode_example(builder, config, src, src_hashes, seed32)
                split = builder.split_name(config)
                notes.extend(_note(split, src.id, str(w.message)) for w in caught)
                split_records.setdefault(split, []).append(rec)
    payload = {
        "identity_sha256": identity_sha,
        "block": block,
        "base": base_records,
        "splits": split_records,
        "warnings": notes,
        "skipped": skipped,
        "provenance": _WORKER["provenance"],
    }
    final = journal / f"block-{block:05d}.pkl"
    fd, tmp = tempfile.mkstemp(dir=journal, prefix=f".block-{block:05d}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, final)
    return block


def _note(split: str, sid: str, message: str) -> str:
    """A builder warning as listed: ``split/id: message`` (a message that starts with the id keeps it once)."""
    text = message[len(sid) + 2 :] if message.startswith(f"{sid}: ") else message
    return f"{split}/{sid}: {text}"


# --------------------------------------------------------------------------------------------------------------
# driver side
def _check_out_dir(out: Path, version: str) -> None:
    """A folder holding another data version's store is refused (whether ``out`` is a folder at all is
    :func:`aflw_occ.outdir.prepare_out`'s check)."""
    for other in sorted(out.glob("aflw-occ-*.h5")) if out.is_dir() else []:
        if other.name != store_filename(version):
            raise BuildError(
                f"{out}: already holds {other.name} (another data version); use a new output folder for {version}"
            )


def _journal_blocks(journal: Path) -> set[int]:
    return {int(p.stem.split("-")[1]) for p in journal.glob("block-*.pkl")}


def load_source(plan: BuildPlan) -> AFLW2000_3D:
    from .paths import find_data

    eval_dir = plan.eval_dir
    if eval_dir is None:  # the one discovery rule (aflw_occ.paths); only a folder that holds the name list counts
        found = find_data("eval_dir", source=plan.source)
        eval_dir = found if found is not None and (found / "AFLW2000-3D_crop.list").is_file() else None
    ds = AFLW2000_3D(plan.source, eval_dir, strict=plan.strict, ids=plan.ids, checksums=source_checksums(plan))
    plan.skipped = [schema.Skip(Path(f).stem, Path(f).name, reason) for f, reason in ds.skipped]
    return ds


def source_checksums(plan: BuildPlan) -> dict[str, str] | None:
    """The data version's source checksums (None for a synthetic source); notes which in ``plan.source_record``."""
    from .store import checksums

    if (plan.source / checksums.SYNTHETIC_MARKER).is_file():
        plan.source_record["checksums"] = "not checked (synthetic source)"
        return None
    name = get_version(plan.version).checksums
    plan.source_record["checksums"] = name
    return checksums.load(name)


def default_region_fn(plan: BuildPlan) -> RegionFn | None:
    """The mesh face region P when the mesh is available (``--bfm`` folder, or the source's ``Code/`` folder),
    else None (the landmark hull; e.g. the synthetic demo source, which has no mesh). The mesh itself is loaded where
    it is used (each worker, or this process for a 1-worker build)."""
    from .geometry import MODEL_FILE

    if plan.options.bfm is None and not (plan.source / "Code" / MODEL_FILE).is_file():
        return None
    if plan.options.bfm is not None:
        return MeshFaceRegion(bfm_dir=plan.options.bfm)
    return MeshFaceRegion(aflw_root=plan.source)


def build(plan: BuildPlan) -> BuildResult:
    """Run (or resume, or shard) a build. Returns where the store is once every block exists."""
    dv = get_version(plan.version)
    if dv.retired:
        raise BuildError(f"data version {plan.version} cannot be built by this aflw-occ: {dv.retired}")
    for name in plan.subsets:
        want = dv.builders.get(name)
        have = get_builder(name).VERSION
        if want is None:
            raise BuildError(f"data version {plan.version} has no subset {name!r}")
        if want != have:
            raise BuildError(
                f"data version {plan.version} needs {name} builder {want}, this aflw-occ has {have}; "
                f"install the matching aflw-occ release"
            )
    k, n = plan.shard
    if not (n >= 1 and 1 <= k <= n):
        raise BuildError(f"--shard {k}/{n}: expected k/n with 1 ≤ k ≤ n")
    plan.options.source = plan.source
    if plan.region_fn is None:
        plan.region_fn = default_region_fn(plan)
    _check_out_dir(plan.out, plan.version)
    new_out = prepare_out(plan.out)
    lock = OutLock(plan.out, shared=plan.shard != (1, 1))  # shards of one build may run at once
    try:
        with lock:
            check_overwrite(plan.out, plan.version, plan.overwrite)
            if not lock.shared:
                remove_leftovers(plan.out, plan.version)
            try:
                return _build(plan, lock)
            finally:  # also after a failure: what this build (or a killed worker of it) left half-written
                if not lock.shared:
                    remove_leftovers(plan.out, plan.version)
    finally:
        if new_out:  # this build made the folder: gone again if nothing is in it (a failure before any block)
            with contextlib.suppress(OSError):
                plan.out.rmdir()


def _build(plan: BuildPlan, lock: OutLock) -> BuildResult:
    k, n = plan.shard
    made: dict[str, Path | None] = {}  # what this build created: removed again if it fails before any block is done
    with contextlib.ExitStack() as stack:
        stack.push(lambda exc_type, *_: _drop_empty_journal(made, failed=exc_type is not None))  # runs last
        pool = None
        if plan.workers > 1:  # the workers start (imports, builder resources) while this process reads the source
            preload = (__name__, *(BUILDERS[name].split(":")[0] for name in plan.subsets))
            pool = stack.enter_context(process_pool(plan.workers, _init_worker, _worker_args(plan), preload))
            stack.push(lambda exc_type, *_: stop_pool(pool, failed=exc_type is not None))
            starter = threading.Thread(target=_start_workers, args=(pool, plan.workers), daemon=True)
            starter.start()
            stack.callback(starter.join)
        ds = load_source(plan)
        if len(ds) == 0:
            raise SourceError(f"{plan.source}: no usable samples")
        identity = plan.identity(ds.ids, ds.eval_dir)
        identity_sha = sha256_bytes(json.dumps(identity, sort_keys=True).encode())
        journal = _open_journal(plan, identity)
        if plan.shard == (1, 1):  # other shards may share the journal
            made.update(journal=journal)
        samples = list(ds)
        blocks = [samples[i : i + plan.block_size] for i in range(0, len(samples), plan.block_size)]
        mine = [b for b in range(len(blocks)) if b % n == k - 1]
        todo = [b for b in mine if b not in _journal_blocks(journal)]
        from .store.writer import StoreWriter, assemble  # h5py: not needed in the workers

        # one shard of several: the store is written by whichever run finds the journal complete
        writer = stack.enter_context(StoreWriter(plan, identity)) if plan.shard == (1, 1) else None
        _run_blocks(plan, blocks, todo, journal, identity_sha, pool, writer)
        if writer is not None:
            done = _finish(writer.finish, journal)
            return BuildResult(done.path, len(blocks), len(blocks), done.skipped, done.counts, len(todo),
                               done.warnings, done.notes_file)  # fmt: skip

    done_blocks = _journal_blocks(journal)
    if len(done_blocks) < len(blocks):
        return BuildResult(None, len(done_blocks), len(blocks), plan.skipped, {}, len(todo))
    lock.exclusive()  # the shard that assembles owns the folder; a shard finishing at the same time waits here
    if not journal.is_dir():  # that other shard assembled the store meanwhile
        final = plan.out / store_filename(plan.version)
        return BuildResult(final if final.is_file() else None, len(blocks), len(blocks), plan.skipped, {}, len(todo))
    remove_leftovers(plan.out, plan.version)  # the other shards' (now that they are done)
    done = _finish(lambda: assemble(plan, journal, len(blocks), identity), journal)
    return BuildResult(done.path, len(blocks), len(blocks), done.skipped, done.counts, len(todo), done.warnings,
                       done.notes_file)  # fmt: skip


def _finish(write: Callable[[], Finished], journal: Path) -> Finished:
    """Write the store (``write``), then remove the journal; also when every image was left out (nothing to
    resume)."""
    from .store.writer import NothingLeft

    try:
        done = write()
    except NothingLeft:
        shutil.rmtree(journal, ignore_errors=True)
        raise
    shutil.rmtree(journal)
    return done


def _drop_empty_journal(made: dict[str, Path | None], failed: bool) -> None:
    """After a failed build (its workers stopped): a journal without a finished block is removed (nothing to resume),
    and so is the output folder when this build created it and it is empty."""
    journal, out = made.get("journal"), made.get("out")
    if not failed or journal is None or not journal.is_dir() or _journal_blocks(journal):
        return
    shutil.rmtree(journal, ignore_errors=True)
    if out is not None and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def _open_journal(plan: BuildPlan, identity: dict[str, Any]) -> Path:
    """The build's journal folder: reused on ``--resume`` (or by another shard) when it belongs to the same build,
    started afresh otherwise; an interrupted build with other options is an error."""
    journal = plan.out / f".journal-{plan.version}"
    ident_file = journal / "identity.json"
    if journal.exists():
        old = json.loads(ident_file.read_text()) if ident_file.is_file() else None
        if not plan.resume and plan.shard == (1, 1):
            shutil.rmtree(journal)
        elif old != identity:
            differ = _differences(old or {}, identity)
            raise BuildError(
                f"{journal}: holds an interrupted build with other options ({', '.join(differ)}); "
                "rerun without --resume to start over"
            )
    journal.mkdir(parents=True, exist_ok=True)
    if not ident_file.is_file():
        tmp = journal / f".identity.{os.getpid()}.tmp"  # shards may start at the same time
        tmp.write_text(json.dumps(identity, sort_keys=True, indent=1))
        os.replace(tmp, ident_file)
    return journal


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """The keys whose values differ (``inputs.eval_dir``: nested dicts by their inner keys)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key == "inputs":
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def _worker_args(plan: BuildPlan) -> tuple[Any, ...]:
    return (plan.subsets, plan.options, plan.region_fn)


def _ready() -> None:
    """A no-op task: submitting it makes the pool start a worker now."""


def _start_workers(pool: Any, n: int) -> None:
    """Start the pool's ``n`` workers now. Run in a thread: starting a forkserver worker waits until the server has
    imported the preloaded modules (about 0.4 s), and this process reads the source meanwhile."""
    with contextlib.suppress(RuntimeError):  # the build failed and shut the pool down meanwhile
        for _ in range(n):
            pool.submit(_ready)


def _run_blocks(
    plan: BuildPlan,
    blocks: list[list[Sample]],
    todo: list[int],
    journal: Path,
    ident: str,
    pool: Any = None,
    writer: StoreWriter | None = None,
) -> None:
    """Compute the ``todo`` blocks: in ``pool`` (a started worker pool) or, without one, in this process. With a
    ``writer``, every block (those already in the journal too) is appended to it in block order as soon as it and all
    blocks before it are done."""
    from tqdm import tqdm

    from .store.writer import load_block

    bar = tqdm(total=sum(len(blocks[b]) for b in todo), unit="img", disable=not plan.progress, desc="build")
    seed, lenient = plan.options.seed, not plan.strict
    done = set(range(len(blocks))) - set(todo)

    def finished(b: int | None) -> None:
        if b is not None:
            done.add(b)
            bar.update(len(blocks[b]))
        while writer is not None and writer.blocks in done:
            writer.add(load_block(journal, writer.blocks, ident))

    finished(None)  # blocks already in the journal (--resume)
    if pool is None:
        _init_worker(*_worker_args(plan))
        for b in todo:
            _process_block(b, blocks[b], journal, ident, seed, lenient)
            finished(b)
    else:
        futures = {pool.submit(_process_block, b, blocks[b], journal, ident, seed, lenient): b for b in todo}
        for fut in as_completed(futures):
            fut.result()
            finished(futures[fut])
    bar.close()
