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
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

from .build_plan import (
    BuildError,
    BuildPlan,
    BuildResult,
    default_region_fn,
    load_source,
)
from .build_worker import init_worker, process_block
from .builders.registry import get_builder, module_of, subset
from .errors import SourceError
from .hashing import sha256_bytes
from .journal import journal_blocks, load_block, open_journal
from .outdir import OutLock, check_overwrite, prepare_out, remove_leftovers
from .parallel import process_pool, stop_pool
from .source import Sample
from .store.versions import get_version, store_filename
from .store.writer import Finished, NothingLeft, StoreWriter

__all__ = ["BuildError", "BuildPlan", "BuildResult", "build"]


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
            declared = (m for name in plan.subsets for m in subset(name).preload)
            preload = ("aflw_occ.build_worker", *(module_of(name) for name in plan.subsets), *declared)
            pool = stack.enter_context(process_pool(plan.workers, init_worker, _worker_args(plan), preload))
            stack.push(lambda exc_type, *_: stop_pool(pool, failed=exc_type is not None))
            starter = threading.Thread(target=_start_workers, args=(pool, plan.workers), daemon=True)
            starter.start()
            stack.callback(starter.join)
        ds = load_source(plan)
        if len(ds) == 0:
            raise SourceError(f"{plan.source}: no usable samples")
        identity = plan.identity(ds.ids, ds.eval_dir)
        identity_sha = sha256_bytes(json.dumps(identity, sort_keys=True).encode())
        journal = open_journal(plan, identity)
        if plan.shard == (1, 1):  # other shards may share the journal
            made.update(journal=journal)
        samples = list(ds)
        blocks = [samples[i : i + plan.block_size] for i in range(0, len(samples), plan.block_size)]
        mine = [b for b in range(len(blocks)) if b % n == k - 1]
        todo = [b for b in mine if b not in journal_blocks(journal)]
        # one shard of several: the store is written by whichever run finds the journal complete
        writer = stack.enter_context(StoreWriter(plan, identity)) if plan.shard == (1, 1) else None
        _run_blocks(plan, blocks, todo, journal, identity_sha, pool, writer)
        if writer is not None:
            done = _finish(writer.finish, journal)
            return BuildResult(done.path, len(blocks), len(blocks), done.skipped, done.counts, len(todo),
                               done.warnings, done.notes_file)  # fmt: skip

    done_blocks = journal_blocks(journal)
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


def assemble(plan: BuildPlan, journal: Path, n_blocks: int, identity: dict[str, Any]) -> Finished:
    """Write the store and its manifest from a complete journal (a sharded or resumed build's last step)."""
    with StoreWriter(plan, identity) as writer:
        for b in range(n_blocks):
            writer.add(load_block(journal, b, writer.identity_sha))
        return writer.finish()


def _finish(write: Callable[[], Finished], journal: Path) -> Finished:
    """Write the store (``write``), then remove the journal; also when every image was left out (nothing to
    resume)."""
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
    if not failed or journal is None or not journal.is_dir() or journal_blocks(journal):
        return
    shutil.rmtree(journal, ignore_errors=True)
    if out is not None and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


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
        init_worker(*_worker_args(plan))
        for b in todo:
            process_block(b, blocks[b], journal, ident, seed, lenient)
            finished(b)
    else:
        futures = {pool.submit(process_block, b, blocks[b], journal, ident, seed, lenient): b for b in todo}
        for fut in as_completed(futures):
            fut.result()
            finished(futures[fut])
    bar.close()
