"""``aflw-occ demo``: the whole pipeline on a synthetic mini-source, no download needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True)
@click.option("--n", type=int, default=24, show_default=True, help="Synthetic images to draw.")
@click.option("--workers", type=int, default=2, show_default=True)
def demo(out: Path, n: int, workers: int) -> None:
    """Draw a synthetic AFLW2000-3D-style source, build CSOD/NSOD/RandOcc, score a simple predictor, write a sheet."""
    from ..demo import run_demo

    if out.exists():
        shutil.rmtree(out)
    for line in run_demo(out, n=n, workers=workers):
        click.echo(line)
