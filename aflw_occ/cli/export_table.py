"""``aflw-occ export-table STORE --out FILE.parquet|.csv``: the per-sample metadata of a store as one table."""

from __future__ import annotations

from pathlib import Path

import click

from .options import comma_list


@click.command("export-table")
@click.argument("store", type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Table to write: FILE.csv, or FILE.parquet (needs pyarrow: pip install 'aflw-occ[parquet]').",
)
@click.option("--split", "splits", multiple=True, help="Only these splits: a comma list, repeatable (default: all).")
def export_table(store: Path, out: Path, splits: tuple[str, ...]) -> None:
    """Write one row per sample (id, split, pose, covered fraction, occluded landmarks, occluder, data version).

    Columns: id, split, source_id, pitch_deg, yaw_deg, roll_deg, covered_fraction, occluded_count,
    occluder_category, occluder_type, occluder_colour, every extra field (NOD: visible_rate), seed, data_version,
    manifest_sha256. Read it with pandas.read_csv / pandas.read_parquet.
    """
    from ..store import open_store
    from ..table import metadata_table, output_format, write_table

    output_format(out)  # a wrong suffix or a missing pyarrow fails before the store is read
    with open_store(store) as st:
        table = metadata_table(st, comma_list(splits) or None)
        write_table(table, out)
        counts = ", ".join(f"{k} {v}" for k, v in table["split"].value_counts(sort=False).items())
        click.echo(f"wrote {out}: {len(table)} rows ({counts}); data version {st.version}, manifest "
                   f"{st.manifest_sha256[:12]}")  # fmt: skip
