"""``aflw-occ detect STORE --detector NAME --out DIR``: run a face detector over every split of a built store."""

from __future__ import annotations

from pathlib import Path

import click

from ..detection.base import DETECTORS
from .options import comma_list


@click.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.option(
    "--detector",
    required=True,
    type=click.Choice(list(DETECTORS)),
    help="; ".join(f"{d.name}: {d.description} (needs {d.needs})" for d in DETECTORS.values()),
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the detection files.")
@click.option(
    "--split", "splits", multiple=True, help="Splits to detect on: a comma list (clean,nsod), repeatable; default: all."
)
@click.option("--resume", is_flag=True, help="Keep the splits whose detection file is already in --out (same run).")
@click.option("--overwrite", is_flag=True, help="Replace detection files of another detector or data in --out.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
def detect(
    store: Path, detector: str, out: Path, splits: tuple[str, ...], resume: bool, overwrite: bool, progress: bool | None
) -> None:
    """Detect faces in every sample of STORE (a built .h5 or its folder), match each to its ground-truth face, write
    OUT/<split>.npz per split and print the detection rate per split and yaw bin."""
    from ..detection.base import make_detector
    from ..detection.rates import rates_text
    from ..detection.run import detect_store

    found = make_detector(detector)  # a missing library or model file fails before any data is read
    names = ",".join(comma_list(splits)) or "all"
    run = detect_store(found, store, out, names, resume=resume, overwrite=overwrite, progress=progress)
    click.echo(rates_text(run, store))
    click.echo(f"wrote {out}")
