"""`aflw-occ evaluate` with a bad model: a malformed spec option, an ONNX model whose input disagrees with ``size=`` /
``layout=``, a user predictor (``python:module:attr``) that raises or returns garbage. Each is one ``error:`` line
naming the model (and the sample where one is involved) and what to do, exit code 2, no traceback, nothing written.

Runs the console entry point in-process on a 3-image synthetic AFLW2000-3D folder (``--source``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from aflw_occ import cli  # noqa: E402

MODELS = '''
import numpy as np


def raiser(images, boxes):
    return 1 / 0


def garbage(images, boxes):
    return "landmarks"


def huge(images, boxes):
    return np.full((len(images), 68, 2), 1e300)


class Broken:
    def __init__(self):
        raise RuntimeError("weights not found")

    def predict(self, images, boxes):
        raise AssertionError
'''


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aflw_occ.demo import make_source

    return make_source(tmp_path_factory.mktemp("src") / "aflw", n=3)


@pytest.fixture
def user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module ``user_models_x`` of bad predictors, and one ``user_models_bad`` that raises on import."""
    (tmp_path / "user_models_x.py").write_text(MODELS)
    (tmp_path / "user_models_bad.py").write_text("raise ValueError('config.yaml is missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "user_models_x"
    for name in ("user_models_x", "user_models_bad"):
        sys.modules.pop(name, None)


def _onnx(path: Path, shape: list, reshape: bool = False) -> Path:
    """A model (input ``x`` of ``shape``) → (N, 68, 2) landmarks; ``reshape``: it first reshapes x to (-1, 12288),
    so it only runs on 64×64 inputs whatever its declared shape."""
    from onnx import TensorProto, helper

    base = np.stack([np.arange(68), 2 * np.arange(68)], axis=1).astype(np.float32)
    nodes, inits = [], [
        helper.make_tensor("base", TensorProto.FLOAT, [68, 2], base.ravel().tolist()),
        helper.make_tensor("ax12", TensorProto.INT64, [2], [1, 2]),
    ]
    x, axes = "x", [1, 2, 3]
    if reshape:
        inits.append(helper.make_tensor("flat", TensorProto.INT64, [2], [-1, 3 * 64 * 64]))
        nodes.append(helper.make_node("Reshape", ["x", "flat"], ["xf"]))
        x, axes = "xf", [1]
    nodes += [
        helper.make_node("ReduceMean", [x], ["m"], axes=axes, keepdims=0),  # (N,)
        helper.make_node("Unsqueeze", ["m", "ax12"], ["u"]),  # (N, 1, 1)
        helper.make_node("Add", ["u", "base"], ["y"]),  # (N, 68, 2)
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 68, 2])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _evaluate(src: Path, spec: str, out: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, str]:
    """``aflw-occ evaluate`` through the console entry point: (exit code, stderr)."""
    argv = ["aflw-occ", "evaluate", "--model", spec, "--source", str(src), "--out", str(out), "--no-progress"]
    monkeypatch.setattr(sys, "argv", [*argv, "--n-boot", "10"])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _one_error(code: int, err: str, out: Path) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))  # nothing written
    return lines[0]


def test_malformed_option_value(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    model = _onnx(tmp_path / "m.onnx", ["N", 3, 64, 64])
    out = tmp_path / "res"
    line = _one_error(*_evaluate(src, f"onnx:{model},size=abc", out, monkeypatch, capsys), out)
    assert f"model spec 'onnx:{model},size=abc': size=abc is invalid: size must be a positive integer" in line
    assert "must match the model's input (size=64 for a 64×64 model)" in line


@pytest.mark.parametrize(
    ("shape", "options", "expected"),
    [
        (["N", 3, 64, 64], "", "(N, 3, 64, 64) tensor(float) has side 64, not size=120; the adapter feeds "
                               "(N, 3, 120, 120) float32: set size=64 in the model spec"),
        (["N", 3, 64, 64], ",size=64,layout=nhwc", "does not take layout=nhwc images; the adapter feeds "
                                                   "(N, 64, 64, 3) float32: set layout=nchw"),
        ([4, 3, 64, 64], ",size=64", "has a fixed batch of 4"),
    ],
)  # fmt: skip
def test_onnx_input_disagrees_with_options(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, shape: list, options: str, expected: str
) -> None:
    model = _onnx(tmp_path / "fixed.onnx", shape)
    out = tmp_path / "res"
    line = _one_error(*_evaluate(src, f"onnx:{model}{options}", out, monkeypatch, capsys), out)
    assert line.startswith(f"error: {model}: the model's input 'x' ") and expected in line


def test_onnx_free_input_that_fails_at_run_time(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Declared (N, 3, H, W) but only runs on 64×64: the failure names the model, the batch, what was fed and the
    options to check."""
    model = _onnx(tmp_path / "free.onnx", ["N", 3, "H", "W"], reshape=True)
    out = tmp_path / "res"
    spec = f"onnx:{model},crop=landmarks-1.5"  # the synthetic source has no 3DDFA boxes
    line = _one_error(*_evaluate(src, spec, out, monkeypatch, capsys), out)
    assert line.startswith(f"error: model free, batch starting at clean/image00002: {model}: onnxruntime cannot run ")
    assert "on (3, 3, 120, 120) float32 input" in line and "declares (N, 3, H, W): check size= and layout=" in line
    code, err = _evaluate(src, f"{spec},size=64", out, monkeypatch, capsys)  # the fix works
    assert code == 0 and (out / "meta.json").is_file(), err


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("raiser", "error: model user_models_x:raiser raised ZeroDivisionError: division by zero in predict() on the "
                   "batch starting at clean/image00002; fix the model (run it on that sample alone"),
        ("garbage", "error: model user_models_x:garbage, batch of 3 starting at clean/image00002: landmarks is not "
                    "numeric (dtype <U9); a predictor returns, for N images, (N, 68, 2|3) finite landmarks"),
        ("huge", "error: model user_models_x:huge, batch of 3 starting at clean/image00002: landmarks of id "
                 "clean/image00002 hold values beyond ±1e+06"),
        ("Broken", "error: model spec 'python:user_models_x:Broken': creating the model raised RuntimeError: weights "
                   "not found"),
    ],
)  # fmt: skip
def test_user_predictor_that_raises_or_returns_garbage(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, user_models: str, attr: str, expected: str
) -> None:
    out = tmp_path / "res"
    line = _one_error(*_evaluate(src, f"python:{user_models}:{attr}", out, monkeypatch, capsys), out)
    assert line.startswith(expected), line


def test_user_module_that_raises_on_import(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, user_models: str
) -> None:
    out = tmp_path / "res"
    line = _one_error(*_evaluate(src, "python:user_models_bad:model", out, monkeypatch, capsys), out)
    assert line.startswith(
        "error: python model 'user_models_bad:model': importing user_models_bad raised ValueError: config.yaml is "
        "missing"
    )


def test_debug_shows_the_models_traceback(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, user_models: str
) -> None:
    monkeypatch.setenv("AFLW_OCC_DEBUG", "1")
    out = tmp_path / "res"
    code, err = _evaluate(src, f"python:{user_models}:raiser", out, monkeypatch, capsys)
    assert code == 2 and "Traceback" in err and "return 1 / 0" in err
    assert err.strip().splitlines()[-1].startswith("error: model user_models_x:raiser raised ZeroDivisionError")


def test_onnx_with_a_fixed_batch_of_one_runs_row_by_row(src: Path, tmp_path: Path) -> None:
    from aflw_occ.adapters.registry import load_predictor
    from aflw_occ.evaluate import FaceBoxes, evaluate

    opts = ",size=64,crop=landmarks-1.5"
    one = load_predictor(f"onnx:{_onnx(tmp_path / 'one.onnx', [1, 3, 64, 64])}{opts}", threads=1)
    free = load_predictor(f"onnx:{_onnx(tmp_path / 'free.onnx', ['N', 3, 64, 64])}{opts}", threads=1)
    assert one.batch == 1 and free.batch is None
    a = evaluate(one, src, batch_size=3, n_boot=10, progress=False)  # the concurrent path (single-thread session)
    b = evaluate(free, src, batch_size=3, n_boot=10, progress=False)
    np.testing.assert_array_equal(a.splits["clean"].landmarks, b.splits["clean"].landmarks)
    face = np.array([[10.0, 10, 60, 60], [20.0, 5, 90, 75]])
    images = [np.full((100, 100, 3), v, np.uint8) for v in (30, 200)]
    boxes = FaceBoxes(ids=np.array(["a", "b"]), roi=None, face=face)
    np.testing.assert_array_equal(one.predict(images, boxes), free.predict(images, boxes))  # the main session
