"""The detector-in-the-loop protocol without real data: BlazeFace anchors, decoding and weighted NMS, IoU and box
conversions, the matching rule, the box conventions, the detection metrics and the detection file format — each
against an independent loop written here on fabricated data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from aflw_occ.detection import blazeface
from aflw_occ.detection.boxes import from_dlib_ltrb, iou, iou_matrix, to_dlib_ltrb
from aflw_occ.detection.calibration import BoxConvention, derive, roi_from_face
from aflw_occ.detection.files import (
    FORMAT,
    DetectionFileError,
    SplitDetections,
    check_store,
    read_detections,
    write_detections,
)
from aflw_occ.detection.match import IOU_THRESHOLD, match_all, match_one
from aflw_occ.detection.scoring import detection_rows
from aflw_occ.metrics.detection import auc_terms, detection_rate, failure_terms, with_misses


def loop_iou(p: list[float], q: list[float]) -> float:
    iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = iw * ih
    union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
    return inter / union if union > 0 else 0.0


def random_boxes(rng: np.random.Generator, n: int, scale: float = 100.0) -> np.ndarray:
    xy = rng.uniform(0, scale, size=(n, 2))
    wh = rng.uniform(1, scale / 2, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def test_iou_matrix_equals_loop() -> None:
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, 7), random_boxes(rng, 5)
    got = iou_matrix(a, b)
    for i in range(7):
        for j in range(5):
            assert got[i, j] == pytest.approx(loop_iou(a[i].tolist(), b[j].tolist()), abs=1e-12)
    np.testing.assert_allclose(iou(a[:5], b), [loop_iou(a[i].tolist(), b[i].tolist()) for i in range(5)])
    assert iou_matrix([0, 0, 1, 1], [2, 2, 3, 3])[0, 0] == 0.0
    assert iou_matrix([0, 0, 1, 1], [0, 0, 1, 1])[0, 0] == 1.0
    assert iou_matrix([0, 0, 0, 1], [0, 0, 0, 1])[0, 0] == 0.0  # no area


def test_dlib_rectangles_round_trip() -> None:
    ltrb = np.array([[10, 20, 109, 119], [-5, 0, 80, 85]])
    boxes = from_dlib_ltrb(ltrb)
    np.testing.assert_array_equal(boxes[0], [10.5, 20.5, 110.5, 120.5])  # 100 whole pixels wide, 1-based frame
    np.testing.assert_array_equal(to_dlib_ltrb(boxes), ltrb)


def loop_anchors() -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    layer = 0
    strides = [8, 16, 16, 16]
    while layer < len(strides):
        per_cell, last = 0, layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 2
            last += 1
        side = math.ceil(128 / strides[layer])
        for y in range(side):
            for x in range(side):
                for _ in range(per_cell):
                    out.append(((x + 0.5) / side, (y + 0.5) / side))
        layer = last
    return out


def test_anchor_layout_equals_loop() -> None:
    got = blazeface.anchor_centres()
    want = np.array(loop_anchors())
    assert got.shape == (896, 2)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[0], [1 / 32, 1 / 32])
    np.testing.assert_array_equal(got[512], [1 / 16, 1 / 16])  # first anchor of the 8 × 8 map (6 per cell)
    np.testing.assert_array_equal(got[517], [1 / 16, 1 / 16])
    np.testing.assert_array_equal(got[518], [3 / 16, 1 / 16])


def test_decode_equals_loop() -> None:
    rng = np.random.default_rng(2)
    anchors = blazeface.anchor_centres()
    reg = rng.normal(0, 20, size=(896, 16))
    logits = rng.normal(0, 3, size=896)
    logits[:3] = [200.0, -200.0, 0.0]  # clipped to ±100; sigmoid(0) = 0.5 is kept (score ≥ 0.5)
    boxes, scores = blazeface.decode(reg, logits, anchors, 0.5)
    want_b, want_s = [], []
    for k in range(896):
        s = 1.0 / (1.0 + math.exp(-max(-100.0, min(100.0, logits[k]))))
        if s < 0.5:
            continue
        cx = anchors[k, 0] + reg[k, 0] / 128
        cy = anchors[k, 1] + reg[k, 1] / 128
        w, h = reg[k, 2] / 128, reg[k, 3] / 128
        want_b.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        want_s.append(s)
    np.testing.assert_allclose(boxes, want_b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores, want_s, rtol=1e-12)
    assert scores[0] == 1.0 and 0.5 in scores.tolist()


def loop_weighted_nms(boxes: list[list[float]], scores: list[float], thr: float) -> list[tuple[list[float], float]]:
    remaining = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    out = []
    while remaining:
        top = remaining[0]
        group = [j for j in remaining if j == top or loop_iou(boxes[top], boxes[j]) > thr]
        total = sum(scores[j] for j in group)
        blended = [sum(scores[j] * boxes[j][c] for j in group) / total for c in range(4)]
        out.append((blended, scores[top]))
        remaining = [j for j in remaining if j not in group]
    return out


def test_weighted_nms_equals_loop() -> None:
    rng = np.random.default_rng(3)
    centres = rng.uniform(0.2, 0.8, size=(4, 2))
    boxes = []
    for _ in range(30):  # clusters of jittered boxes around 4 faces
        c = centres[rng.integers(4)] + rng.normal(0, 0.02, 2)
        s = rng.uniform(0.15, 0.25)
        boxes.append([c[0] - s, c[1] - s, c[0] + s, c[1] + s])
    scores = rng.uniform(0.5, 1.0, size=30).tolist()
    got_b, got_s = blazeface.weighted_nms(np.array(boxes), np.array(scores), 0.3)
    want = loop_weighted_nms(boxes, scores, 0.3)
    assert len(got_s) == len(want) < 30
    np.testing.assert_allclose(got_b, [b for b, _ in want], atol=1e-12)
    np.testing.assert_array_equal(got_s, [s for _, s in want])
    empty_b, empty_s = blazeface.weighted_nms(np.zeros((0, 4)), np.zeros(0))
    assert empty_b.shape == (0, 4) and empty_s.shape == (0,)


def test_letterbox_maps_back_to_image_pixels() -> None:
    np.testing.assert_array_equal(blazeface.letterbox((450, 450, 3)), [0, 0, 450, 450])
    np.testing.assert_array_equal(blazeface.letterbox((100, 300, 3)), [0, -100, 300, 200])  # centred, zero border
    x, square = blazeface.model_input(np.full((100, 300, 3), 255, dtype=np.uint8))
    assert x.shape == (1, 128, 128, 3) and x.dtype == np.float32
    assert x[0, 64, 64, 0] == 1.0 and x[0, 2, 64, 0] == -1.0  # image pixels → 1, letterbox border → −1


def loop_match(boxes: np.ndarray, scores: np.ndarray, ref: np.ndarray) -> tuple[int, float]:
    best, key = -1, None
    for k in range(len(boxes)):
        o = loop_iou(boxes[k].tolist(), ref.tolist())
        cand = (o, scores[k], -k)
        if key is None or cand > key:
            best, key = k, cand
    if key is None:
        return -1, 0.0
    return (best if key[0] >= IOU_THRESHOLD else -1), key[0]


def test_matching_equals_loop() -> None:
    rng = np.random.default_rng(4)
    refs = random_boxes(rng, 200)
    cands = []
    for i in range(200):
        k = int(rng.integers(0, 4))
        b = refs[i] + rng.normal(0, 15, size=(k, 4))
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)
        s = rng.choice([0.5, 0.9, 1.2], size=k)  # repeated scores: the tie-breaks are exercised
        if k >= 2 and i % 7 == 0:
            b[1] = b[0]  # identical boxes: the higher score wins, then the earlier
        cands.append((b, s))
    index, ious = match_all(cands, refs)
    for i in range(200):
        want = loop_match(cands[i][0], cands[i][1], refs[i])
        assert (int(index[i]), ious[i]) == (want[0], pytest.approx(want[1], abs=1e-12))
    assert (index == -1).any() and (index >= 0).any()
    m = match_one(np.array([[0, 0, 10, 10], [0, 0, 10, 10]]), np.array([0.5, 0.9]), np.array([0, 0, 10, 10]))
    assert m.index == 1 and m.detected
    assert not match_one(np.zeros((0, 4)), np.zeros(0), np.array([0, 0, 1, 1])).detected


def test_box_convention_inverts_and_derives() -> None:
    conv = BoxConvention(0.0, 0.05, 0.95, 0.91)
    rng = np.random.default_rng(5)
    det = random_boxes(rng, 50)
    det[:, 3] = det[:, 1] + (det[:, 2] - det[:, 0])  # square detector boxes
    faces = conv.to_face(det)
    np.testing.assert_allclose(conv.from_face(faces), det, atol=1e-9)
    s = (det[:, 2] - det[:, 0] + det[:, 3] - det[:, 1]) / 2
    np.testing.assert_allclose(faces[:, 2] - faces[:, 0], 0.95 * s)
    np.testing.assert_allclose((faces[:, 1] + faces[:, 3]) / 2 - (det[:, 1] + det[:, 3]) / 2, 0.05 * s)
    got = derive(det, faces)
    assert (got.dx, got.dy, got.kw, got.kh) == (0.0, pytest.approx(0.05), pytest.approx(0.95), pytest.approx(0.91))


def test_roi_from_face() -> None:
    roi = roi_from_face(np.array([[100.0, 120.0, 200.0, 260.0]]))
    side = math.sqrt(2) * 140
    np.testing.assert_allclose(roi, [[150 - side / 2, 190 - side / 2, 150 + side / 2, 190 + side / 2]])


def test_detection_metrics_equal_loops() -> None:
    rng = np.random.default_rng(6)
    n = 300
    det = rng.random(n) < 0.8
    e = np.where(det, rng.gamma(2.0, 0.03, n), np.nan)
    bins = rng.integers(0, 3, n)
    fail = failure_terms(e, det, 0.10)
    auc = auc_terms(e, det, 0.07)
    for i in range(n):
        assert fail[i] == (1.0 if (not det[i] or e[i] > 0.10) else 0.0)
        assert auc[i] == (max(0.0, 1.0 - e[i] / 0.07) if det[i] else 0.0)
    errs = with_misses(e, det)
    assert np.isinf(errs[~det]).all() and np.array_equal(errs[det], e[det])
    # the AUC with misses is the exact area under the CED counted over all N images (misses never ≤ t)
    t = np.linspace(0, 0.07, 70001)
    ced = np.array([(errs <= x).sum() / n for x in t])
    assert auc.mean() == pytest.approx(np.trapezoid(ced, t) / 0.07, abs=1e-4)
    per_bin = detection_rate(det, bins)
    for b in range(3):
        assert per_bin[b] == pytest.approx(sum(det[i] for i in range(n) if bins[i] == b) / (bins == b).sum())
    assert float(detection_rate(det)) == pytest.approx(det.mean())
    with pytest.raises(ValueError):
        failure_terms(np.full(n, np.nan), np.ones(n, bool), 0.1)  # a detected face needs an error


def test_detection_rows_values_and_bootstrap() -> None:
    rng = np.random.default_rng(7)
    n = 240
    det = rng.random(n) < 0.85
    e = np.where(det, rng.gamma(2.0, 0.03, n), np.nan)
    bins = np.repeat([0, 1, 2], 80)
    rows = {r.key: r for r in detection_rows(det, bins, e, n_boot=200, seed=3)}
    again = {r.key: r for r in detection_rows(det, bins, e, n_boot=200, seed=3)}
    assert rows == again  # same seed, same bits
    rate = [det[bins == b].mean() for b in range(3)]
    assert rows["detection_rate_30_60"].value == pytest.approx(100 * rate[1])
    assert rows["detection_rate_balanced"].value == pytest.approx(100 * np.mean(rate))
    fail = [(~det | (np.nan_to_num(e) > 0.1))[bins == b].mean() for b in range(3)]
    assert rows["failure_10_with_misses_balanced"].value == pytest.approx(100 * np.mean(fail))
    assert rows["auc_7_with_misses_plain"].value == pytest.approx(auc_terms(np.nan_to_num(e), det, 0.07).mean())
    for r in rows.values():
        assert r.ci_low <= r.value <= r.ci_high
    only_rate = [r.key for r in detection_rows(det, bins, n_boot=10)]
    assert all(k.startswith("detection_rate") for k in only_rate)


def fake_detections(n: int = 4, split: str = "clean", version: str = "2.0.0") -> SplitDetections:
    box = np.array([[10, 10, 50, 50], [np.nan] * 4, [5, 6, 7, 9], [1, 1, 3, 3]], dtype=float)[:n]
    return SplitDetections(
        ids=np.array([f"image{i:05d}" for i in range(n)]),
        source_ids=np.array([f"image{i:05d}" for i in range(n)]),
        box=box,
        score=np.where(np.isfinite(box[:, 0]), 0.9, np.nan),
        iou=np.array([0.8, 0.0, 0.4, 0.35])[:n],
        cand_offsets=np.array([0, 1, 1, 2, 4])[: n + 1],
        cand_boxes=np.array([[10, 10, 50, 50], [5, 6, 7, 9], [1, 1, 3, 3], [0, 0, 9, 9]], dtype=float),
        cand_scores=np.array([0.9, 0.9, 0.9, 0.6]),
        meta={
            "detector": "blazeface",
            "detector_version": "test",
            "settings": {"min_score": 0.5},
            "match_rule": "test rule",
            "data_version": version,
            "manifest_sha256": "ab" * 32,
            "split": split,
        },
    )


def test_detection_file_round_trip(tmp_path) -> None:
    det = fake_detections()
    path = write_detections(tmp_path / "clean.npz", det)
    back = read_detections(path)
    for key in ("ids", "source_ids", "box", "score", "iou", "cand_offsets", "cand_boxes", "cand_scores"):
        np.testing.assert_array_equal(getattr(back, key), getattr(det, key))
    assert back.detected.tolist() == [True, False, True, True]
    b, s = back.candidates(3)
    np.testing.assert_array_equal(s, [0.9, 0.6])
    assert back.identity() == det.identity() and "created_utc" in back.meta
    assert [p.name for p in tmp_path.iterdir()] == ["clean.npz"]  # no temporary file left


def test_detection_file_errors(tmp_path) -> None:
    with pytest.raises(DetectionFileError, match="does not exist"):
        read_detections(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DetectionFileError, match="junk.npz: not a readable"):
        read_detections(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", format=np.asarray("something-else/1"))
    with pytest.raises(DetectionFileError, match="is not 'aflw-occ-detections/1'"):
        read_detections(tmp_path / "other.npz")
    np.savez(tmp_path / "part.npz", format=np.asarray(FORMAT), meta=np.asarray(json.dumps({})))
    with pytest.raises(DetectionFileError, match="missing ids"):
        read_detections(tmp_path / "part.npz")
    det = fake_detections()
    with pytest.raises(DetectionFileError, match="box and score disagree"):
        SplitDetections(**{**det.__dict__, "score": np.full(4, 0.5)})
    with pytest.raises(DetectionFileError, match="meta lacks detector"):
        SplitDetections(**{**det.__dict__, "meta": {}})
    with pytest.raises(DetectionFileError, match="cand_offsets"):
        SplitDetections(**{**det.__dict__, "cand_offsets": np.array([0, 2, 1, 2, 4])})


def test_detection_file_of_other_data_is_refused() -> None:
    det = fake_detections()
    check_store(det, "2.0.0", "ab" * 32, "clean", det.ids)  # its own store: fine
    other = r"detections of data 2\.0\.0 .* store is data 1\.0\.0 .*aflw-occ detect"
    with pytest.raises(DetectionFileError, match=other):
        check_store(det, "1.0.0", "ab" * 32, "clean", det.ids)
    with pytest.raises(DetectionFileError, match="manifest cdcdcdcdcdcd"):
        check_store(det, "2.0.0", "cd" * 32, "clean", det.ids)
    with pytest.raises(DetectionFileError, match="not 'nsod'"):
        check_store(det, "2.0.0", "ab" * 32, "nsod", det.ids)
    with pytest.raises(DetectionFileError, match="ids are not the 3 ids"):
        check_store(det, "2.0.0", "ab" * 32, "clean", det.ids[:3])


def test_box_protocol_parsing_and_detector_boxes(tmp_path) -> None:
    from aflw_occ.detection.calibration import CONVENTIONS
    from aflw_occ.detection.protocol import DetectorBoxes, detector_face_boxes, parse_boxes

    assert parse_boxes(None) is None and parse_boxes("ground-truth") is None and parse_boxes("gt") is None
    for bad in ("detector", "detector:", "boxes:x", "dlib"):
        with pytest.raises(DetectionFileError, match="'detector:DIR'"):
            parse_boxes(bad)
    with pytest.raises(DetectionFileError, match="no such detection folder"):
        parse_boxes(f"detector:{tmp_path / 'none'}")
    det = fake_detections()
    write_detections(tmp_path / "clean.npz", det)
    boxes = parse_boxes(f"detector:{tmp_path}")
    assert isinstance(boxes, DetectorBoxes)
    got = boxes.load("clean", "2.0.0", "ab" * 32, det.ids)
    assert boxes.detector == "blazeface" and got.detected.sum() == 3
    with pytest.raises(DetectionFileError, match=r"nsod\.npz: no detections of split 'nsod'.*aflw-occ detect"):
        boxes.load("nsod", "2.0.0", "ab" * 32, det.ids)
    other = fake_detections(split="nsod")
    meta = {**other.meta, "detector_version": "v2"}
    write_detections(tmp_path / "nsod.npz", SplitDetections(**{**other.__dict__, "meta": meta}))
    with pytest.raises(DetectionFileError, match="another detector run"):
        boxes.load("nsod", "2.0.0", "ab" * 32, det.ids)
    fb = detector_face_boxes(got, np.array([0, 2]))
    np.testing.assert_array_equal(fb.detected, det.box[[0, 2]])
    np.testing.assert_allclose(fb.face, CONVENTIONS["blazeface"].to_face(det.box[[0, 2]]))
    np.testing.assert_allclose(fb.roi, roi_from_face(fb.face))
    with pytest.raises(DetectionFileError, match="has no detection"):
        detector_face_boxes(got, np.array([1]))
    single = DetectorBoxes(tmp_path / "clean.npz")  # one file: one split
    assert single.file_for("clean") == tmp_path / "clean.npz"


class FakeDetector:
    """A deterministic stand-in detector: one box around the image centre, scored by the mean pixel value; it can be
    told to raise KeyboardInterrupt at its n-th call."""

    name = "blazeface"  # a registered name, so the box convention exists
    version = "fake 1"

    def __init__(self, stop_at: int | None = None, settings: dict | None = None) -> None:
        self.calls = 0
        self.stop_at = stop_at
        self.settings = settings or {"min_score": 0.5}

    def detect(self, image):
        from aflw_occ.detection import Candidates

        self.calls += 1
        if self.stop_at is not None and self.calls >= self.stop_at:
            raise KeyboardInterrupt
        h, w = image.shape[:2]
        return Candidates(np.array([[w * 0.25, h * 0.25, w * 0.75, h * 0.75]]), np.array([image.mean() / 255]))


def test_detect_store_writes_resumes_refuses_and_keeps_finished_splits(tiny_store, tmp_path) -> None:
    from aflw_occ.crops import landmark_box
    from aflw_occ.detection.run import detect_store
    from aflw_occ.errors import AflwOccError, Interrupted
    from aflw_occ.store import open_store

    out = tmp_path / "det"
    run = detect_store(FakeDetector(), tiny_store, out, progress=False)
    with open_store(tiny_store) as st:
        n = len(st.split("clean"))  # images per split
        assert run.computed == ["clean", "csod-single", "csod-double", "csod-column"] and run.images == 4 * n
        sp = st.split("csod-double")
        faces = landmark_box(sp.ground_truth().landmarks)
        shapes = [sp.image(i).shape for i in range(len(sp))]
    det = read_detections(out / "csod-double.npz")
    for i, (h, w, _) in enumerate(shapes):  # the one candidate, matched exactly when its IoU reaches 0.3
        box = np.array([w * 0.25, h * 0.25, w * 0.75, h * 0.75])
        o = iou_matrix(box, faces[i])[0, 0]
        assert det.iou[i] == pytest.approx(o)
        assert det.detected[i] == (o >= IOU_THRESHOLD)
        np.testing.assert_array_equal(det.cand_boxes[i], box)
    assert det.meta["detector"] == "blazeface" and det.meta["data_version"] == "2.0.0"

    again = detect_store(FakeDetector(), tiny_store, out, resume=True, progress=False)
    assert again.kept == run.computed and again.computed == [] and again.images == 0

    with pytest.raises(AflwOccError, match="holds detections of another run"):
        detect_store(FakeDetector(settings={"min_score": 0.7}), tiny_store, out, progress=False)

    stopped = tmp_path / "stopped"
    with pytest.raises(Interrupted, match=r"finished splits kept in .*stopped: clean, csod-single \(run again"):
        detect_store(FakeDetector(stop_at=2 * n + 2), tiny_store, stopped, progress=False)
    assert sorted(p.name for p in stopped.iterdir()) == ["clean.npz", "csod-single.npz"]  # no half-written file
    resumed = detect_store(FakeDetector(), tiny_store, stopped, resume=True, progress=False)
    assert resumed.kept == ["clean", "csod-single"] and resumed.computed == ["csod-double", "csod-column"]
    column = read_detections(stopped / "csod-column.npz").box
    np.testing.assert_array_equal(column, read_detections(out / "csod-column.npz").box)

    replaced = detect_store(FakeDetector(settings={"min_score": 0.7}), tiny_store, out, "clean", overwrite=True,
                            progress=False)  # fmt: skip
    assert replaced.computed == ["clean"] and [p.name for p in out.iterdir()] == ["clean.npz"]


def test_evaluate_when_the_detector_finds_no_face(tiny_store, tmp_path) -> None:
    from aflw_occ.detection import Candidates
    from aflw_occ.detection.run import detect_store
    from aflw_occ.evaluate import evaluate

    class Blind(FakeDetector):
        def detect(self, image):
            return Candidates.none()

    detect_store(Blind(), tiny_store, tmp_path / "det", "clean,csod-single", progress=False)

    def never(images, boxes):
        raise AssertionError("a missed face must not be run")

    boxes = f"detector:{tmp_path / 'det'}"
    res = evaluate(never, tiny_store, "clean,csod-single", tmp_path / "r", boxes=boxes, n_boot=20, progress=False)
    for split in ("clean", "csod-single"):
        rows = {r.key: r.value for r in res.splits[split].detection}
        assert rows["detection_rate_plain"] == 0.0 and rows["failure_10_with_misses_plain"] == 100.0
        assert rows["auc_7_with_misses_plain"] == 0.0 and res.splits[split].scores == {}
    assert list((tmp_path / "r" / "predictions").iterdir()) == []
    per = res.per_sample()
    assert (
        len(per) == 2 * len(res.splits["clean"].ids)
        and per["missing"].all()
        and set(per["box_protocol"]) == {"detector:blazeface"}
    )


def test_dlib_rectangles_per_box_protocol() -> None:
    from aflw_occ.detection.calibration import CONVENTIONS
    from aflw_occ.detection.protocol import dlib_rectangles
    from aflw_occ.evaluation import FaceBoxes

    ids = np.array(["a", "b"])
    face = np.array([[100.0, 120.0, 260.0, 300.0], [50.0, 60.0, 150.0, 170.0]])
    assert dlib_rectangles(FaceBoxes(ids, None, face)) is None  # ground truth: the adapter's own rule
    own = from_dlib_ltrb(np.array([[108, 136, 367, 395], [10, 20, 89, 99]]))
    got = dlib_rectangles(FaceBoxes(ids, None, face, detected=own, detector="dlib-hog"))
    np.testing.assert_array_equal(got, [[108, 136, 367, 395], [10, 20, 89, 99]])  # dlib's own boxes, exactly
    other = dlib_rectangles(FaceBoxes(ids, None, face, detected=face, detector="blazeface"))
    np.testing.assert_array_equal(other, to_dlib_ltrb(CONVENTIONS["dlib-hog"].from_face(face)))
    back = CONVENTIONS["dlib-hog"].to_face(from_dlib_ltrb(other))  # the box dlib's detector would give there
    np.testing.assert_allclose((back[:, :2] + back[:, 2:]) / 2, (face[:, :2] + face[:, 2:]) / 2, atol=1.0)
