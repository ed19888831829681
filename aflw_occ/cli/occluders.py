"""``aflw-occ occluders``: inspect NSOD occluder libraries (the SPEC forms in the help come from the registry)."""

from __future__ import annotations

import click

from ..builders.occluders.library import as_json as to_json
from ..builders.occluders.library import describe
from ..builders.occluders.registry import load_spec, spec_forms
from . import FullHelpGroup


@click.group(cls=FullHelpGroup)
def occluders() -> None:
    """Inspect occluder libraries (the specs accepted by ``build --occluders``)."""


@occluders.command(
    "list",
    help="Print what each library SPEC holds: counts per category, rejected files and why.\n\nSPEC: "
    + " | ".join(spec_forms()),
)
@click.argument("specs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print items and rejections as JSON.")
@click.option("--items", is_flag=True, help="Also print every item (id, category, source).")
def list_(specs: tuple[str, ...], as_json: bool, items: bool) -> None:
    for spec in specs:
        lib = load_spec(spec, strict=False)
        if as_json:
            click.echo(to_json(lib))
            continue
        click.echo(describe(lib))
        if items:
            for o in lib:
                click.echo(f"    {o.id}  [{o.category}]  {o.source}")
