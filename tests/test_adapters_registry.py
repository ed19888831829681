"""The adapter registry: every model spec kind is declared by its module, specs parse the same way for every kind,
the ``--model`` help and the README's table come from the declarations, listing them imports no heavy library, and
adding an adapter is one registry entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aflw_occ.adapters import registry
from aflw_occ.adapters.options import Option, positive_int
from aflw_occ.adapters.registry import ADAPTERS, Adapter, load_predictor, parse_spec
from aflw_occ.errors import ModelError, PredictionError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_kind_is_declared_by_its_module() -> None:
    found = registry.adapters()
    assert [a.kind for a in found] == list(ADAPTERS)
    for a in found:
        assert a.summary.strip() and callable(a.factory)
        assert all(o.help.strip() for o in a.options), a.kind
        assert len({o.name for o in a.options}) == len(a.options), a.kind
    forms = registry.spec_forms()
    assert forms[:2] == ("3ddfa-v2:PATH.onnx|PATH.pth[,crop=…,pose=…,basis=…]", "onnx:PATH[,key=value…]")


def test_readme_model_spec_table_is_generated_from_the_registry() -> None:
    block = registry.readme_block(README.read_text())
    assert block is not None, "README.md has no model-specs block"
    assert block == registry.markdown_table(), "regenerate it: python -m aflw_occ.adapters.registry README.md"
    for kind in ADAPTERS:
        assert f"| `{kind}" in block


def test_cli_help_lists_every_form() -> None:
    from click.testing import CliRunner

    from aflw_occ.cli import cli

    out = " ".join(CliRunner().invoke(cli, ["evaluate", "--help"], terminal_width=400).output.split())
    for form in registry.spec_forms():
        assert form in out


def test_listing_and_parsing_import_no_heavy_library() -> None:
    code = (
        "import sys; from aflw_occ.adapters import registry; registry.help_text(); registry.markdown_table(); "
        "registry.parse_spec('onnx:m.onnx,size=64'); registry.parse_spec('dsfnet:w.pth,basis=b.npz'); "
        "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'dlib', 'dsfnet_model') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("spec", "path", "options"),
    [
        ("onnx:/m/x.onnx,size=64,mean=127.5,std=1/2/3,flip-y=yes", "/m/x.onnx",
         {"size": 64, "mean": 127.5, "std": (1.0, 2.0, 3.0), "flip_y": True}),
        ("3ddfa-v2:a.pth,crop=3DDFA-V2", "a.pth", {"crop": "3ddfa-v2"}),
        ("dlib", None, {}),
        ("dlib:model=/x/s.dat", None, {"model": "/x/s.dat"}),
        ("python:pkg.mod:Model.build", "pkg.mod:Model.build", {}),
    ],
)  # fmt: skip
def test_parse_spec(spec: str, path: str | None, options: dict[str, Any]) -> None:
    ad, got_path, got = parse_spec(spec)
    assert ad.kind == spec.split(":")[0] and got_path == path and got == options


def test_unknown_kind_lists_the_forms() -> None:
    with pytest.raises(PredictionError, match=r"unknown model spec 'tflite:x' \(forms: 3ddfa-v2:PATH"):
        load_predictor("tflite:x")


# an adapter declared in this module, registered for one test: what adding an adapter takes
class _Toy:
    def __init__(self, scale: int) -> None:
        self.name = f"toy-{scale}"
        self.scale = scale

    def predict(self, images: Any, boxes: Any) -> np.ndarray:
        return np.zeros((len(images), 68, 2)) + self.scale


def _toy(path: str | None, options: dict[str, Any], threads: int) -> _Toy:
    if options.get("scale") == 13:
        raise OSError("unlucky")
    if options.get("scale") == 7:
        import aflw_occ_no_such_backend  # noqa: F401
    return _Toy(options.get("scale", 1))


ADAPTER = Adapter(
    kind="toy",
    path=None,
    summary="A constant model.",
    factory=_toy,
    options=(Option("scale", "the constant", positive_int, "N", default="1"),),
    extra="toy",
)


def test_adding_an_adapter_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ADAPTERS, "toy", f"{__name__}:ADAPTER")
    assert load_predictor("toy:scale=3").name == "toy-3"
    assert "toy[:scale=…]" in registry.help_text()
    row = "| `toy` | A constant model. Needs `pip install 'aflw-occ[toy]'`. | `scale=N`: the constant (default 1) |"
    assert row in registry.markdown_table()
    with pytest.raises(PredictionError, match=r"'toy:scale=0': scale=0 is invalid: scale must be a positive integer"):
        load_predictor("toy:scale=0")
    with pytest.raises(PredictionError, match=r"needs aflw_occ_no_such_backend, .*pip install 'aflw-occ\[toy\]'"):
        load_predictor("toy:scale=7")
    with pytest.raises(ModelError, match=r"model spec 'toy:scale=13': creating the model raised OSError: unlucky"):
        load_predictor("toy:scale=13")
