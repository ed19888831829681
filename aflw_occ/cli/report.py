"""``aflw-occ report`` (self-contained HTML) and ``aflw-occ leaderboard`` (README block) from results folders."""

from __future__ import annotations

from pathlib import Path

import click

from ..report.context import WORST_BY


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="HTML file to write.")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Store (or AFLW2000-3D folder) the results were computed on (default: the path recorded in meta.json).",
)
@click.option(
    "--worst", "worst_k", default=4, show_default=True, type=click.IntRange(min=0), help="Worst samples per split."
)
@click.option(
    "--worst-by",
    type=click.Choice(list(WORST_BY)),
    default="increase",
    show_default=True,
    help="Rank occluded samples by their increase over the clean image, or by NME.",
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the report's bootstrap."
)
@click.option(
    "--n-boot", default=1000, show_default=True, type=click.IntRange(min=1), help="Bootstrap resamples of the drops."
)
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
def report(
    results: tuple[Path, ...],
    out: Path,
    data: Path | None,
    worst_k: int,
    worst_by: str,
    seed: int,
    n_boot: int,
    progress: bool | None,
) -> None:
    """One self-contained HTML report from one or more `aflw-occ evaluate` results folders: every protocol's
    scores, the paired drop from clean per split, errors by covered fraction, occluder and landmark, worst samples."""
    from ..report import ReportOptions, build_report

    options = ReportOptions(worst_k=worst_k, worst_by=worst_by, seed=seed, n_boot=n_boot)
    path = build_report(list(results), out, data=data, options=options, progress=progress)
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--readme",
    type=click.Path(path_type=Path),
    help="Rewrite the <!-- leaderboard:start --> … <!-- leaderboard:end --> block of this file.",
)
def leaderboard(results: tuple[Path, ...], readme: Path | None) -> None:
    """The leaderboard (Markdown) of results folders; printed, or written into a README's marked block."""
    from ..leaderboard import leaderboard_markdown, load_results, update_readme

    loaded = [load_results(p) for p in results]
    if readme is None:
        click.echo(leaderboard_markdown(loaded), nl=False)
        return
    update_readme(readme, loaded)
    click.echo(f"updated {readme}")
