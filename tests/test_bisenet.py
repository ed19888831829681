"""BiSeNet face parser: reference key list, reference vectors, ONNX export, checkpoint checks, segmenters.

Reference numbers come from ``$AFLW_OCC_SHARED/reference`` (computed with the original face-parsing.PyTorch
code on seeded weights); see its README, section 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aflw_occ.errors import AflwOccError
from aflw_occ.skin.bisenet_onnx import (
    CLASS_NAMES,
    FACE_CLASSES,
    BiSeNetError,
    BiSeNetOnnxSegmenter,
    CropBox,
    class_mask,
    crop_square,
    face_box,
    labels_to_image,
    normalise,
    paste_square,
    prepare,
    resize_rgb,
)

TOL = 1e-4
GAP = 1e-3  # argmax is compared only where the top-1/top-2 logit gap is at least this


# -------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def refdir(shared: Path) -> Path:
    d = shared / "reference"
    for name in ("bisenet_state_dict.json", "bisenet_state_dict.npz", "bisenet_vectors.npz"):
        if not (d / name).is_file():
            pytest.fail(f"reference file missing: {d / name}")
    return d


@pytest.fixture(scope="module")
def vectors(refdir: Path) -> dict[str, np.ndarray]:
    with np.load(refdir / "bisenet_vectors.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def torch_segmenter(refdir: Path):
    pytest.importorskip("torch")
    from aflw_occ.skin.bisenet import BiSeNetSegmenter

    return BiSeNetSegmenter(refdir / "bisenet_state_dict.npz")


@pytest.fixture(scope="module")
def state(torch_segmenter) -> dict:
    return {k: v.clone() for k, v in torch_segmenter.model.state_dict().items()}


@pytest.fixture(scope="module")
def forward(torch_segmenter, vectors):
    """One 512² forward of the reference input, with the intermediates captured by hooks."""
    import torch

    model = torch_segmenter.model
    got: dict[str, torch.Tensor] = {}
    hooks = [
        model.cp.resnet.register_forward_hook(lambda m, i, o: got.update(f8=o[0], f16=o[1], f32=o[2])),
        model.cp.register_forward_hook(lambda m, i, o: got.update(cp8=o[1], cp16=o[2])),
        model.conv_out.register_forward_hook(lambda m, i, o: got.update(main=o)),
        model.conv_out16.register_forward_hook(lambda m, i, o: got.update(aux16=o)),
        model.conv_out32.register_forward_hook(lambda m, i, o: got.update(aux32=o)),
    ]
    try:
        with torch.no_grad():
            out, out16, out32 = model(torch.from_numpy(vectors["input"]))
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        small = model(torch.from_numpy(vectors["small.input"]))[0]
    return {
        "resnet.feat8": got["f8"], "resnet.feat16": got["f16"], "resnet.feat32": got["f32"],
        "cp.feat_cp8": got["cp8"], "cp.feat_cp16": got["cp16"],
        "logits_main_native": got["main"], "logits16_native": got["aux16"], "logits32_native": got["aux32"],
        "out_sub2": out[..., ::2, ::2], "out16_sub4": out16[..., ::4, ::4],
        "out32_sub4": out32[..., ::4, ::4], "small.out": small, "out": out,
    }  # fmt: skip


@pytest.fixture(scope="module")
def onnx_file(refdir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Export through the CLI once; returns the file and the command's output."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from click.testing import CliRunner

    from aflw_occ.cli import cli

    out = tmp_path_factory.mktemp("onnx") / "bisenet.onnx"
    args = ["export", "bisenet", "--weights", str(refdir / "bisenet_state_dict.npz"), "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    return out, res.output


def _gap(logits: np.ndarray) -> np.ndarray:
    """(19, H, W) → (H, W) top-1 minus top-2 logit."""
    top = np.sort(logits, axis=0)
    return top[-1] - top[-2]


# -------------------------------------------------------------------------------- architecture
@pytest.mark.torch
def test_state_dict_keys_shapes_dtypes_match_reference(refdir: Path) -> None:
    torch = pytest.importorskip("torch")
    from aflw_occ.skin.bisenet import BiSeNet

    expected = json.loads((refdir / "bisenet_state_dict.json").read_text())
    model = BiSeNet(n_classes=19)
    ours = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in model.state_dict().items()]
    assert len(expected) == 191
    assert ours == expected
    assert sum(p.numel() for p in model.parameters()) == 13_300_416  # README: parameter count
    assert sum(p.numel() for p in model.cp.resnet.parameters()) == 11_176_512
    assert all(p.requires_grad for p in model.parameters()) and isinstance(model, torch.nn.Module)


def test_preprocessing_matches_official(vectors) -> None:
    img = vectors["input_image_uint8"]
    assert resize_rgb(img, 512) is not None and np.array_equal(resize_rgb(img, 512), img)  # identity at 512
    x = normalise(img)
    assert x.shape == (1, 3, 512, 512) and x.dtype == np.float32
    # independent formula: float64 maths, then the reference's float32 rounding tolerance
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    manual = ((img / 255.0 - mean) / std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(x, manual, atol=1e-6)
    np.testing.assert_allclose(x, vectors["input"], atol=1e-6, rtol=0)


# -------------------------------------------------------------------------------- reference vectors
@pytest.mark.torch
@pytest.mark.parametrize(
    "key",
    [
        "resnet.feat8", "resnet.feat16", "resnet.feat32", "cp.feat_cp8", "cp.feat_cp16",
        "logits_main_native", "logits16_native", "logits32_native",
        "out_sub2", "out16_sub4", "out32_sub4", "small.out",
    ],
)  # fmt: skip
def test_intermediates_match_reference(forward, vectors, key: str) -> None:
    got = forward[key].numpy()
    assert got.shape == vectors[key].shape
    np.testing.assert_allclose(got, vectors[key], atol=TOL, rtol=TOL)


@pytest.mark.torch
def test_outputs_are_align_corners_upsampling_of_native(forward) -> None:
    # independent bilinear (align_corners=True) upsampling in numpy of the native main logits, 64 → 512
    native = forward["logits_main_native"].numpy()[0]
    n, s = native.shape[-1], 512
    pos = np.arange(s) * (n - 1) / (s - 1)
    i0 = np.minimum(np.floor(pos).astype(int), n - 2)
    w = (pos - i0).astype(np.float64)
    rows = native[:, i0, :] * (1 - w)[None, :, None] + native[:, i0 + 1, :] * w[None, :, None]
    up = rows[:, :, i0] * (1 - w)[None, None, :] + rows[:, :, i0 + 1] * w[None, None, :]
    np.testing.assert_allclose(forward["out"].numpy()[0], up, atol=1e-5, rtol=0)


@pytest.mark.torch
def test_parsing_argmax_matches_reference(forward, vectors) -> None:
    logits = forward["out"].numpy()[0]
    parsing = np.argmax(logits, axis=0)
    sure = _gap(logits) >= GAP
    assert sure.mean() > 0.99
    assert np.array_equal(parsing[sure], vectors["parsing"][sure])
    assert int((parsing != vectors["parsing"]).sum()) <= int((~sure).sum())


@pytest.mark.torch
def test_forward_main_equals_first_output(torch_segmenter, forward, vectors) -> None:
    logits = torch_segmenter.logits(vectors["input"])
    np.testing.assert_allclose(logits, forward["out"].numpy(), atol=1e-6, rtol=0)


# -------------------------------------------------------------------------------- checkpoints
def _save(state: dict, path: Path) -> Path:
    import torch

    torch.save(state, path)
    return path


@pytest.mark.torch
def test_renamed_and_dropped_keys_are_listed(state, tmp_path: Path) -> None:
    from aflw_occ.skin.bisenet import BiSeNetCheckpointError, load_bisenet

    bad = dict(state)
    bad["cp.arm16.conv.weight"] = bad.pop("cp.arm16.conv.conv.weight")  # renamed
    del bad["ffm.conv2.weight"]  # dropped
    path = _save(bad, tmp_path / "renamed.pth")
    with pytest.raises(BiSeNetCheckpointError) as info:
        load_bisenet(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    assert "missing 2: cp.arm16.conv.conv.weight, ffm.conv2.weight" in msg
    assert "unexpected 1: cp.arm16.conv.weight" in msg
    assert isinstance(info.value, AflwOccError)


@pytest.mark.torch
def test_shape_mismatch_is_listed(state, tmp_path: Path) -> None:
    import torch

    from aflw_occ.skin.bisenet import BiSeNetCheckpointError, load_bisenet

    bad = dict(state)
    bad["conv_out.conv_out.weight"] = torch.zeros(18, 256, 1, 1)  # an 18-class model
    path = _save(bad, tmp_path / "classes18.pth")
    expect = r"shape mismatch 1: conv_out\.conv_out\.weight \(18, 256, 1, 1\) != \(19, 256, 1, 1\)"
    with pytest.raises(BiSeNetCheckpointError, match=expect):
        load_bisenet(path)


@pytest.mark.torch
def test_other_architecture_is_rejected(refdir: Path) -> None:
    from aflw_occ.skin.bisenet import BiSeNetCheckpointError, load_bisenet

    dsfnet = refdir / "dsfnet_state_dict.npz"
    if not dsfnet.is_file():
        pytest.skip("no DSFNet reference checkpoint")
    expect = r"missing 160: cp\.resnet\.conv1\.weight, .*unexpected 972: hrnet\."
    with pytest.raises(BiSeNetCheckpointError, match=expect):
        load_bisenet(dsfnet)


@pytest.mark.torch
def test_module_prefix_and_missing_num_batches_tracked_accepted(state, vectors, tmp_path: Path) -> None:
    import torch

    from aflw_occ.skin.bisenet import load_bisenet

    wrapped = {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    model = load_bisenet(_save({"state_dict": wrapped}, tmp_path / "dp.pth"))
    assert not model.training
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(v, state[k]), k
    with torch.no_grad():
        small = model.forward_main(torch.from_numpy(vectors["small.input"])).numpy()
    np.testing.assert_allclose(small, vectors["small.out"], atol=TOL, rtol=TOL)


@pytest.mark.torch
def test_unreadable_checkpoints(tmp_path: Path) -> None:
    import torch

    from aflw_occ.skin.bisenet import BiSeNetCheckpointError, load_bisenet

    with pytest.raises(BiSeNetCheckpointError, match="not found"):
        load_bisenet(tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(BiSeNetCheckpointError, match=r"junk\.pth: cannot read"):
        load_bisenet(junk)
    listy = _save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(BiSeNetCheckpointError, match="not a state dict"):
        load_bisenet(listy)


@pytest.mark.torch
def test_cli_reports_wrong_checkpoint(state, tmp_path: Path, monkeypatch, capsys) -> None:
    from aflw_occ.cli import main

    bad = {k: v for k, v in state.items() if not k.startswith("conv_out32.")}
    path = _save(bad, tmp_path / "no_aux.pth")
    out = tmp_path / "x.onnx"
    argv = ["aflw-occ", "export", "bisenet", "--weights", str(path), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "missing 6: conv_out32.conv.conv.weight" in err and "\n" not in err
    assert not out.exists()


# -------------------------------------------------------------------------------- ONNX
@pytest.mark.torch
def test_onnx_export_matches_torch(onnx_file, torch_segmenter, forward, vectors) -> None:
    path, output = onnx_file
    assert "max |onnxruntime - torch| = " in output
    assert float(output.rsplit("= ", 1)[1].split()[0]) <= TOL
    assert sorted(p.name for p in path.parent.iterdir()) == ["bisenet.onnx"]  # no temp file left
    seg = BiSeNetOnnxSegmenter(path, threads=2)
    assert seg.size == 512
    logits = seg.logits(vectors["input"])
    np.testing.assert_allclose(logits, forward["out"].numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(logits[..., ::2, ::2], vectors["out_sub2"], atol=TOL, rtol=TOL)
    meta = seg.session.get_modelmeta().custom_metadata_map
    assert meta["aflw_occ.classes"].split(",") == list(CLASS_NAMES)
    # reachable through the package's segmenter factory, and our errors are SegmenterErrors
    from aflw_occ.skin import SegmenterError, SkinSegmenter, get_segmenter

    built = get_segmenter(f"bisenet-onnx:{path}")
    assert isinstance(built, BiSeNetOnnxSegmenter) and isinstance(built, SkinSegmenter)
    with pytest.raises(SegmenterError, match="not found"):
        get_segmenter(f"bisenet-onnx:{path.with_name('absent.onnx')}")


@pytest.mark.torch
def test_onnx_full_image_pipeline_gives_official_parsing(onnx_file, forward, vectors) -> None:
    seg = BiSeNetOnnxSegmenter(onnx_file[0], threads=2, crop="full")
    parsing = seg.parse(vectors["input_image_uint8"])
    sure = _gap(forward["out"].numpy()[0]) >= GAP
    assert parsing.dtype == np.uint8 and parsing.shape == (512, 512)
    assert np.array_equal(parsing[sure], vectors["parsing"][sure])


@pytest.mark.torch
def test_export_refuses_bad_size_and_failed_verification(refdir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from aflw_occ.skin.bisenet_export import export_bisenet_onnx

    weights = refdir / "bisenet_state_dict.npz"
    with pytest.raises(BiSeNetError, match="multiple of 32"):
        export_bisenet_onnx(weights, tmp_path / "a.onnx", size=100)
    with pytest.raises(BiSeNetError, match=r"b\.onnx: onnxruntime differs from torch"):
        export_bisenet_onnx(weights, tmp_path / "b.onnx", size=64, tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_onnx_segmenter_rejects_bad_files(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    with pytest.raises(BiSeNetError, match="not found"):
        BiSeNetOnnxSegmenter(tmp_path / "absent.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"garbage" * 20)
    with pytest.raises(BiSeNetError, match=r"junk\.onnx: not a loadable ONNX model"):
        BiSeNetOnnxSegmenter(junk)
    # a valid ONNX model that is not a 19-class parser: identity on (1, 3, 8, 8)
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["y"])], "g", [inp], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    other = tmp_path / "identity.onnx"
    onnx.save(model, str(other))
    with pytest.raises(BiSeNetError, match=r"identity\.onnx: expected a \(1, 19, S, S\) logits output"):
        BiSeNetOnnxSegmenter(other)


@pytest.mark.torch
def test_onnx_module_never_imports_torch(onnx_file) -> None:
    code = (
        "import sys, numpy as np\n"
        "from aflw_occ.skin.bisenet_onnx import BiSeNetOnnxSegmenter\n"
        f"seg = BiSeNetOnnxSegmenter({str(onnx_file[0])!r}, threads=1, crop='full')\n"
        "m = seg(np.zeros((40, 30, 3), np.uint8), np.zeros((68, 2)))\n"
        "assert m.shape == (40, 30) and m.dtype == bool\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


# -------------------------------------------------------------------------------- segmenters
@pytest.mark.torch
@pytest.mark.real
def test_segmenters_agree_on_real_image(real_dataset, onnx_file, torch_segmenter) -> None:
    sample = real_dataset[0]
    image, lm = sample.read_image(), sample.pt3d_68.T
    onnx_seg = BiSeNetOnnxSegmenter(onnx_file[0], threads=2)
    assert torch_segmenter.name == "bisenet" and onnx_seg.name == "bisenet-onnx"
    x, box = prepare(image, lm, 512, "landmarks", "cv2")
    assert box == face_box(lm[:, :2] - 1.0)  # 1-based AFLW2000-3D landmarks
    lt = torch_segmenter.logits(x)
    np.testing.assert_allclose(onnx_seg.logits(x), lt, atol=TOL, rtol=TOL)
    mt, labels = torch_segmenter(image, lm), onnx_seg.parse(image, lm)
    assert mt.shape == image.shape[:2] and mt.dtype == bool and labels.shape == image.shape[:2]
    # torch mask vs onnx parsing: identical up to near-tie pixels; nothing outside the face window
    assert np.mean(mt != np.isin(labels, FACE_CLASSES)) < 1e-3
    assert np.isin(labels_to_image(np.argmax(lt[0], axis=0).astype(np.uint8), box, image.shape[:2]),
                   FACE_CLASSES).sum() == mt.sum()  # fmt: skip
    outside = np.ones(image.shape[:2], bool)
    outside[max(box.y0, 0) : box.y0 + box.side, max(box.x0, 0) : box.x0 + box.side] = False
    assert not labels[outside].any()


@pytest.mark.real
def test_cv2_resize_close_to_official_pil(real_dataset) -> None:
    image = real_dataset[0].read_image()  # 450×450: enlarging, as for every AFLW2000-3D image
    diff = np.abs(resize_rgb(image, 512, "cv2").astype(int) - resize_rgb(image, 512, "pil").astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.5


def test_face_box_by_hand() -> None:
    lm = np.zeros((68, 3))
    lm[36:42, :2] = (100, 100)
    lm[42:48, :2] = (160, 100)
    lm[48, :2], lm[54, :2] = (110, 170), (150, 170)
    # eye distance 60, eye→mouth 70: half = max(120, 126) = 126; centre (130, 100 + 7)
    assert face_box(lm) == CropBox(x0=4, y0=-19, side=252)
    # the segmenter takes 1-based AFLW2000-3D landmarks (centre of img[r, c] at (c + 1, r + 1))
    lm1 = lm.copy()
    lm1[:, :2] += 1.0
    assert prepare(np.zeros((300, 300, 3), np.uint8), lm1, 64, "landmarks", "cv2")[1] == face_box(lm)
    assert face_box(lm[:, :2]) == face_box(lm)
    assert face_box(np.zeros((68, 2))).side == 16  # degenerate landmarks: minimum window


def test_crop_paste_round_trip() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 19, size=(30, 40), dtype=np.uint8)
    box = CropBox(x0=-5, y0=10, side=25)  # sticks out left and bottom
    sq = crop_square(labels[..., None], box)[..., 0]
    assert sq.shape == (25, 25)
    assert not sq[:, :5].any() and np.array_equal(sq[:20, 5:], labels[10:30, 0:20])
    back = paste_square(sq, box, labels.shape)
    expect = np.zeros_like(labels)
    expect[10:30, 0:20] = labels[10:30, 0:20]
    assert np.array_equal(back, expect)
    assert not crop_square(labels[..., None], CropBox(100, 100, 8)).any()  # fully outside


def test_labels_to_image_nearest() -> None:
    labels = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    full = labels_to_image(labels, None, (4, 6))
    assert np.array_equal(full, np.repeat(np.repeat(labels, 2, axis=0), 3, axis=1))
    boxed = labels_to_image(labels, CropBox(1, 0, 4), (4, 4))
    assert np.array_equal(boxed[:, 0], [0, 0, 0, 0])
    assert np.array_equal(boxed[:, 1:3], [[1, 1], [1, 1], [3, 3], [3, 3]])


def test_class_convention() -> None:
    assert len(CLASS_NAMES) == 19 and CLASS_NAMES[1] == "skin" and CLASS_NAMES[6] == "eye_g"
    named = {CLASS_NAMES[c] for c in FACE_CLASSES}
    assert named == {"skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "mouth", "u_lip", "l_lip"}
    mask = class_mask(np.arange(19, dtype=np.uint8))
    assert np.flatnonzero(mask).tolist() == [1, 2, 3, 4, 5, 10, 11, 12, 13]  # glasses (6) are not face


@pytest.mark.parametrize(
    ("image", "landmarks", "crop", "resize", "match"),
    [
        (np.zeros((8, 8, 3), np.float32), np.zeros((68, 2)), "landmarks", "cv2", "uint8 RGB"),
        (np.zeros((8, 8), np.uint8), np.zeros((68, 2)), "landmarks", "cv2", "uint8 RGB"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((5, 2)), "landmarks", "cv2", r"got shape \(5, 2\)"),
        (np.zeros((8, 8, 3), np.uint8), np.full((68, 2), np.nan), "landmarks", "cv2", "NaN"),
        (np.zeros((8, 8, 3), np.uint8), None, "landmarks", "cv2", "needs"),
        (np.zeros((8, 8, 3), np.uint8), None, "middle", "cv2", "crop must be"),
        (np.zeros((8, 8, 3), np.uint8), None, "full", "cubic", "resize method"),
    ],
)
def test_bad_segmenter_inputs(image, landmarks, crop, resize, match: str) -> None:
    with pytest.raises(BiSeNetError, match=match):
        prepare(image, landmarks, 512, crop, resize)
