"""`evaluate`: predictor protocol, adapters (callable, ONNX, torch), spec strings, output validation, results files.

Runs on a tiny store built here from the synthetic demo source (clean + 3 CSOD splits × 8 images); numbers are
checked against an NME computed independently in this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aflw_occ.adapters.preprocess import Preprocess
from aflw_occ.cli import cli
from aflw_occ.errors import PredictionError
from aflw_occ.evaluate import BatchPrediction, EvaluationError, FaceBoxes, evaluate, resolve_splits


def box_predictor(images, boxes: FaceBoxes) -> np.ndarray:
    """Deterministic 'model': a fixed 68-point pattern scaled into the face box, shifted by mean image colour."""
    t = np.stack([np.linspace(0.05, 0.95, 68), 0.5 + 0.4 * np.sin(np.linspace(0, 6, 68))], axis=1)
    size = boxes.face[:, 2:] - boxes.face[:, :2]
    shift = np.array([float(img.mean()) / 50.0 for img in images])[:, None, None]
    return boxes.face[:, None, :2] + t[None] * size[:, None, :] + shift


def _nme(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    wh = gt[:, :, :2].max(1) - gt[:, :, :2].min(1)
    return np.linalg.norm(pred[:, :, :2] - gt[:, :, :2], axis=2).mean(1) / np.sqrt(wh[:, 0] * wh[:, 1])


def test_evaluate_store_scores_and_writes(tiny_store: Path, tmp_path: Path) -> None:
    from aflw_occ.predictions import read_predictions
    from aflw_occ.store import open_store

    out = tmp_path / "res"
    res = evaluate(box_predictor, tiny_store, out_dir=out, batch_size=5, n_boot=50, progress=False)
    assert list(res.splits) == ["clean", "csod-single", "csod-double", "csod-column"]
    with open_store(tiny_store) as st:
        for s in res.splits:
            sp = st.split(s)
            gt = sp.ground_truth()
            images = [sp.image(i) for i in range(len(sp))]
            xy = gt.landmarks[:, :, :2]
            face = np.concatenate([xy.min(1), xy.max(1)], axis=1)
            expected = box_predictor(images, FaceBoxes(ids=gt.ids, roi=None, face=face))
            np.testing.assert_allclose(res.splits[s].landmarks, expected, atol=1e-12)
            nme = _nme(expected, gt.landmarks)
            assert res.splits[s].score["nme_plain"] == pytest.approx(100 * nme.mean(), abs=1e-9)
            pf = read_predictions(out / "predictions" / f"{s}.npz")
            assert pf.ids.tolist() == list(gt.ids)
            np.testing.assert_array_equal(pf.landmarks, res.splits[s].landmarks)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["splits"] == list(res.splits) and meta["data_version"] == "2.0.0" and meta["manifest_sha256"]
    import pandas as pd

    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["split"]) == set(res.splits)
    occ = scores[(scores["metric"] == "nme_occluded_balanced") & (scores["protocol"] == "sparse-2d")]
    assert set(occ["split"]) == {"csod-single", "csod-double", "csod-column"}
    per = pd.read_csv(out / "per_sample.csv")
    assert len(per) == 32 and set(per["split"]) == set(res.splits)
    assert not list(tmp_path.glob(".res.tmp*"))


def test_thread_count_does_not_change_results(tiny_store: Path) -> None:
    a = evaluate(box_predictor, tiny_store, batch_size=3, threads=1, n_boot=50, progress=False)
    b = evaluate(box_predictor, tiny_store, batch_size=7, threads=3, n_boot=50, progress=False)
    for s in a.splits:
        np.testing.assert_array_equal(a.splits[s].landmarks, b.splits[s].landmarks)
    assert a.summary().equals(b.summary())


def _bad(kind: str):
    def fn(images, boxes):
        out = box_predictor(images, boxes)
        if kind == "shape":
            return np.concatenate([out, out[:, :, :1], out[:, :, :1]], axis=2)
        if kind == "rows":
            return out[:-1]
        if kind == "bool":
            return out > 100
        if kind == "text":
            return "landmarks"
        if kind == "ragged":
            return [out[0], out[0][:3]]
        if kind == "none":
            return None
        if kind == "nan":
            if "image00008" in list(boxes.ids):
                out[list(boxes.ids).index("image00008"), 3, 0] = np.nan
            return out
        if kind == "huge":
            out[-1, 0, 0] = 1e300
            return out
        if kind == "pose":
            return BatchPrediction(landmarks=out, angles_deg=np.full((len(out), 3), np.inf))
        raise AssertionError(kind)

    return fn


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("shape", r"model fn, batch of 4 starting at clean/image\d+: landmarks have shape \(4, 68, 4\), expected"),
        ("rows", r"landmarks have shape \(3, 68, 2\), expected \(N, 68, 2\|3\) with N = 4"),
        ("bool", r"landmarks is not numeric \(dtype bool\)"),
        ("text", r"landmarks is not numeric \(dtype <U9\)"),
        ("ragged", r"landmarks is a list that is no numeric array"),
        ("none", r"returned no landmarks"),
        ("nan", r"landmarks of id clean/image00008 hold NaN or inf \(1 of the 4 ids\)"),
        ("huge", r"landmarks of id clean/image\d+ hold values beyond ±1e\+06"),
        ("pose", r"angles_deg of id clean/image\d+ hold NaN or inf"),
    ],
)
def test_bad_model_output_names_sample_and_writes_nothing(
    tiny_store: Path, tmp_path: Path, kind: str, pattern: str
) -> None:
    out = tmp_path / "res"
    with pytest.raises(PredictionError, match=pattern) as err:
        evaluate(_bad(kind), tiny_store, splits="clean", out_dir=out, batch_size=4, progress=False)
    assert "a predictor returns, for N images, (N, 68, 2|3) finite landmarks" in str(err.value)  # what to do
    assert not out.exists() and not list(tmp_path.iterdir())


def test_integer_landmarks_are_numbers(tiny_store: Path) -> None:
    """Model output follows the prediction-file contract: integer pixel coordinates are read as numbers."""
    res = evaluate(lambda im, b: box_predictor(im, b).round().astype(np.int64), tiny_store, splits="clean",
                   n_boot=10, progress=False)  # fmt: skip
    ref = evaluate(lambda im, b: box_predictor(im, b).round(), tiny_store, splits="clean", n_boot=10, progress=False)
    np.testing.assert_array_equal(res.splits["clean"].landmarks, ref.splits["clean"].landmarks)


def test_rerun_with_fewer_splits_leaves_no_stale_predictions(tiny_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    evaluate(box_predictor, tiny_store, out_dir=out, n_boot=20, progress=False)
    assert len(list((out / "predictions").glob("*.npz"))) > 1
    evaluate(box_predictor, tiny_store, splits="clean", out_dir=out, n_boot=20, progress=False)
    assert sorted(p.name for p in (out / "predictions").glob("*.npz")) == ["clean.npz"]
    assert json.loads((out / "meta.json").read_text())["splits"] == ["clean"]


def test_failed_rerun_keeps_previous_results(tiny_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    evaluate(box_predictor, tiny_store, splits="clean", out_dir=out, n_boot=20, progress=False)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(PredictionError):
        evaluate(_bad("nan"), tiny_store, splits="clean", out_dir=out, progress=False)
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_split_selection() -> None:
    avail = ["clean", "csod-single", "csod-double", "nsod"]
    assert resolve_splits("all", avail) == avail
    assert resolve_splits("nsod,clean", avail) == ["nsod", "clean"]
    with pytest.raises(EvaluationError, match="split 'nod' is not in the data"):
        resolve_splits(["nod"], avail)


def test_cli_python_spec(tiny_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = tmp_path / "my_models.py"
    mod.write_text(
        "import numpy as np\n"
        "class Model:\n"
        "    name = 'centre'\n"
        "    def predict(self, images, boxes):\n"
        "        c = (boxes.face[:, :2] + boxes.face[:, 2:]) / 2\n"
        "        return np.repeat(c[:, None, :], 68, axis=1).astype(np.float32)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "res"
    args = ["evaluate", "--model", "python:my_models:Model", "--data", str(tiny_store), "--split", "clean,csod-single"]
    r = CliRunner().invoke(cli, [*args, "--out", str(out), "--no-progress", "--n-boot", "20"])
    assert r.exit_code == 0, r.output
    assert "csod-single" in r.output and (out / "predictions" / "csod-single.npz").is_file()
    r = CliRunner().invoke(cli, ["evaluate", "--model", "python:my_models:Model", "--out", str(out)])
    assert r.exit_code != 0 and "exactly one of --data" in r.output
    sys.modules.pop("my_models", None)


def _uniform_image(rgb: tuple[int, int, int], size: int = 300) -> np.ndarray:
    img = np.empty((size, size, 3), np.uint8)
    img[:] = rgb
    return img


def _const_model(tmp_path: Path) -> Path:
    """ONNX: landmarks[n, k] = (mean of input channel 0 of image n + k, 2k); (N, 3, S, S) → (N, 68, 2)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    base = np.stack([np.arange(68), 2 * np.arange(68)], axis=1).astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),  # (N, 3)
        helper.make_node("Slice", ["m", "s0", "s1", "ax"], ["c0"]),  # (N, 1)
        helper.make_node("Unsqueeze", ["c0", "ax"], ["c1"]),  # (N, 1, 1)
        helper.make_node("Mul", ["c1", "xonly"], ["c2"]),  # (N, 1, 2)
        helper.make_node("Add", ["c2", "base"], ["y"]),  # (N, 68, 2)
    ]
    inits = [
        helper.make_tensor("s0", TensorProto.INT64, [1], [0]),
        helper.make_tensor("s1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("ax", TensorProto.INT64, [1], [1]),
        helper.make_tensor("xonly", TensorProto.FLOAT, [1, 1, 2], [1.0, 0.0]),
        helper.make_tensor("base", TensorProto.FLOAT, [68, 2], base.ravel().tolist()),
    ]
    graph = helper.make_graph(
        nodes,
        "const",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 68, 2])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "const.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(("color", "channel0"), [("bgr", 50), ("rgb", 200)])
def test_onnx_adapter_preprocessing_and_mapping(tmp_path: Path, color: str, channel0: int) -> None:
    from aflw_occ.adapters.registry import load_predictor
    from aflw_occ.crops import scaled_box

    path = _const_model(tmp_path)
    pred = load_predictor(f"onnx:{path},crop=landmarks-1.5,size=64,color={color},mean=127.5,std=128", threads=1)
    face = np.array([[100.0, 110.0, 180.0, 200.0], [50.0, 60.0, 150.0, 140.0]])
    images = [_uniform_image((200, 100, 50)), _uniform_image((200, 100, 50))]
    got = pred.predict(images, FaceBoxes(ids=np.array(["a", "b"]), roi=None, face=face))
    # independent expectation: crop box by the SADRNet rule, crop-pixel landmarks, scaled back
    v = (channel0 - 127.5) / 128
    crop_pts = np.stack([np.arange(68) + v, 2.0 * np.arange(68)], axis=1)
    for i in range(2):
        b = scaled_box(face[i : i + 1])[0]
        s = (b[2] - b[0]) / 64
        np.testing.assert_allclose(got[i], crop_pts * s + b[:2], atol=1e-4)


def test_preprocess_layouts_and_options() -> None:
    crops = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    p = Preprocess(size=8, color="bgr", mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 8.0), layout="nhwc")
    ref = (crops[..., ::-1].astype(np.float32) - np.array([1, 2, 3], np.float32)) / np.array([2, 4, 8], np.float32)
    np.testing.assert_allclose(p.normalise(crops), ref, rtol=1e-6)
    q = p.with_options({"layout": "nchw", "mean": "0", "std": "255", "color": "rgb"})
    np.testing.assert_allclose(q.normalise(crops), crops.transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)
    with pytest.raises(PredictionError, match=r"pre-processing: unknown option\(s\) gamma"):
        p.with_options({"gamma": "2"})
    with pytest.raises(PredictionError, match="unknown colour order 'hsv'"):
        Preprocess(color="hsv")
    flat = np.arange(2 * 136, dtype=np.float64).reshape(2, 136)
    from aflw_occ.adapters.preprocess import landmarks_from_output

    np.testing.assert_array_equal(landmarks_from_output(flat)[0, 1], [2, 3])
    np.testing.assert_array_equal(landmarks_from_output(flat, "planar")[0, 1], [1, 69])
    with pytest.raises(PredictionError, match="not 68 landmarks"):
        landmarks_from_output(np.zeros((2, 70)))


def test_torch_module_adapter() -> None:
    torch = pytest.importorskip("torch")
    from aflw_occ.adapters.torch_module import TorchModulePredictor

    class Mean(torch.nn.Module):
        def forward(self, x):  # (N, 3, S, S) → (N, 68, 2): x = mean of channel 0, y = 10
            m = x[:, 0].mean(dim=(1, 2))
            return torch.stack([m[:, None].expand(-1, 68), torch.full((x.shape[0], 68), 10.0)], dim=2)

    pre = Preprocess(crop="3ddfa", size=32, color="rgb", mean=0.0, std=1.0)
    p = TorchModulePredictor(Mean(), pre)
    roi = np.array([[10.0, 20.0, 74.0, 84.0]])  # 64 px box → scale 2
    out = p.predict([_uniform_image((16, 0, 0), 200)], FaceBoxes(ids=np.array(["x"]), roi=roi, face=roi))
    np.testing.assert_allclose(out[0, 0], [16 * 2 + 10, 10 * 2 + 20], atol=1e-4)


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ("bogus:x", "unknown model spec 'bogus:x'"),
        ("onnx:", "has no PATH"),
        ("onnx:/x/m.onnx,size=abc", r"size=abc is invalid: size must be a positive integer \(square input side"),
        ("onnx:/x/m.onnx,mean=1/2", "mean must be a number or three numbers a/b/c"),
        ("onnx:/x/m.onnx,layout=nwhc", "layout must be one of nchw, nhwc"),
        ("onnx:/nonexistent/m.onnx", "/nonexistent/m.onnx: ONNX model file does not exist"),
        ("onnx:/nonexistent/m.onnx,size", "option 'size' is not key=value"),
        ("3ddfa-v2:/x/model.bin", r"3ddfa-v2 needs a .onnx \(exported\) or .pth \(checkpoint\) file"),
        ("3ddfa-v2:/x/model.onnx,pose=euler", "pose must be one of aflw2000-3d, synergynet"),
        ("dlib:size=3", r"unknown option\(s\) size \(options: box, model\)"),
        ("3ddfa-v2:/x/model.onnx,zoom=2", "unknown option"),
        ("python:no_such_module_xyz:f", "cannot import no_such_module_xyz"),
        ("python:json:no_attr", "json has no attribute no_attr"),
        ("python:json", "must be module:attribute"),
    ],
)
def test_bad_specs(spec: str, pattern: str) -> None:
    from aflw_occ.adapters.registry import load_predictor

    with pytest.raises(PredictionError, match=pattern):
        load_predictor(spec)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    from aflw_occ.adapters.registry import load_predictor

    f = tmp_path / "junk.onnx"
    f.write_bytes(b"\x00junk")
    with pytest.raises(PredictionError, match="junk.onnx: not a loadable ONNX model"):
        load_predictor(f"onnx:{f}")
    with pytest.raises(PredictionError, match="junk.onnx: not a loadable ONNX model"):
        load_predictor(f"3ddfa-v2:{f}")


def test_source_folder_has_only_clean(tmp_path: Path) -> None:
    from aflw_occ.demo import make_source

    src = make_source(tmp_path / "src", n=3)
    with pytest.raises(EvaluationError, match="split 'csod-single' is not in the data"):
        evaluate(box_predictor, src, splits="csod-single", progress=False)
    res = evaluate(box_predictor, src, n_boot=20, progress=False)
    assert list(res.splits) == ["clean"] and res.data_version == "source"
    with pytest.raises(EvaluationError, match="does not exist"):
        evaluate(box_predictor, tmp_path / "nope.h5", progress=False)


def test_bulk_store_reads_equal_split_image(tiny_store: Path) -> None:
    from aflw_occ.store import open_store
    from aflw_occ.store.bulk import bulk_readable, load_images

    with open_store(tiny_store) as st:
        sps = [st.split(s) for s in st.splits]
        assert bulk_readable(sps) == set(range(len(sps)))  # the fast path is really taken
        items = [(k, i) for i in (5, 1, 6) for k in range(len(sps))]
        got = load_images(sps, items, {0, 1, 2, 3})
        for (k, i), img in zip(items, got, strict=True):
            np.testing.assert_array_equal(img, sps[k].image(i))


def test_bulk_reader_falls_back_when_pixels_differ(tiny_store: Path) -> None:
    from aflw_occ.store import open_store
    from aflw_occ.store.bulk import bulk_readable, load_images

    class Shifted:
        """A store split whose image() differs from what the bulk reader would decode."""

        def __init__(self, sp):
            self._sp = sp
            self.group, self.rows, self.source_index, self.store = sp.group, sp.rows, sp.source_index, sp.store

        def __len__(self) -> int:
            return len(self._sp)

        def image(self, i: int) -> np.ndarray:
            return (self._sp.image(i) // 2).astype(np.uint8)

    with open_store(tiny_store) as st:
        sps = [Shifted(st.split("csod-single")), st.split("clean")]
        assert bulk_readable(sps) == {1}
        got = load_images(sps, [(0, 2), (1, 2)])
        np.testing.assert_array_equal(got[0], sps[0].image(2))
        np.testing.assert_array_equal(got[1], sps[1].image(2))


def test_distinct_rows_reuses_only_identical_crops() -> None:
    from aflw_occ.adapters.preprocess import distinct_rows, expand_rows

    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, (7, 6, 6, 3), dtype=np.uint8)
    boxes = np.tile([10.0, 20.0, 110.0, 120.0], (7, 1))
    crops[3] = crops[0]  # same pixels, same box → reused
    crops[5] = crops[0]
    boxes[5, 0] = 11.0  # same pixels but another box → not compared, fed again
    crops[6] = crops[2]
    crops[6, 5, 5, 2] ^= 1  # one bit off → distinct
    keep, inverse = distinct_rows(crops, boxes)
    assert keep.tolist() == [0, 1, 2, 4, 5, 6]
    assert inverse.tolist() == [0, 1, 2, 0, 3, 4, 5]
    np.testing.assert_array_equal(crops[keep][inverse], crops)
    out = np.arange(6.0)[:, None] * np.ones((6, 2))
    np.testing.assert_array_equal(expand_rows(out, inverse)[:, 0], [0, 1, 2, 0, 3, 4, 5])
    assert expand_rows(out, np.arange(6)) is out


def test_crop_batch_equals_crop_resize_per_image() -> None:
    from aflw_occ.crops import CropError, crop_batch, crop_resize

    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (int(h), int(w), 3), dtype=np.uint8) for h, w in rng.integers(40, 90, (9, 2))]
    sx, sy = rng.uniform(-30, 60, 9), rng.uniform(-30, 60, 9)
    side = rng.uniform(8, 80, 9)
    boxes = np.stack([sx, sy, sx + side, sy + side * rng.uniform(0.8, 1.2, 9)], axis=1)
    boxes[0] = [10.5, 11.5, 30.5, 33.5]  # halves: rounded to even, as round() does
    boxes[1] = [-5.0, -5.0, 200.0, 200.0]  # larger than the image
    got = crop_batch(images, boxes, 24)
    assert got.shape == (9, 24, 24, 3) and got.dtype == np.uint8
    for i, img in enumerate(images):
        np.testing.assert_array_equal(got[i], crop_resize(img, boxes[i], 24))
    with pytest.raises(CropError, match=r"image7: invalid crop box"):
        crop_batch(images[:8], np.vstack([boxes[:7], [[5.0, 5.0, 5.0, 9.0]]]), 24, ids=[f"image{i}" for i in range(8)])
    with pytest.raises(CropError, match=r"sample 2: crop box .* is empty after rounding"):
        crop_batch(images[:3], np.vstack([boxes[:2], [[5.2, 5.0, 5.4, 9.0]]]), 24)


def test_onnx_concurrent_inference_on_store_equals_plain_loop(tiny_store: Path, tmp_path: Path) -> None:
    """The ONNX adapter's concurrent path (worker threads, single-thread session, bulk store reads, 16-row chunks)
    gives exactly the landmarks of a plain loop: one store image (``Split.image``) at a time through ``predict``."""
    from aflw_occ.adapters.registry import load_predictor
    from aflw_occ.store import open_store

    path = _const_model(tmp_path)
    pred = load_predictor(f"onnx:{path},crop=landmarks-1.5,size=64,color=bgr,mean=127.5,std=128", threads=2)
    assert callable(pred.infer_concurrent)
    a = evaluate(pred, tiny_store, batch_size=20, threads=3, n_boot=20, progress=False)
    b = evaluate(pred, tiny_store, batch_size=3, threads=1, n_boot=20, progress=False)
    with open_store(tiny_store) as st:
        for s in a.splits:
            sp = st.split(s)
            gt = sp.ground_truth()
            xy = gt.landmarks[:, :, :2]
            face = np.concatenate([xy.min(1), xy.max(1)], axis=1)
            for i in range(len(sp)):
                one = FaceBoxes(ids=gt.ids[i : i + 1], roi=None, face=face[i : i + 1])
                want = pred.predict([sp.image(i)], one)[0]
                np.testing.assert_array_equal(a.splits[s].landmarks[i], want)
                np.testing.assert_array_equal(b.splits[s].landmarks[i], want)


def test_bulk_reader_reuse_gives_same_pixels_in_reused_memory(tiny_store: Path) -> None:
    from aflw_occ.store import open_store
    from aflw_occ.store.bulk import BulkReader, load_images

    with open_store(tiny_store) as st:
        sps = [st.split(s) for s in st.splits]
        reader = BulkReader(sps)
        items = [(k, i) for i in (0, 3) for k in range(len(sps))]
        first = load_images(sps, items, set(range(len(sps))), reader, reuse=True)
        for (k, i), img in zip(items, first, strict=True):
            np.testing.assert_array_equal(img, sps[k].image(i))
        later = [(k, i) for i in (7, 2) for k in range(len(sps))]
        second = load_images(sps, later, set(range(len(sps))), reader, reuse=True)
        for (k, i), img in zip(later, second, strict=True):
            np.testing.assert_array_equal(img, sps[k].image(i))
        # occluded rows were written into the memory of the first call's occluded rows; clean rows are fresh
        assert np.shares_memory(first[1], second[1]) and not np.shares_memory(first[0], second[0])


def test_prediction_is_the_earlier_name_of_batch_prediction() -> None:
    from aflw_occ.evaluate import Prediction

    assert Prediction is BatchPrediction
