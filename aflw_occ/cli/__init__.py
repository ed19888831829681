"""The ``aflw-occ`` command line. Commands are thin: they parse options and call the library.

Each command lives in its own module of this package and is registered in :data:`COMMANDS`.
"""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import AflwOccError

# command name → "module:attribute" (imported lazily so `aflw-occ score` never pays for torch or the builders)
COMMANDS: dict[str, str] = {
    "info": "aflw_occ.cli.info:info",
    "export": "aflw_occ.cli.export:export",
    "dsfnet": "aflw_occ.cli.dsfnet:dsfnet",
    "score": "aflw_occ.cli.score:score",
    "build": "aflw_occ.cli.build:build",
    "verify": "aflw_occ.cli.verify:verify",
    "show": "aflw_occ.cli.show:show",
    "demo": "aflw_occ.cli.demo:demo",
    "evaluate": "aflw_occ.cli.evaluate:evaluate",
    "report": "aflw_occ.cli.report:report",
    "leaderboard": "aflw_occ.cli.report:leaderboard",
    "occluders": "aflw_occ.cli.occluders:occluders",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when invoked."""

    registry: dict[str, str] = COMMANDS

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.registry)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.registry.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup)
@click.version_option(package_name="aflw-occ")
def cli() -> None:
    """aflw-occ: build AFLW2000-3D-occlusion, score face-alignment predictions, run DSFNet."""


def main() -> None:
    """Console entry point: bad input becomes a one-line error and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AflwOccError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
