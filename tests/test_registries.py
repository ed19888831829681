"""What the registries share (:mod:`aflw_occ.registries`): loading a declaration and checking it is the one the
registry entry names, and the README block between two markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from aflw_occ import registries
from aflw_occ.adapters.registry import Adapter
from aflw_occ.builders.registry import Subset
from aflw_occ.skin.segmenter import Segmenter

MARKERS = ("<!-- t:start -->", "<!-- t:end -->")


def test_load_declaration_returns_the_declared_object() -> None:
    found = registries.load_declaration("aflw_occ.skin.gmm:SEGMENTER", Segmenter, "gmm")
    assert isinstance(found, Segmenter) and found.kind == "gmm"
    csod = registries.load_declaration("aflw_occ.builders.csod:SUBSET", Subset, "csod", key="name")
    assert csod.name == "csod"


@pytest.mark.parametrize(
    ("target", "cls", "name"),
    [
        ("aflw_occ.skin.gmm:SEGMENTER", Segmenter, "adaptive"),  # another kind's declaration
        ("aflw_occ.skin.gmm:SEGMENTER", Adapter, "gmm"),  # not the registry's type
    ],
)
def test_load_declaration_refuses_a_wrong_entry(target: str, cls: type, name: str) -> None:
    with pytest.raises(TypeError, match=rf"{target} is not the {cls.__name__} declared for '{name}'"):
        registries.load_declaration(target, cls, name)


def test_readme_block_round_trip(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{MARKERS[0]}\nold\n{MARKERS[1]}\noutro\n", encoding="utf-8")
    assert registries.readme_block(readme.read_text(encoding="utf-8"), MARKERS) == "old"
    assert registries.update_readme_block(readme, MARKERS, "| new |")
    assert not registries.update_readme_block(readme, MARKERS, "| new |")
    assert readme.read_text(encoding="utf-8") == f"intro\n{MARKERS[0]}\n| new |\n{MARKERS[1]}\noutro\n"
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # the atomic write left no temporary


def test_readme_without_markers_raises_the_callers_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no block\n", encoding="utf-8")
    assert registries.readme_block(readme.read_text(encoding="utf-8"), MARKERS) is None
    with pytest.raises(LookupError, match="no <!-- t:start --> … <!-- t:end --> block"):
        registries.update_readme_block(readme, MARKERS, "x", LookupError)
