"""Atomic output files: complete or absent, never half-written."""

from __future__ import annotations

import pytest

from aflw_occ.atomic import atomic_folder, atomic_path, write_text_atomic
from aflw_occ.errors import AflwOccError


def test_success_renames_over_the_target(tmp_path) -> None:
    out = tmp_path / "a.csv"
    out.write_text("old")
    with atomic_path(out) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".csv" and tmp.name.startswith(".a.csv.")
        tmp.write_text("new")
        assert out.read_text() == "old"  # not visible before the end
    assert out.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_failure_keeps_the_old_file_and_no_temporary(tmp_path) -> None:
    out = tmp_path / "a.json"
    out.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_missing_folder_is_a_one_line_error_or_created(tmp_path) -> None:
    out = tmp_path / "no" / "such" / "r.html"
    with pytest.raises(AflwOccError, match=r"r\.html: folder .* does not exist"), atomic_path(out):
        pass
    assert write_text_atomic(out, "ok", make_parent=True).read_text() == "ok"


def test_folder_replaces_the_old_one_only_when_complete(tmp_path) -> None:
    out = tmp_path / "manifest-2.0.0"
    out.mkdir()
    (out / "old.jsonl").write_text("old")
    with atomic_folder(out) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and tmp.name.startswith(".manifest-2.0.0.")
        (tmp / "new.jsonl").write_text("new")
        assert (out / "old.jsonl").read_text() == "old"  # not visible before the end
    assert sorted(p.name for p in out.iterdir()) == ["new.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest-2.0.0"]  # no temporary, no .old


def test_folder_failure_keeps_the_old_folder_and_no_temporary(tmp_path) -> None:
    out = tmp_path / "sub" / "manifest-2.0.0"
    with pytest.raises(RuntimeError, match="boom"), atomic_folder(out) as tmp:
        (tmp / "half.jsonl").write_text("half")
        raise RuntimeError("boom")
    assert not out.exists() and list(out.parent.iterdir()) == []
