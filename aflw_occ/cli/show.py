"""``aflw-occ show``: a contact sheet of a split, with occluder outline and landmarks (occluded ones in red)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from .options import deprecated_alias


@click.command()
@deprecated_alias("--subset", "--split", "split", note="it takes a split name")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--split", default="csod-single", show_default=True, help="Split to show (clean, csod-double, nod, …).")
@click.option("--n", type=int, default=24, show_default=True, help="Number of samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Which samples (seeded choice).")
@click.option("--cols", type=int, default=6, show_default=True, help="Tiles per row of the sheet.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output PNG.")
def show(store: Path, split: str, n: int, seed: int, cols: int, out: Path) -> None:
    """Write a contact sheet of N samples of a split."""
    from ..sheet import annotate, grid, save_png
    from ..store import open_store

    with open_store(store) as st:
        sp = st.split(split)
        if len(sp) == 0:
            raise click.ClickException(f"split {split} is empty")
        rows = np.sort(np.random.default_rng(seed).choice(len(sp), size=min(n, len(sp)), replace=False))
        gt = sp.ground_truth()
        tiles = [
            annotate(
                sp.image(int(i)),
                gt.landmarks[i],
                None if gt.occluded is None else gt.occluded[i],
                sp.mask(int(i)),
                label=str(sp.ids[i]),
            )
            for i in rows
        ]
        save_png(out, grid(tiles, ncols=cols))
        click.echo(f"wrote {out}: {len(tiles)} samples of {split} (data version {st.version})")
