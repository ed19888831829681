"""The report's sections, in one registry: the page is the registered sections in ``order``.

A section is a function ``ReportContext -> str`` (its HTML body, below its ``<h2>``) registered with
:func:`section`; it always renders (a note when it has nothing to show), so a reader can tell "no effect" from
"not computed". ``units`` says how many progress-bar steps it reports through ``ctx.step()``. A new protocol that
``evaluate`` scores appears in the protocol tables, drops and CED curves by itself (they read
:data:`aflw_occ.protocols.REGISTRY` and ``scores.csv``); a new kind of result (e.g. another box protocol's own files)
is one more ``@section(...)`` function in a module listed in :data:`SECTION_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from .context import ReportContext

__all__ = ["Section", "SECTIONS", "SECTION_MODULES", "section", "sections"]

#: modules whose import registers sections
SECTION_MODULES: tuple[str, ...] = (
    "aflw_occ.report.sections_scores",
    "aflw_occ.report.sections_occlusion",
    "aflw_occ.report.sections_landmarks",
    "aflw_occ.report.sections_samples",
)


@dataclass(frozen=True)
class Section:
    """One part of the page: anchor ``key``, heading ``title``, position ``order``, body ``render(ctx)`` and the
    number of progress steps ``units(ctx)`` it takes."""

    key: str
    title: str
    order: int
    render: Callable[[ReportContext], str]
    units: Callable[[ReportContext], int]


SECTIONS: dict[str, Section] = {}


def section(
    key: str, title: str, order: int, units: Callable[[ReportContext], int] | None = None
) -> Callable[[Callable[[ReportContext], str]], Callable[[ReportContext], str]]:
    """Register a section function (decorator)."""

    def add(fn: Callable[[ReportContext], str]) -> Callable[[ReportContext], str]:
        if key in SECTIONS:
            raise ValueError(f"report section {key} is registered twice")
        SECTIONS[key] = Section(key, title, order, fn, units or (lambda ctx: 1))
        return fn

    return add


def sections() -> list[Section]:
    """Every registered section in page order (importing :data:`SECTION_MODULES` first)."""
    for m in SECTION_MODULES:
        importlib.import_module(m)
    return sorted(SECTIONS.values(), key=lambda s: (s.order, s.key))
