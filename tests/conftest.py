"""Shared test fixtures.

Real data: found through ``AFLW_OCC_SHARED`` (or the user configuration, ``aflw_occ.paths``; for a developer
checkout, ``shared/`` beside the repository). Tests marked ``real`` are skipped when it is
missing, except under CI (``AFLW_OCC_REQUIRE_REAL=1``), where missing real data is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aflw_occ.paths import shared_dir

REQUIRE_REAL = os.environ.get("AFLW_OCC_REQUIRE_REAL") == "1"


def _need(path: Path) -> Path:
    if not path.exists():
        if REQUIRE_REAL:
            pytest.fail(f"real data missing at {path} (AFLW_OCC_REQUIRE_REAL=1)")
        pytest.skip(f"real data not available at {path}")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder (skips, or fails under CI, when it is missing)."""
    found = shared_dir()
    beside_checkout = Path(__file__).resolve().parents[2] / "shared"
    return _need((found if found.exists() or not beside_checkout.is_dir() else beside_checkout).resolve())


@pytest.fixture(scope="session")
def real_source(shared: Path) -> Path:
    """The complete real AFLW2000-3D release folder."""
    return _need(shared / "data" / "aflw2000-3d")


@pytest.fixture(scope="session")
def real_eval_dir(shared: Path) -> Path:
    """3DDFA's ground-truth files for AFLW2000-3D."""
    return _need(shared / "data" / "aflw2000-3d-eval")


@pytest.fixture(scope="session")
def real_dataset(real_source: Path, real_eval_dir: Path):
    """The real AFLW2000-3D loaded once per test session (with the 3DDFA files)."""
    from aflw_occ.source import AFLW2000_3D

    return AFLW2000_3D(real_source, real_eval_dir)
