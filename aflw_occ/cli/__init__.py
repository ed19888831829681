"""The ``aflw-occ`` command line. Commands are thin: they parse options and call the library.

Each command lives in its own module of this package and is registered in :data:`COMMANDS`.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback
from typing import Any, NoReturn

import click

from ..errors import AflwOccError, Interrupted

# command name → "module:attribute" (imported lazily so `aflw-occ score` never pays for torch or the builders)
COMMANDS: dict[str, str] = {
    "info": "aflw_occ.cli.info:info",
    "export": "aflw_occ.cli.export:export",
    "export-table": "aflw_occ.cli.export_table:export_table",
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
    "models": "aflw_occ.cli.models:models",
    "detect": "aflw_occ.cli.detect:detect",
}


class FullHelpGroup(click.Group):
    """A click group whose ``--help`` lists each sub-command with its whole one-line description, wrapped to the
    terminal, never cut off with ``...``."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1 << 16)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LazyGroup(FullHelpGroup):
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


#: set to 1 to see the traceback of an internal error
DEBUG_ENV = "AFLW_OCC_DEBUG"


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM (``kill PID``) stops a command the way Ctrl-C does: cleanup runs, then exit 128 + 15."""
    _terminate.signum = signum  # type: ignore[attr-defined]
    raise KeyboardInterrupt


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _interrupt_code() -> int:
    return 128 + getattr(_terminate, "signum", signal.SIGINT)


def main() -> None:
    """Console entry point: every failure is one ``error:`` line and an exit code (README, *Exit codes*):
    2 bad usage or input (including an output path that cannot be written), 1 internal error,
    130 interrupted (Ctrl-C; 143 for SIGTERM)."""
    from ..oserrors import describe_os_error

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(standalone_mode=False)
    except Interrupted as exc:
        _fail(str(exc), _interrupt_code())
    except (click.exceptions.Abort, KeyboardInterrupt):
        _fail("interrupted", _interrupt_code())
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if isinstance(exc, click.UsageError) and ctx else ""
        _fail(exc.format_message().replace("\n", " ") + hint, exc.exit_code)
    except AflwOccError as exc:
        if os.environ.get(DEBUG_ENV) == "1" and exc.__cause__ is not None:  # e.g. what a user's model raised
            traceback.print_exception(exc.__cause__)
        _fail(str(exc), exc.exit_code)
    except OSError as exc:  # disk full, read-only or missing folder, permissions: of a path the user gave
        _fail(describe_os_error(exc), 2)
    except Exception as exc:  # a bug: one line, the traceback on demand
        if os.environ.get(DEBUG_ENV) == "1":
            traceback.print_exc()
        _fail(
            f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            f"(please report it; {DEBUG_ENV}=1 shows the traceback)",
            1,
        )
