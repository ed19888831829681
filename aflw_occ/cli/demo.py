"""``aflw-occ demo``: the whole pipeline on a synthetic mini-source, no download needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

#: a folder the demo may replace holds this file (so `--out ~` never deletes a user's folder)
DEMO_MARKER = ".aflw-occ-demo"
DEMO_LAYOUT = frozenset({DEMO_MARKER, "build", "source", "sheet.png"})


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Demo folder (replaced on the next run; refused if it holds anything else).",
)
@click.option("--n", type=int, default=24, show_default=True, help="Synthetic images to draw.")
@click.option("--workers", type=int, default=2, show_default=True, help="Build worker processes.")
def demo(out: Path, n: int, workers: int) -> None:
    """Draw a synthetic AFLW2000-3D-style source, build CSOD/NSOD/RandOcc, train and score a small model.

    The model (aflw_occ.patch_regression) looks at the pixels: it is trained on other procedural faces and scored on
    every split beside the mean shape, so occlusion shows in the numbers; a contact sheet is written too."""
    from ..demo import run_demo

    if out.exists() and any(out.iterdir()):
        # an earlier demo's folder: the marker, or (demos before the marker) only what a demo writes
        earlier = (out / DEMO_MARKER).is_file() or {p.name for p in out.iterdir()} <= DEMO_LAYOUT
        if not earlier:
            raise click.UsageError(
                f"{out} exists and is not an earlier demo folder: give an empty or new --out (the demo replaces it)"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("made by aflw-occ demo; the next demo run replaces this folder\n")
    for line in run_demo(out, n=n, workers=workers):
        click.echo(line)
