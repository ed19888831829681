"""``aflw-occ build``: build the benchmark from an AFLW2000-3D folder into a versioned HDF5 store."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..store.versions import CURRENT_VERSION

ALL_SUBSETS = ("csod", "nod", "nsod")  # the benchmark; "randocc" is opt-in
ORDER = ("csod", "nod", "nsod", "randocc")


def parse_subsets(text: str) -> tuple[str, ...]:
    from ..builders import BUILDERS

    names = [s.strip() for s in text.split(",") if s.strip()]
    if "all" in names:
        return ALL_SUBSETS
    unknown = [s for s in names if s != "base" and s not in BUILDERS]
    if unknown:
        raise click.BadParameter(f"unknown subset(s) {', '.join(unknown)}; known: base, {', '.join(BUILDERS)}")
    return tuple(s for s in ORDER if s in names)


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
@click.option("--source", type=click.Path(path_type=Path), required=True, help="AFLW2000-3D release folder.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--subsets", default="base,csod", show_default=True, help="base,csod,nod,nsod,randocc; all=csod,nod,nsod")
@click.option("--version", "version", default=CURRENT_VERSION, show_default=True, help="Data version to build.")
@click.option("--seed", type=int, default=0, show_default=True, help="Global seed.")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default=True, help="Worker processes.")
@click.option("--resume", is_flag=True, help="Continue an interrupted build with the same options.")
@click.option("--shard", default="1/1", show_default=True, help="Compute only shard k of n (then run k=… for all).")
@click.option("--ids", "ids_spec", help="Build only these ids: a comma list, or @FILE with one id per line.")
@click.option("--eval-dir", type=click.Path(path_type=Path), help="3DDFA evaluation folder (re-annotations, boxes).")
@click.option("--lenient", is_flag=True, help="Skip corrupt or incomplete samples and report them.")
@click.option("--occluders", multiple=True, default=("default",), show_default=True, help="NSOD occluder library spec.")
@click.option("--skin", default="adaptive", show_default=True, help="NOD skin segmenter: adaptive|gmm|bisenet:PATH.")
@click.option("--bfm", type=click.Path(path_type=Path), help="3DDFA BFM folder for the NOD face region.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def build(
    source: Path,
    out: Path,
    subsets: str,
    version: str,
    seed: int,
    workers: int,
    resume: bool,
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
        subsets=parse_subsets(subsets),
        options=BuildOptions(seed=seed, occluders=tuple(occluders), skin=skin, bfm=bfm),
        eval_dir=eval_dir,
        workers=max(1, workers),
        resume=resume,
        shard=parse_shard(shard),
        ids=parse_ids(ids_spec),
        strict=not lenient,
        progress=not quiet,
    )
    result = run(plan)
    for f, reason in result.skipped:
        click.echo(f"skipped {f}: {reason}", err=True)
    for note in result.warnings:
        click.echo(f"warning: {note}", err=True)
    if result.path is None:
        click.echo(
            f"shard done: {result.blocks_done}/{result.blocks_total} blocks in the journal; run the other shards"
        )
        return
    counts = ", ".join(f"{k} {v}" for k, v in result.splits.items())
    click.echo(f"built {result.path} (data version {version}, seed {seed}): {counts}")
