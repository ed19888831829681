"""Where the shared research data lives (never inside the package)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def shared_dir() -> Path:
    """The shared data folder: ``$AFLW_OCC_SHARED`` or ``../shared`` relative to the working directory."""
    return Path(os.environ.get("AFLW_OCC_SHARED", "../shared")).expanduser()


def default_source() -> Path:
    """The AFLW2000-3D release folder inside the shared data."""
    return shared_dir() / "data" / "aflw2000-3d"


def default_eval_dir() -> Path:
    """3DDFA's evaluation files (re-annotations, crop boxes) inside the shared data."""
    return shared_dir() / "data" / "aflw2000-3d-eval"


def asset_path(*parts: str) -> Path:
    """A file or folder under the packaged ``aflw_occ/assets``, found through :mod:`importlib.resources`.

    Works from the source tree, an editable install and an installed wheel alike (never a path relative to this
    file's folder: ``builders/`` sits beside ``aflw_occ/`` only in the source tree). Installed packages are plain
    folders, so the resource is a real path; a zipped install is refused with a message.
    """
    res = resources.files("aflw_occ").joinpath("assets", *parts)
    if not isinstance(res, Path):
        raise RuntimeError(f"aflw_occ/assets/{'/'.join(parts)}: the package is not installed as a folder ({res!r})")
    return res
