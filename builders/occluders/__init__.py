"""Occluder libraries for NSOD: the default pack, user folders, NatOcc layout, COCO, RandOcc.

``load_library(["default", "folder:my_hands"])`` parses ``--occluders`` specs and combines the libraries; see
:mod:`.registry` for the spec grammar and the library kinds, :mod:`.library` for the library type, :mod:`.tuxpaint`
for the default pack's selection criterion, :mod:`.cc0_pack` for the committed CC0 cut-outs and :mod:`.randocc` for
the RandOcc blobs.
"""

from __future__ import annotations

from .library import LibraryKind, Occluder, OccluderError, OccluderLibrary, Rejected, describe
from .registry import LIBRARIES, LibrarySpec, load_library, load_spec, parse_spec

__all__ = [
    "LIBRARIES",
    "LibraryKind",
    "LibrarySpec",
    "Occluder",
    "OccluderError",
    "OccluderLibrary",
    "Rejected",
    "describe",
    "load_library",
    "load_spec",
    "parse_spec",
]
