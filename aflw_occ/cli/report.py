"""``aflw-occ report`` (self-contained HTML) and ``aflw-occ leaderboard`` (README block) from results folders."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="HTML file to write.")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Data the results were computed on (default: the path recorded in each meta.json).",
)
@click.option(
    "--worst", "worst_k", default=8, show_default=True, type=click.IntRange(min=0), help="Worst samples per split."
)
def report(results: tuple[Path, ...], out: Path, data: Path | None, worst_k: int) -> None:
    """One self-contained HTML report from one or more `aflw-occ evaluate` results folders."""
    from ..report import build_report

    path = build_report(list(results), out, data=data, worst_k=worst_k)
    click.echo(f"wrote {path}")


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
