"""``aflw-occ verify``: check a built store's pixels and records against a manifest."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--manifest", type=click.Path(path_type=Path), help="Manifest folder (default: the embedded one).")
@click.option(
    "--workers", type=int, default=os.cpu_count() or 1, show_default=True, help="Processes that decode and hash rows."
)
@click.option("--split", "splits", multiple=True, help="Only these splits: a comma list, repeatable (default: all).")
@click.option("--partial", is_flag=True, help="The store holds only some of the manifest's splits or samples.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
def verify(
    store: Path, manifest: Path | None, workers: int, splits: tuple[str, ...], partial: bool, progress: bool | None
) -> None:
    """Check every sample of STORE (file or build folder) against its embedded manifest and --manifest.

    Pixels, masks, flags, drawn parameters, fields and ground truth are recomputed or re-hashed row by row.
    Exit 0: no mismatch; 1: mismatches (listed by split/sample); 2: the store or manifest cannot be read
    (one error: line).
    """
    from ..store.verify import verify as run
    from .options import comma_list

    wanted = comma_list(splits) or None
    report = run(store, manifest, workers=workers, splits=wanted, partial=partial, progress=progress)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)
