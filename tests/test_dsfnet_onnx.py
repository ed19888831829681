"""ONNX export of the deterministic DSFNet: onnxruntime equals torch within 1e-4 on the reference input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from dsfnet_model.checkpoint import load_dsfnet  # noqa: E402
from dsfnet_model.fast_heads import FastHead  # noqa: E402
from dsfnet_model.hrnet import _image_head  # noqa: E402
from dsfnet_model.onnx_export import export_onnx, ort_session, run_onnx  # noqa: E402
from dsfnet_model.reference import reference_vectors, reference_weights, standin_basis  # noqa: E402


def rel(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.fixture(scope="module")
def setup(shared, tmp_path_factory):
    sd = {k: torch.from_numpy(a) for k, a in reference_weights(shared).items()}
    model = load_dsfnet(sd, standin_basis(shared, n_shape=8, n_exp=4), mode="deterministic")
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "dsfnet.onnx")
    return model, ort_session(path, threads=2), reference_vectors(shared)


def test_onnxruntime_equals_torch_on_reference_input(setup):
    """Run with a batch of two (dynamic batch axis: the reference input and its mirror image); row 0 vs torch."""
    model, sess, v = setup
    x = np.concatenate([v["input"], v["input"][:, :, :, ::-1].copy()])
    got = run_onnx(sess, x)
    with torch.no_grad():
        ref = model(torch.from_numpy(v["input"]))
    assert got["face_uvm"].shape == (2, 3, 256, 256) and np.isfinite(got["face_uvm"]).all()
    assert rel(got["seg"][:1], ref["hrnet.seg"].numpy()) < 1e-4
    assert rel(got["conf"][:1], ref["hrnet.image_space_conf"].numpy()) < 1e-4
    assert rel(got["face_uvm"][:1], ref["face_uvm"].numpy()) < 1e-4
    assert rel(got["kpt68"][:1], ref["kpt68"].numpy()) < 1e-4
    assert rel(got["R_rot"][:1], ref["R_rot"].numpy()) < 1e-4
    assert not np.allclose(got["seg"][0], got["seg"][1])  # the second sample is really another image


def test_fast_heads_equal_original_heads():
    torch.manual_seed(0)
    head = _image_head(2, width=16)
    for p in head.parameters():
        torch.nn.init.normal_(p, 0.0, 0.3)
    head[2].running_mean.normal_(0, 0.1)
    head[2].running_var.uniform_(0.5, 1.5)
    head.eval()
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        expect = head(x)
        got = FastHead(head)(x)
    assert got.shape == expect.shape == (2, 2, 36, 28)
    assert rel(got.numpy(), expect.numpy()) < 1e-5


def test_export_without_basis_is_an_error(tmp_path):
    from dsfnet_model.errors import DSFNetError
    from dsfnet_model.model import DSFNet

    with pytest.raises(DSFNetError, match="build-basis"):
        export_onnx(DSFNet(), tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())
