"""``aflw-occ build``: build the benchmark from an AFLW2000-3D folder into a versioned HDF5 store."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..builders.occluders.registry import help_text as occluders_help
from ..builders.registry import help_text as subset_help
from ..errors import AflwOccError
from ..skin.registry import DEFAULT_SEGMENTER
from ..skin.registry import help_text as skin_help
from ..store.versions import CURRENT_VERSION
from .options import comma_list, deprecated_alias

if TYPE_CHECKING:
    from ..pipeline import BuildPlan, BuildResult

HINT = "'--subset'"


def parse_subsets(text: str | tuple[str, ...], version: str = CURRENT_VERSION) -> tuple[str, ...]:
    """``--subset``: subset names (``base`` = the clean images, always built) as comma lists, or ``all`` = every
    subset of data ``version``, in the registry's order. Unknown, repeated or dropped names are errors."""
    from ..builders.registry import SUBSETS
    from ..store.versions import get_version

    of_version = [s for s in SUBSETS if s in get_version(version).builders]
    names = comma_list(text)
    if not names:
        raise click.BadParameter("empty; give base, one or more subsets, or all", param_hint=HINT)
    repeated = sorted({s for s in names if names.count(s) > 1})
    if repeated:
        raise click.BadParameter(f"{', '.join(repeated)} given more than once", param_hint=HINT)
    if "all" in names:
        if len(names) > 1:
            msg = f"`all` already means every subset of data version {version}; give it alone"
            raise click.BadParameter(msg, param_hint=HINT)
        return tuple(of_version)
    unknown = [s for s in names if s != "base" and s not in of_version]
    if unknown:
        raise click.BadParameter(
            f"unknown subset(s) {', '.join(unknown)}; data version {version} has: base, {', '.join(of_version)}, all",
            param_hint=HINT,
        )
    return tuple(s for s in of_version if s in names)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected k/n, e.g. 1/4") from None
    if not (n >= 1 and 1 <= k <= n):
        raise click.BadParameter(f"{text!r}: expected 1 ≤ k ≤ n")
    return k, n


def parse_ids(spec: str | None) -> tuple[str, ...] | None:
    if not spec:
        return None
    if spec.startswith("@"):
        path = Path(spec[1:])
        if not path.is_file():
            raise click.BadParameter(f"{path}: id list file does not exist")
        text = path.read_text().split()
    else:
        text = spec.split(",")
    return tuple(sorted({t.strip() for t in text if t.strip()}))


@click.command()
@deprecated_alias("--subsets", "--subset", "subsets", multiple=True)
@click.option("--source", type=click.Path(path_type=Path), required=True, help="AFLW2000-3D release folder.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option(
    "--subset",
    "subsets",
    multiple=True,
    default=("base,csod",),
    show_default=True,
    help=subset_help(),
)
@click.option("--version", "version", default=CURRENT_VERSION, show_default=True, help="Data version to build.")
@click.option("--seed", type=int, default=0, show_default=True, help="Global seed.")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default=True, help="Worker processes.")
@click.option("--resume", is_flag=True, help="Continue an interrupted build with the same options.")
@click.option("--overwrite", is_flag=True, help="Replace the store of this data version already in --out.")
@click.option("--shard", default="1/1", show_default=True, help="Compute only shard k of n (then run k=… for all).")
@click.option("--ids", "ids_spec", help="Build only these ids: a comma list, or @FILE with one id per line.")
@click.option("--eval-dir", type=click.Path(path_type=Path), help="3DDFA evaluation folder (re-annotations, boxes).")
@click.option("--lenient", is_flag=True, help="Skip corrupt or incomplete samples and report them.")
@click.option("--occluders", multiple=True, default=("default",), show_default=True, help=occluders_help())
@click.option("--skin", default=DEFAULT_SEGMENTER, show_default=True, help=skin_help())
@click.option("--bfm", type=click.Path(path_type=Path), help="3DDFA BFM folder for the NOD face region.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def build(
    source: Path,
    out: Path,
    subsets: tuple[str, ...],
    version: str,
    seed: int,
    workers: int,
    resume: bool,
    overwrite: bool,
    shard: str,
    ids_spec: str | None,
    eval_dir: Path | None,
    lenient: bool,
    occluders: tuple[str, ...],
    skin: str,
    bfm: Path | None,
    quiet: bool,
) -> None:
    """Build AFLW2000-3D-occlusion from an AFLW2000-3D folder."""
    from ..builders import BuildOptions
    from ..pipeline import BuildPlan
    from ..pipeline import build as run

    plan = BuildPlan(
        source=source,
        out=out,
        version=version,
        subsets=parse_subsets(subsets, version),
        options=BuildOptions(seed=seed, occluders=tuple(occluders), skin=skin, bfm=bfm),
        eval_dir=eval_dir,
        workers=max(1, workers),
        resume=resume,
        overwrite=overwrite,
        shard=parse_shard(shard),
        ids=parse_ids(ids_spec),
        strict=not lenient,
        progress=not quiet,
    )
    result = _run(plan, run)
    if result.path is None:
        click.echo(
            f"shard done: {result.blocks_done}/{result.blocks_total} blocks in the journal; run the other shards"
        )
    elif not result.splits:  # a shard that finished at the same time as the one that assembled the store
        click.echo(f"shard done: {result.path} was assembled by another shard")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in result.splits.items())
        click.echo(f"built {result.path} (data version {version}, seed {seed}): {counts}")
    for line in summary(result):
        click.echo(line, err=True)


def summary(result: BuildResult) -> list[str]:
    """At most two ``warning:`` lines: how many source images were left out (``--lenient``) and how many builder
    warnings there were, each with its first case and the file that lists them all."""
    where = f"; all listed in {result.notes_file}" if result.notes_file is not None else ""
    if result.path is None or not result.splits:  # a shard: the store's assembly lists them
        where = "; listed in the manifest folder's build-notes.txt once the store is assembled"
    lines = []
    if result.skipped:
        n = len(result.skipped)
        lines.append(f"warning: {n} source image{'s' * (n != 1)} left out (--lenient), first: {result.skipped[0]}"
                     f"{where}")  # fmt: skip
    if result.warnings:
        n = len(result.warnings)
        per_split: dict[str, int] = {}
        for w in result.warnings:
            split = w.split("/", 1)[0]
            per_split[split] = per_split.get(split, 0) + 1
        counts = ", ".join(f"{k} {v}" for k, v in per_split.items())
        lines.append(f"warning: {n} builder warning{'s' * (n != 1)} ({counts}), first: {result.warnings[0]}{where}")
    return lines


def _run(plan: BuildPlan, run: Callable[[BuildPlan], BuildResult]) -> BuildResult:
    """Run the build; an interrupt or a dead worker becomes one line saying what was kept and how to continue."""
    from concurrent.futures.process import BrokenProcessPool

    from ..errors import Interrupted, SourceError

    journal = plan.out / f".journal-{plan.version}"
    try:
        return run(plan)
    except SourceError as exc:  # a source image a worker could not decode: say what was kept
        kept = len(list(journal.glob("block-*.pkl"))) if journal.is_dir() else 0
        if not kept:
            raise
        raise SourceError(f"{exc} ({kept} finished block(s) kept: once the file is replaced, the same command with "
                          "--resume continues)") from None  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(f"build interrupted; {_continue_hint(journal)}") from None
    except BrokenProcessPool:
        raise WorkerDied(f"a worker process died (killed, or out of memory); {_continue_hint(journal)}") from None
    except OSError as exc:  # disk full, read-only: HDF5 does not always say which file
        from ..oserrors import describe_os_error

        where = "" if getattr(exc, "filename", None) else f"writing into {plan.out}: "
        raise AflwOccError(f"{where}{describe_os_error(exc)}") from None


def _continue_hint(journal: Path) -> str:
    kept = len(list(journal.glob("block-*.pkl"))) if journal.is_dir() else 0
    if kept:
        return f"{kept} finished block(s) kept in {journal}: re-run the same command with --resume to continue"
    return "nothing was kept: re-run the same command (--resume continues from finished blocks next time)"


class WorkerDied(AflwOccError):
    """A build worker ended abruptly (exit code 1: not bad input)."""

    exit_code = 1
