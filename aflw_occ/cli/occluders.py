"""``aflw-occ occluders``: inspect NSOD occluder libraries."""

from __future__ import annotations

import click

from . import FullHelpGroup


@click.group(cls=FullHelpGroup)
def occluders() -> None:
    """Inspect occluder libraries (the specs accepted by ``build --occluders``)."""


@occluders.command("list")
@click.argument("specs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print items and rejections as JSON.")
@click.option("--items", is_flag=True, help="Also print every item (id, category, source).")
def list_(specs: tuple[str, ...], as_json: bool, items: bool) -> None:
    """Print what each library SPEC holds: counts per category, rejected files and why.

    SPEC: default | default:DIR|DEB | cc0 | tuxpaint:DIR|DEB | folder:DIR | natocc:IMGDIR,MASKDIR |
    coco:ANNOTATIONS.json,IMAGEDIR[,CAT+CAT...]
    """
    from ..builders.occluders.library import as_json as to_json
    from ..builders.occluders.library import describe, load_spec

    for spec in specs:
        lib = load_spec(spec, strict=False)
        if as_json:
            click.echo(to_json(lib))
            continue
        click.echo(describe(lib))
        if items:
            for o in lib:
                click.echo(f"    {o.id}  [{o.category}]  {o.source}")
