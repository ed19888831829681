"""The default NSOD occluder library (``default`` / ``default:DIR|DEB``): the selected tuxpaint stamps plus the
committed CC0 pack.

The stamps come from ``DIR`` (a stamps folder, a ``dpkg -x`` root or the ``.deb`` itself), else from
:func:`.tuxpaint.default_tuxpaint_path` (``$AFLW_OCC_SHARED/occluders/tuxpaint-stamps-default`` or an installed
``/usr/share/tuxpaint/stamps``).
"""

from __future__ import annotations

from pathlib import Path

from .cc0_pack import read_cc0
from .library import LibraryKind, OccluderLibrary
from .tuxpaint import default_tuxpaint_path, read_tuxpaint


def read_default(stamps: Path | None = None) -> OccluderLibrary:
    """The selected tuxpaint stamps found at ``stamps`` (default: :func:`default_tuxpaint_path`) + the CC0 pack."""
    return read_tuxpaint(stamps if stamps is not None else default_tuxpaint_path()) + read_cc0()


LIBRARY = LibraryKind(
    kind="default",
    forms=("default", "default:DIR|DEB"),
    summary="the selected tuxpaint stamps (`$AFLW_OCC_SHARED/occluders/tuxpaint-stamps-default`, or DIR / a .deb) "
    "+ the CC0 pack",
    min_args=0,
    max_args=1,
    load=lambda args, strict: read_default(Path(args[0]) if args else None),
)
