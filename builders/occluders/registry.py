"""``--occluders`` spec strings → occluder libraries, through the kinds the reader modules declare.

Spec grammar: ``KIND`` or ``KIND:ARG[,ARG...]``, one string per library; several specs combine (:func:`load_library`).
Each reader module declares its kind as a :class:`~.library.LibraryKind` named ``LIBRARY`` (its forms, a summary, how
many arguments it takes and how it loads); :data:`LIBRARIES` lists those modules in the order the help and the
README show them. The ``--occluders`` help (:func:`help_text`), the ``occluders list`` help and the README's
occluder-spec table (:func:`markdown_table`, checked by a test) are generated from the declarations.

Adding a library kind is one entry: write ``builders/occluders/<name>.py`` with a reader and
``LIBRARY = LibraryKind(...)``, add the module to :data:`LIBRARIES`, and regenerate the README table with
``python -m aflw_occ.builders.occluders README.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ... import registries
from . import cc0_pack, coco, default_pack, folder, natocc, tuxpaint
from .library import LibraryKind, OccluderError, OccluderLibrary

#: kind → its declaration, in the order the help and the README list them
LIBRARIES: dict[str, LibraryKind] = {
    m.LIBRARY.kind: m.LIBRARY for m in (default_pack, cc0_pack, tuxpaint, folder, natocc, coco)
}


@dataclass(frozen=True)
class LibrarySpec:
    """A parsed ``--occluders`` spec: ``kind`` and its arguments."""

    kind: str
    args: tuple[str, ...]
    text: str


def parse_spec(text: str) -> LibrarySpec:
    """Parse one spec string; :class:`OccluderError` naming the spec and its forms when it is malformed."""
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    declared = LIBRARIES.get(kind)
    if declared is None:
        raise OccluderError(
            f"occluder spec {text!r}: unknown library kind {kind!r} (expected one of {sorted(LIBRARIES)})"
        )
    args = tuple(a.strip() for a in rest.split(",")) if sep else ()
    if not declared.min_args <= len(args) <= declared.max_args or any(not a for a in args):
        raise OccluderError(f"occluder spec {text!r}: expected {declared.usage}")
    return LibrarySpec(kind, args, text)


def load_spec(spec: LibrarySpec | str, *, strict: bool = True) -> OccluderLibrary:
    """Load one library. ``strict``: user libraries raise on the first unusable file (else it is listed as rejected)."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    lib = LIBRARIES[spec.kind].load(spec.args, strict)
    lib.spec = spec.text
    return lib


def load_library(specs: Sequence[str] | str, *, strict: bool = True) -> OccluderLibrary:
    """Load and combine the libraries of several specs (``["default", "folder:my_hands"]``)."""
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        raise OccluderError("no occluder library given (use e.g. --occluders default)")
    libs = [load_spec(s, strict=strict) for s in specs]
    out = libs[0]
    for lib in libs[1:]:
        out = out + lib
    if not len(out):
        raise OccluderError(f"occluder libraries {' '.join(specs)!r} hold no usable occluder")
    return out


def spec_forms() -> tuple[str, ...]:
    """Every form of every kind: ``("default", "default:DIR|DEB", "cc0", ...)``."""
    return tuple(form for declared in LIBRARIES.values() for form in declared.forms)


def help_text() -> str:
    """The ``--occluders`` help of ``aflw-occ build``."""
    forms = " | ".join(spec_forms())
    return f"NSOD occluder library spec (repeat to combine): {forms}. README, 'Occluder libraries'."


def markdown_table() -> str:
    """The README's occluder-spec table: one row per kind (its forms, what it holds)."""
    rows = ["| spec | what |", "|---|---|"]
    for declared in LIBRARIES.values():
        forms = "<br>".join(f"`{form}`" for form in declared.forms)
        rows.append(f"| {registries.table_cell(forms)} | {registries.table_cell(declared.summary)} |")
    return "\n".join(rows)


MARKERS = ("<!-- occluder-specs:start -->", "<!-- occluder-specs:end -->")


def readme_block(text: str) -> str | None:
    """The table between the :data:`MARKERS` of a README text (None without them)."""
    return registries.readme_block(text, MARKERS)


def update_readme(path: str | Path) -> bool:
    """Rewrite the table between the :data:`MARKERS` of a README; True when it changed (OccluderError without them)."""
    return registries.update_readme_block(path, MARKERS, markdown_table(), OccluderError)
