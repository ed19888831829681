"""The subsets a build can make (``aflw-occ build --subset NAME``), through a registry of builder declarations.

Each builder module declares its subset(s) as a :class:`Subset` — its ``--subset`` name, the :class:`Builder` class
that draws it, what it is and how many rows it has on AFLW2000-3D — and :data:`SUBSETS` maps the name to that
declaration as ``"module:attribute"``, in build order. Modules are imported only when a subset is built or the
table is generated (NOD and NSOD pull heavier dependencies); the names alone (``--subset`` parsing, the CLI help)
import nothing.

The ``--subset`` help (:func:`help_text`), the data version's subset list (``all``), a split's HDF5 group
(:func:`group_path`) and the README's split table (:func:`markdown_table`, checked by a test) come from the
declarations. A data version pins the version of each subset it contains (:mod:`aflw_occ.store.versions`).

Adding a subset is one entry: write ``builders/<name>.py`` with a :class:`Builder` subclass and
``SUBSET = Subset(name=..., builder=..., summary=..., rows=...)``, add ``"<name>": "aflw_occ.builders.<name>:SUBSET"``
to :data:`SUBSETS`, pin it in a new data version, and regenerate the README table with
``python -m aflw_occ.builders README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import registries
from .base import Builder

#: subset name → ``"module:attribute"`` of its :class:`Subset` (imported on first use), in build order
SUBSETS: dict[str, str] = {
    "csod": "aflw_occ.builders.csod:SUBSET",
    "nod": "aflw_occ.builders.nod:SUBSET",
    "nsod": "aflw_occ.builders.nsod:SUBSET",
    "randocc": "aflw_occ.builders.nsod:RANDOCC_SUBSET",
}
#: the clean images: always built, not a builder (HDF5 group ``/base``, split ``clean``)
BASE = "base"
#: the README table's row for the clean images
BASE_ROW = (
    "| `clean` (group `/base`) | the 2000 original images, JPEG bytes untouched, all ground truth | 2000 |"
)
#: the README block the split table is generated into
MARKERS = ("<!-- subsets:start -->", "<!-- subsets:end -->")


@dataclass(frozen=True)
class Subset:
    """What a builder module declares about its subset.

    Attributes:
        name: the ``--subset`` name (``csod``); also the HDF5 group of its splits.
        builder: the :class:`Builder` subclass that draws it (its ``name`` is ``name``).
        summary: what its samples are, one sentence (README table; Markdown).
        rows: its rows on AFLW2000-3D (README table), e.g. ``3 × 2000``.
        input_options: the :class:`BuildOptions` fields naming input files the builder reads (``occluders``,
            ``skin``): what those files hold now is part of a build's resume identity (:mod:`aflw_occ.fingerprint`).
        preload: modules a multi-worker build's forkserver imports before it forks the workers, so that state they
            load (e.g. compiled kernels) is loaded once and shared.
    """

    name: str
    builder: type[Builder]
    summary: str
    rows: str
    input_options: tuple[str, ...] = ()
    preload: tuple[str, ...] = ()

    @property
    def splits(self) -> tuple[str, ...]:
        """Its public split names, one per variant (``csod-single``, ``csod-double``, ``csod-column``)."""
        return tuple(self.builder.split_name(c) for c in self.builder.CONFIGS)


def module_of(name: str) -> str:
    """The module that declares subset ``name`` (without importing it)."""
    return SUBSETS[name].split(":")[0]


def subset(name: str) -> Subset:
    """The declaration of subset ``name`` (its module imported now); ValueError listing the known subsets."""
    target = SUBSETS.get(name)
    if target is None:
        raise ValueError(f"unknown subset {name!r}; known: {BASE}, {', '.join(SUBSETS)}")
    found = registries.load_declaration(target, Subset, name, key="name")
    if found.builder.name != name:
        raise TypeError(f"{target}: its builder draws {found.builder.name!r}, not {name!r}")
    return found


def get_builder(name: str) -> type[Builder]:
    """The builder class of a subset name; ValueError listing the known subsets otherwise."""
    return subset(name).builder


def subsets() -> list[Subset]:
    """Every registered subset, in registry order."""
    return [subset(n) for n in SUBSETS]


def group_path(split: str, names: tuple[str, ...]) -> str:
    """HDF5 group of a public split name among the subsets ``names``: ``clean`` → ``base``, ``csod-single`` →
    ``csod/single``; KeyError for a split none of them makes."""
    if split == "clean":
        return BASE
    for name in names:
        cls = get_builder(name)
        for config in cls.CONFIGS:
            if cls.split_name(config) == split:
                return f"{name}/{config.name}"
    raise KeyError(split)


def help_text() -> str:
    """The ``--subset`` help: every name, in registry order."""
    return (
        f"What to build: {BASE}, {', '.join(SUBSETS)} as a comma list (repeatable), or all (every subset of the "
        "data version)."
    )


def markdown_table() -> str:
    """The README's split table: the clean images, then one row per subset (its splits, what, rows)."""
    rows = ["| split | what | count |", "|---|---|---|", BASE_ROW]
    for s in subsets():
        rows.append(f"| {', '.join(f'`{x}`' for x in s.splits)} | {s.summary} | {s.rows} |")
    return "\n".join(rows)


def readme_block(text: str) -> str | None:
    """The table between the :data:`MARKERS` of a README text (None without them)."""
    return registries.readme_block(text, MARKERS)


def update_readme(path: str | Path) -> bool:
    """Rewrite the table between the :data:`MARKERS` of a README; True when it changed."""
    return registries.update_readme_block(path, MARKERS, markdown_table(), ValueError)

