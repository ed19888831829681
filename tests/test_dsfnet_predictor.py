"""DSFNet inference: official pre-processing, crop/back-projection, the predictor adapter and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from aflw_occ.source import AFLW2000_3D  # noqa: E402
from dsfnet_model.basis import build_basis  # noqa: E402
from dsfnet_model.errors import BasisError, InputError  # noqa: E402
from dsfnet_model.preprocess import crop_from_box, crop_image, standardise  # noqa: E402
from dsfnet_model.reference import reference_vectors  # noqa: E402

IDS = ["image00002", "image00004"]


@pytest.fixture(scope="module")
def vectors(shared):
    return reference_vectors(shared)


@pytest.fixture(scope="module")
def weights(shared):
    return shared / "reference" / "dsfnet_state_dict.npz"


@pytest.fixture(scope="module")
def basis_file(shared, tmp_path_factory):
    basis = build_basis(shared / "data" / "bfm-3ddfa", shared / "data" / "uv", n_shape=10, n_exp=4)
    return basis.save(tmp_path_factory.mktemp("basis") / "dsfnet_uv_basis.npz")


@pytest.fixture(scope="module")
def faces(real_source):
    ds = AFLW2000_3D(real_source, ids=IDS)
    images = np.stack([s.read_image() for s in ds])
    lm = np.stack([s.pt3d_68[:2].T for s in ds])
    boxes = np.concatenate([lm.min(1), lm.max(1)], 1)
    return images, boxes


@pytest.fixture(scope="module")
def predictor(weights, basis_file):
    from dsfnet_model.predictor import DSFNetPredictor

    return DSFNetPredictor(weights, basis_file, deterministic=True)


@pytest.fixture(scope="module")
def full(predictor, faces):
    images, boxes = faces
    return predictor.predict_full(images, boxes)


def test_standardise_matches_official_input(vectors):
    got = standardise(vectors["input_image_uint8"][None])
    np.testing.assert_allclose(got, vectors["input"], rtol=0, atol=2e-6)


def test_crop_geometry():
    t = crop_from_box(np.array([100.0, 50.0, 200.0, 170.0]))
    assert t.size == int(1.5 * (100 + 120) / 2) and (t.cx, t.cy) == (150.0, 110.0)
    # a single bright pixel lands where p_crop = (p - (c - s/2))·256/s says
    img = np.zeros((300, 300, 3), np.uint8)
    x, y = 160, 100
    img[y, x] = 255
    crop = crop_image(img, t)
    cy, cx = np.unravel_index(crop[:, :, 0].argmax(), crop.shape[:2])
    k = 256 / t.size
    assert abs(cx - (x - (t.cx - t.size / 2)) * k) <= 1 and abs(cy - (y - (t.cy - t.size / 2)) * k) <= 1
    back = t.to_image(np.array([[cx, cy, 10.0]]))
    assert abs(back[0, 0] - x) <= 1.5 and abs(back[0, 1] - y) <= 1.5 and back[0, 2] == pytest.approx(10 / k)


def test_predictor_landmarks_in_image_pixels(predictor, faces, full):
    images, boxes = faces
    lm = full["landmarks"]
    assert lm.shape == (2, 68, 3) and lm.dtype == np.float64 and np.isfinite(lm).all()
    # independent recomputation: crop + standardise by hand, network, ×280, crop → image formula
    for i in range(1):
        left, top, right, bottom = boxes[i]
        s = int(1.5 * ((right - left) + (bottom - top)) / 2)
        cx, cy = (left + right) / 2, (top + bottom) / 2
        crop = crop_image(images[i], crop_from_box(boxes[i]))
        with torch.no_grad():
            out = predictor.model(torch.from_numpy(standardise(crop[None])))
        p = out["kpt68"][0].numpy().astype(np.float64) * 280
        expect = np.stack([p[:, 0] * s / 256 + cx - s / 2, p[:, 1] * s / 256 + cy - s / 2, p[:, 2] * s / 256], 1)
        np.testing.assert_allclose(lm[i], expect, rtol=1e-5, atol=1e-3)
    # dense points and mesh
    assert full["dense"].shape == (2, 43867, 3) and full["pose"].shape == (2, 3)
    assert full["triangles"].min() >= 0 and full["triangles"].max() < 43867
    # landmarks are dense points at the keypoint texels
    mask = predictor.basis.face_mask.reshape(-1)
    kp = predictor.basis.kpt_ind[:, 0] * 256 + predictor.basis.kpt_ind[:, 1]
    pos = np.cumsum(mask) - 1
    inside = mask[kp]
    np.testing.assert_allclose(full["dense"][:, pos[kp[inside]]], lm[:, inside], rtol=1e-6, atol=1e-4)


def test_predictor_call_is_deterministic_and_batch_invariant(predictor, faces, full):
    images, boxes = faces
    a = full["landmarks"]
    b = predictor(images[1:], boxes[1:])  # the __call__ adapter, alone in its batch
    assert b.shape == (1, 68, 3)
    np.testing.assert_allclose(a[1:], b, rtol=1e-5, atol=1e-3)


def test_predictor_bad_input(predictor, faces, weights, tmp_path, monkeypatch):
    images, boxes = faces
    from dsfnet_model.predictor import DSFNetPredictor

    with pytest.raises(InputError, match="uint8"):
        predictor(images.astype(np.float32), boxes)
    with pytest.raises(InputError, match=r"\(2, 450, 450\)"):
        predictor(images[..., 0], boxes)
    with pytest.raises(InputError, match="image 1"):
        predictor([images[0], images[1][..., :2]], boxes)
    with pytest.raises(InputError, match=r"\(2, 4\)"):
        predictor(images, boxes[:1])
    with pytest.raises(InputError, match="empty"):
        predictor(images[:1], np.array([[10.0, 10.0, 5.0, 20.0]]))
    monkeypatch.delenv("AFLW_OCC_DSFNET_BASIS", raising=False)
    with pytest.raises(BasisError, match="build-basis"):
        DSFNetPredictor(weights, tmp_path / "nope.npz")


def test_cli_build_basis_predict_and_errors(shared, weights, basis_file, real_source, tmp_path, monkeypatch, capsys):
    from click.testing import CliRunner

    from aflw_occ.cli import cli, main

    runner = CliRunner()
    out = tmp_path / "b.npz"
    res = runner.invoke(cli, ["dsfnet", "build-basis", "--bfm", str(shared / "data" / "bfm-3ddfa"), "--uv-dir",
                              str(shared / "data" / "uv"), "--n-shape", "3", "--n-exp", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with np.load(out) as z:
        assert z["shape_pc"].shape == (3, 3, 256, 256)
    pred = tmp_path / "pred.npz"
    img = real_source / f"{IDS[0]}.jpg"
    res = runner.invoke(cli, ["dsfnet", "predict", "--weights", str(weights), "--basis", str(basis_file),
                              "--image", str(img), "--out", str(pred)])
    assert res.exit_code == 0, res.output
    with np.load(pred) as z:
        assert z["landmarks"].shape == (1, 68, 3) and z["dense"].shape == (1, 43867, 3)
    # bad input → AflwOccError → one-line error, exit code 2 (through the console entry point, in this process)
    import signal
    import sys

    monkeypatch.setattr(sys, "argv", ["aflw-occ", "dsfnet", "predict", "--weights", str(tmp_path / "missing.pth"),
                                      "--basis", str(basis_file), "--image", str(img), "--out",
                                      str(tmp_path / "x.npz")])  # fmt: skip
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as info:
            main()
    finally:
        signal.signal(signal.SIGTERM, handler)  # main() installs its SIGTERM handler
    err = capsys.readouterr().err
    assert info.value.code == 2 and "missing.pth" in err and err.startswith("error:") and err.count("\n") == 1
    assert not (tmp_path / "x.npz").exists()


def test_cli_group_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, aflw_occ.cli.dsfnet; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
