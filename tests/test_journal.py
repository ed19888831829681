"""The build journal's folder under concurrent shards: it appears with its identity inside, so a shard that starts
at the same moment as another never sees a journal without ``identity.json`` (a race seen once in CI:
``test_faults.py::test_shards_at_the_same_time`` failed with "holds an interrupted build with other options")."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from aflw_occ import journal as journal_module
from aflw_occ.build_plan import BuildError
from aflw_occ.journal import open_journal
from aflw_occ.outdir import leftovers

IDENTITY = {"version": "2.0.0", "subsets": ["csod"], "options": {"seed": 0}}


def _plan(out: Path, shard: tuple[int, int], resume: bool = False) -> SimpleNamespace:
    """What :func:`open_journal` reads of a :class:`~aflw_occ.build_plan.BuildPlan`."""
    return SimpleNamespace(out=out, version="2.0.0", resume=resume, shard=shard)


def test_shards_opening_at_once_share_one_journal(tmp_path: Path) -> None:
    n = 8
    barrier = threading.Barrier(n)
    found: list[Path | BaseException] = []

    def shard(k: int) -> None:
        barrier.wait()
        try:
            found.append(open_journal(_plan(tmp_path, (k, n)), IDENTITY))  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            found.append(exc)

    threads = [threading.Thread(target=shard, args=(k,)) for k in range(1, n + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [tmp_path / ".journal-2.0.0"] * n
    assert json.loads((tmp_path / ".journal-2.0.0" / "identity.json").read_text()) == IDENTITY
    assert not leftovers(tmp_path, "2.0.0")


def test_losing_the_rename_keeps_the_winner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another shard renames its journal into place between this one's check and its rename."""
    journal = tmp_path / ".journal-2.0.0"
    real_rename = os.rename

    def rename_after_the_other_shard(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == journal and not journal.exists():
            journal.mkdir()
            (journal / "identity.json").write_text(json.dumps(IDENTITY, sort_keys=True, indent=1))
        real_rename(src, dst)

    monkeypatch.setattr(journal_module.os, "rename", rename_after_the_other_shard)
    assert open_journal(_plan(tmp_path, (2, 2)), IDENTITY) == journal  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".journal-2.0.0"]


def test_another_builds_journal_is_refused(tmp_path: Path) -> None:
    open_journal(_plan(tmp_path, (1, 2)), IDENTITY)  # type: ignore[arg-type]
    other = {**IDENTITY, "options": {"seed": 1}}
    with pytest.raises(BuildError, match=r"holds an interrupted build with other options \(options\)"):
        open_journal(_plan(tmp_path, (2, 2)), other)  # type: ignore[arg-type]


def test_a_fresh_unsharded_build_starts_over(tmp_path: Path) -> None:
    journal = open_journal(_plan(tmp_path, (1, 1)), IDENTITY)  # type: ignore[arg-type]
    (journal / "block-00000.pkl").write_bytes(b"old")
    other = {**IDENTITY, "options": {"seed": 1}}
    assert open_journal(_plan(tmp_path, (1, 1)), other) == journal  # type: ignore[arg-type]
    assert [p.name for p in journal.iterdir()] == ["identity.json"]
    assert json.loads((journal / "identity.json").read_text()) == other
