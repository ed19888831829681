"""What every registry shares (subsets, occluder libraries, segmenters, adapters, detectors): a declaration named as
``"package.module:attribute"`` and imported only when it is needed, so that listing the names (``--help``) imports no
heavy dependency; and the README tables generated from the declarations, kept between two marker comments."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, TypeVar

from .atomic import write_text_atomic

#: the two HTML comments around a generated README block
Markers = tuple[str, str]
T = TypeVar("T")


def load_target(target: str) -> Any:
    """The object ``"package.module:attribute"`` names (its module imported now)."""
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def load_declaration(target: str, cls: type[T], name: str, key: str = "kind") -> T:
    """The declaration ``target`` names (:func:`load_target`), checked to be a ``cls`` whose ``key`` attribute is
    ``name``: a registry entry that points at the wrong object is a TypeError naming the entry."""
    found = load_target(target)
    if not isinstance(found, cls) or getattr(found, key) != name:
        raise TypeError(f"{target} is not the {cls.__name__} declared for {name!r}")
    return found


def table_cell(text: str) -> str:
    """``text`` as one cell of a Markdown table: its ``|`` escaped."""
    return text.replace("|", "\\|")


def readme_block(text: str, markers: Markers) -> str | None:
    """The block between ``markers`` in a README text, without its surrounding newlines (None without the markers)."""
    start, end = text.find(markers[0]), text.find(markers[1])
    if start < 0 or end < start:
        return None
    return text[start + len(markers[0]) : end].strip("\n")


def update_readme_block(
    path: str | Path, markers: Markers, block: str, error: type[Exception] = ValueError
) -> bool:
    """Rewrite the block between ``markers`` of the README at ``path`` to ``block`` (atomically); True when it
    changed. ``error`` (the caller's error type) when the README has no such block."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    old = readme_block(text, markers)
    if old is None:
        raise error(f"{p}: no {markers[0]} … {markers[1]} block")
    if old == block:
        return False
    start = text.index(markers[0]) + len(markers[0])
    write_text_atomic(p, text[:start] + "\n" + block + "\n" + text[text.index(markers[1]) :])
    return True
