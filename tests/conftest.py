"""Shared test fixtures.

Real data: found through ``AFLW_OCC_SHARED`` (or the user configuration, ``aflw_occ.paths``; for a developer
checkout, ``shared/`` beside the repository). Tests marked ``real`` are skipped when it is
missing, except under CI (``AFLW_OCC_REQUIRE_REAL=1``), where missing real data is a failure.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
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


# ------------------------------------------------------------------------------------------------------------------
# README code blocks (run by tests/test_readme.py; the plain-h5py and Hugging Face recipes by tests/test_ecosystem.py)
README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass(frozen=True)
class ReadmeBlock:
    """A fenced code block of the README: its language, text, first line number and the HTML comment just above it
    (``<!-- test -->``, ``<!-- test: … -->`` or ``<!-- no-test: why -->``; "" when there is none)."""

    lang: str
    text: str
    line: int
    marker: str


def readme_blocks() -> list[ReadmeBlock]:
    blocks: list[ReadmeBlock] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        above = lines[i - 1].strip() if i else ""
        marker = above[4:-3].strip() if above.startswith("<!--") and above.endswith("-->") else ""
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append(ReadmeBlock(m.group(1), "\n".join(lines[i + 1 : end]) + "\n", i + 2, marker))
        i = end + 1
    return blocks


def readme_python(contains: str) -> str:
    """The one README Python block that contains ``contains``."""
    found = [b.text for b in readme_blocks() if b.lang == "python" and contains in b.text]
    assert len(found) == 1, f"{len(found)} README python blocks contain {contains!r}"
    return found[0]


@pytest.fixture(scope="session")
def real_store(real_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real store: every subset of the README test's 48 ids (tests/data/readme_ids.txt: two journal blocks,
    every yaw bin, 6 NOD images), built by the CLI."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("real-store") / "out"
    ids = Path(__file__).parent / "data" / "readme_ids.txt"
    exe = Path(sys.executable).parent / "aflw-occ"
    cmd = [str(exe), "build", "--source", str(real_source), "--out", str(out), "--ids", f"@{ids}", "--subset", "all",
           "--workers", "2", "--quiet"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny fabricated store of the fast tests: the project's pipeline on the synthetic demo source
    (``aflw_occ.demo.make_source``, 8 images), data version 2.0.0, subset CSOD (clean + 3 CSOD splits × 8 images),
    seed 0. Built once per session; tests only read it."""
    from aflw_occ.builders import BuildOptions
    from aflw_occ.demo import make_source
    from aflw_occ.pipeline import BuildPlan, build

    root = tmp_path_factory.mktemp("tiny-store")
    plan = BuildPlan(
        source=make_source(root / "source", n=8),
        out=root / "build",
        version="2.0.0",
        subsets=("csod",),
        options=BuildOptions(seed=0),
        workers=1,
        progress=False,
    )
    res = build(plan)
    assert res.path is not None
    return Path(res.path)


# The modules that take longest (seconds on 2 cores, `--durations`): collected first, so that `-n 2 --dist loadscope`
# hands them out before the many short ones and the two workers finish together (longest-first scheduling), instead
# of one worker starting the reproducibility builds or the wheel venv at the end.
LONGEST_FIRST = (
    "test_reproducibility.py",  # 4 emulated / lowest-release builds, .venv-low
    "test_wheel.py",  # .venv-wheel, a 40-id build from the wheel
    "test_build_real.py",
    "test_readme.py",
    "test_visibility.py",
    "test_faults.py",
    "test_peer_scores.py",
    "test_report.py",
    "test_kernels.py",
    "test_dsfnet_predictor.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
