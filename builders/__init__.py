"""Subset builders (installed as ``aflw_occ.builders``): one module per subset, each only says what it draws."""

from __future__ import annotations

import importlib

from .base import Builder, BuilderConfig, BuildOptions, Example, SourceSample

# subset name → "module:class", imported lazily (NOD/NSOD pull heavier dependencies)
BUILDERS: dict[str, str] = {
    "csod": "aflw_occ.builders.csod:CSOD",
    "nod": "aflw_occ.builders.nod:NOD",
    "nsod": "aflw_occ.builders.nsod:NSOD",
    "randocc": "aflw_occ.builders.nsod:RandOcc",
}


def get_builder(name: str) -> type[Builder]:
    """The builder class of a subset name; ValueError listing the known subsets otherwise."""
    if name not in BUILDERS:
        raise ValueError(f"unknown subset {name!r}; known: base, {', '.join(BUILDERS)}")
    module, attr = BUILDERS[name].split(":")
    return getattr(importlib.import_module(module), attr)


__all__ = ["BUILDERS", "BuildOptions", "Builder", "BuilderConfig", "Example", "SourceSample", "get_builder"]
