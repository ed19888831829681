"""Option conventions shared by every command: one name per concept, comma lists, deprecated spellings.

Names (README, *Command-line reference*):

* ``--subset`` — what a builder makes (``csod``, ``nod``, ``nsod``, ``randocc``; ``base`` = the clean images): only
  ``build`` takes it.
* ``--split`` — a named set of rows that is shown, scored, verified or exported (``clean``, ``csod-single``, ``nod``,
  …): ``show``, ``score``, ``evaluate``, ``verify``, ``export-table``.

An option that accepts several values takes a comma list and may be repeated (``--split clean,nod --split nsod``).
An earlier spelling (``build --subsets``, ``show --subset``, ``evaluate --splits``) still works as a hidden alias
that prints one ``warning:`` line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])

#: ``ctx.meta`` key of the values given through deprecated spellings: {target parameter: (old, new, value)}
_META = "aflw_occ.deprecated_aliases"


def comma_list(values: str | Iterable[str] | None) -> list[str]:
    """The names of a comma list, or of several (a repeated option): stripped, empties dropped, order kept."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [name.strip() for item in items for name in item.split(",") if name.strip()]


def deprecated_alias(old: str, new: str, target: str, *, multiple: bool = False, note: str = "") -> Callable[[F], F]:
    """Decorate a command (below ``@click.command()``) with the hidden option ``old``, an earlier spelling of
    ``new``: a value given through it goes to the parameter ``target`` of ``new``, with one warning on stderr.
    Giving both is a usage error. ``multiple`` must match ``new``'s."""

    def remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value == ():
            return
        why = f" ({note})" if note else ""
        click.echo(f"warning: {old} is a deprecated spelling of {new}{why}; use {new}", err=True)
        ctx.meta.setdefault(_META, {})[target] = (old, new, value)

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def command(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            given = ctx.meta.get(_META, {}).get(target)
            if given is not None:
                old_flag, new_flag, value = given
                if ctx.get_parameter_source(target) not in (ParameterSource.DEFAULT, None):
                    raise click.UsageError(f"{old_flag} is the deprecated spelling of {new_flag}: give {new_flag} only")
                kwargs[target] = value
            return f(*args, **kwargs)

        option = click.option(
            old, f"deprecated_{target}", hidden=True, expose_value=False, callback=remember, multiple=multiple
        )
        return option(command)  # type: ignore[return-value]

    return decorate
