"""``aflw-occ info``: what a source folder holds."""

from __future__ import annotations

from pathlib import Path

import click

from ..source import AFLW2000_3D


@click.command()
@click.option("--source", type=click.Path(path_type=Path), required=True, help="AFLW2000-3D folder.")
@click.option("--lenient", is_flag=True, help="Skip bad files and report them instead of stopping.")
def info(source: Path, lenient: bool) -> None:
    """Load an AFLW2000-3D folder and print how many samples it holds."""
    ds = AFLW2000_3D(source, strict=not lenient)
    click.echo(f"{source}: {len(ds)} samples loaded, {len(ds.skipped)} skipped")
    if ds.skipped:
        click.echo(ds.report())
