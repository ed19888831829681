"""The subset registry: every subset is declared by its builder module, the ``--subset`` help and the README's split
table come from the declarations, the names alone import no builder module, and the data version, the store's groups
and the evaluated splits agree with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aflw_occ.builders import registry
from aflw_occ.builders.registry import SUBSETS, Subset, get_builder, group_path
from aflw_occ.store.versions import CURRENT_VERSION, get_version

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_subset_is_declared_by_its_module() -> None:
    found = registry.subsets()
    assert [s.name for s in found] == list(SUBSETS) == ["csod", "nod", "nsod", "randocc"]
    for s in found:
        assert isinstance(s, Subset) and s.builder.name == s.name and get_builder(s.name) is s.builder
        assert s.summary.strip() and s.rows.strip()
        assert registry.module_of(s.name) == s.builder.__module__
    assert registry.subset("csod").splits == ("csod-single", "csod-double", "csod-column")
    assert [registry.subset(n).splits for n in ("nod", "nsod", "randocc")] == [("nod",), ("nsod",), ("randocc",)]


def test_unknown_subset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown subset 'cosd'; known: base, csod, nod, nsod, randocc"):
        get_builder("cosd")


def test_readme_split_table_is_generated_from_the_registry() -> None:
    block = registry.readme_block(README.read_text(encoding="utf-8"))
    assert block is not None, "README.md has no subsets block"
    assert block == registry.markdown_table(), "regenerate it: python -m aflw_occ.builders README.md"
    for name in SUBSETS:
        assert f"| `{registry.subset(name).splits[0]}`" in block


def test_update_readme_rewrites_only_the_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{registry.MARKERS[0]}\nold\n{registry.MARKERS[1]}\nrest\n", encoding="utf-8")
    assert registry.update_readme(readme) and not registry.update_readme(readme)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("rest\n") and registry.markdown_table() in text
    (tmp_path / "plain.md").write_text("no block\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no <!-- subsets:start -->"):
        registry.update_readme(tmp_path / "plain.md")


def test_build_help_lists_every_subset() -> None:
    from aflw_occ.cli import cli

    out = CliRunner().invoke(cli, ["build", "--help"], terminal_width=400).output
    assert " ".join(registry.help_text().split()) in " ".join(out.split())
    for name in SUBSETS:
        assert name in registry.help_text()


def test_the_names_import_no_builder_module() -> None:
    code = (
        "import sys\n"
        "from aflw_occ.builders.registry import SUBSETS, help_text\n"
        "help_text()\n"
        "mods = [m for m in sys.modules if m.startswith('aflw_occ.builders.')]\n"
        "print(sorted(m for m in mods if m.rpartition('.')[2] in SUBSETS))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_current_data_version_pins_every_subset() -> None:
    assert list(get_version(CURRENT_VERSION).builders) == list(SUBSETS)
    for name, version in get_version(CURRENT_VERSION).builders.items():
        assert version == get_builder(name).VERSION


def test_group_paths_and_evaluated_splits_come_from_the_registry() -> None:
    from aflw_occ.evaluation.data import ALL_SPLITS

    names = tuple(SUBSETS)
    assert group_path("clean", names) == "base" and group_path("csod-double", names) == "csod/double"
    assert [group_path(s, names) for s in ("nod", "nsod", "randocc")] == ["nod/natural", "nsod/natocc", "randocc/blob"]
    with pytest.raises(KeyError):
        group_path("nsod", ("csod",))
    splits = {"clean", *(x for s in registry.subsets() for x in s.splits)}
    assert set(ALL_SPLITS) <= splits


def test_input_options_are_fingerprinted_options() -> None:
    """Every option a subset declares as naming its input files is a BuildOptions field with a fingerprint rule, so
    a resumed build notices when those files change (``fingerprint.build_inputs``)."""
    from dataclasses import fields

    from aflw_occ.builders import BuildOptions
    from aflw_occ.fingerprint import INPUT_FINGERPRINTS, build_inputs

    option_names = {f.name for f in fields(BuildOptions)}
    declared = {opt for s in registry.subsets() for opt in s.input_options}
    assert declared and declared <= set(INPUT_FINGERPRINTS) <= option_names
    opts = BuildOptions(seed=0, occluders=("folder:/nonexistent",), skin="bisenet:/nonexistent.pth")
    assert set(build_inputs(("csod",), opts, None)) == {"eval_dir"}
    assert set(build_inputs(("nod",), opts, None)) == {"eval_dir", "segmenter"}
    assert set(build_inputs(("randocc",), opts, None)) == {"eval_dir", "occluders"}
    assert set(build_inputs(tuple(SUBSETS), opts, None)) == {"eval_dir", "occluders", "segmenter"}
