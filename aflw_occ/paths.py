"""Where the shared research data lives (never inside the package)."""

from __future__ import annotations

import os
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
