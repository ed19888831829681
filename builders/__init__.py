"""Subset builders (installed as ``aflw_occ.builders``): one module per subset, each only says what it draws and
declares itself in the subset registry (:mod:`aflw_occ.builders.registry`)."""

from __future__ import annotations

from .base import Builder, BuilderConfig, BuildOptions, Example, SourceSample
from .registry import SUBSETS, Subset, get_builder

__all__ = [
    "SUBSETS",
    "BuildOptions",
    "Builder",
    "BuilderConfig",
    "Example",
    "SourceSample",
    "Subset",
    "get_builder",
]
