"""A synthetic mini-source in the AFLW2000-3D layout: procedurally drawn faces with exact 68 landmarks and pose.

Nothing is downloaded: a 68-point 3D face template is built from simple curves, randomly deformed, posed with a
random ``Pose_Para`` under the release's projection convention (``p = f·R·v + t``, ``y ← 451 − y``), and drawn
(skin, eyes, brows, nose, lips, hair) on a random background. Each image gets a ``.mat`` with the release's fields,
so every part of the toolkit runs on it exactly as on AFLW2000-3D.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .geometry import project

SIZE = 450


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int, start: float = np.pi) -> np.ndarray:
    t = start - np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def face_template() -> np.ndarray:
    """(68, 3) iBUG-ordered landmarks of a frontal face, y up, z towards the camera, origin near the nose."""
    theta = np.linspace(-0.55 * np.pi, 0.55 * np.pi, 17)
    jaw = np.stack([70 * np.sin(theta), 10 - 80 * np.cos(theta), 40 * np.cos(theta) - 40], axis=1)
    brow_x = np.linspace(-58, -14, 5)
    brow_r = np.stack([brow_x, 45 + 6 * np.sin(np.linspace(0.3, 2.8, 5)), np.full(5, 8.0)], axis=1)
    brow_l = brow_r[::-1] * [-1, 1, 1]
    bridge = np.stack([np.zeros(4), np.linspace(34, 6, 4), np.linspace(14, 34, 4)], axis=1)
    nose = np.stack([np.linspace(-15, 15, 5), np.array([-4, -7, -8, -7, -4.0]), np.array([18, 22, 25, 22, 18.0])], 1)

    def eye(cx: float) -> np.ndarray:
        e = _ellipse(cx, 28, 12, 5, 6)
        return np.concatenate([e, np.full((6, 1), 12.0)], axis=1)

    eye_r, eye_l = eye(-32), eye(32)
    mouth_o = np.concatenate([_ellipse(0, -36, 26, 11, 12), np.full((12, 1), 16.0)], axis=1)
    mouth_i = np.concatenate([_ellipse(0, -36, 16, 3, 8), np.full((8, 1), 15.0)], axis=1)
    return np.concatenate([jaw, brow_r, brow_l, bridge, nose, eye_r, eye_l, mouth_o, mouth_i]).astype(np.float64)


def _draw_face(rng: np.random.Generator, pts: np.ndarray, head: np.ndarray) -> np.ndarray:
    img = np.empty((SIZE, SIZE, 3), np.uint8)
    c0, c1 = rng.integers(30, 226, size=(2, 3))
    ramp = np.linspace(0, 1, SIZE)[:, None, None]
    img[:] = (c0 * (1 - ramp) + c1 * ramp).astype(np.uint8)
    tone = rng.uniform(0, 1)
    skin = np.array([95 + 150 * tone, 60 + 130 * tone, 45 + 110 * tone])
    hair = rng.integers(10, 120, size=3)
    ip = lambda a: np.rint(a[:, :2]).astype(np.int32)  # noqa: E731
    cv2.fillPoly(img, [cv2.convexHull(ip(head))], tuple(int(v) for v in hair), cv2.LINE_AA)
    face = np.concatenate([pts[:17], pts[17:27]])
    cv2.fillPoly(img, [cv2.convexHull(ip(face))], tuple(int(v) for v in skin), cv2.LINE_AA)
    dark = tuple(int(v) for v in skin * 0.45)
    for a, b in ((17, 22), (22, 27)):
        cv2.polylines(img, [ip(pts[a:b])], False, tuple(int(v) for v in hair), 4, cv2.LINE_AA)
    for a in (36, 42):
        cv2.fillPoly(img, [ip(pts[a : a + 6])], (240, 240, 235), cv2.LINE_AA)
        centre = pts[a : a + 6, :2].mean(axis=0)
        cv2.circle(img, (round(centre[0]), round(centre[1])), 3, (40, 30, 20), -1, cv2.LINE_AA)
    cv2.polylines(img, [ip(pts[27:31]), ip(pts[31:36])], False, dark, 2, cv2.LINE_AA)
    lips = tuple(int(v) for v in skin * [0.8, 0.45, 0.45])
    cv2.fillPoly(img, [ip(pts[48:60])], lips, cv2.LINE_AA)
    cv2.fillPoly(img, [ip(pts[60:68])], (60, 20, 20), cv2.LINE_AA)
    noise = rng.normal(0, 4, img.shape)
    return np.clip(cv2.GaussianBlur(img, (3, 3), 0) + noise, 0, 255).astype(np.uint8)


#: JPEG quality of the synthetic source images
JPEG_QUALITY = 92


def _skull() -> np.ndarray:
    """(63, 3) points of the back of the head (drawn as hair behind the face)."""
    theta, phi = np.meshgrid(np.linspace(0, np.pi, 9), np.linspace(-np.pi / 2, np.pi / 2, 7))
    return np.stack(
        [85 * np.cos(theta), 30 + 85 * np.sin(theta), -35 + 75 * np.sin(theta) * np.sin(phi)], axis=-1
    ).reshape(-1, 3)


def draw_face(rng: np.random.Generator, template: np.ndarray, skull: np.ndarray) -> tuple[np.ndarray, ...]:
    """One procedural face: (RGB uint8 (450, 450, 3) image, (68, 3) landmarks in image pixels, (7,) Pose_Para), its
    pose, shape, colours and noise drawn from ``rng``."""
    pitch, roll = np.radians(rng.uniform(-20, 20, size=2))
    yaw = np.radians(rng.uniform(-75, 75))
    f = rng.uniform(1.1, 1.6)
    pose = np.array([pitch, yaw, roll, rng.uniform(200, 250), rng.uniform(190, 240), 0.0, f])
    shape = template + rng.normal(0, 1.5, template.shape)
    pts = project(shape, pose)
    head = project(np.concatenate([shape[:17], skull]), pose)
    return _draw_face(rng, pts, head), pts, pose


def jpeg_roundtrip(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """The pixels an RGB image has once stored as a JPEG of ``quality`` and decoded (as the source images are)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok, "JPEG encoding failed"
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def training_faces(n: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` procedural faces as a model trained at demo time sees them: (JPEG-decoded RGB images, (n, 68, 2)
    landmarks in image pixels). Drawn from the stream ``(seed, 1)``, apart from :func:`make_source`'s ``seed``."""
    rng = np.random.default_rng([seed, 1])
    template, skull = face_template(), _skull()
    images, landmarks = [], []
    for _ in range(n):
        img, pts, _ = draw_face(rng, template, skull)
        images.append(jpeg_roundtrip(img))
        landmarks.append(pts[:, :2])
    return images, np.stack(landmarks)


def make_source(out: Path, n: int = 24, seed: int = 0) -> Path:
    """Write ``n`` synthetic ``imageXXXXX.jpg`` + ``.mat`` pairs into ``out``; returns ``out``."""
    import scipy.io

    from .store.checksums import SYNTHETIC_MARKER

    out.mkdir(parents=True, exist_ok=True)
    (out / SYNTHETIC_MARKER).write_text("synthetic AFLW2000-3D-like source (aflw_occ.demo): no source checksums\n")
    rng = np.random.default_rng(seed)
    template, skull = face_template(), _skull()
    for i in range(n):
        img, pts, pose = draw_face(rng, template, skull)
        sid = f"image{2 * i + 2:05d}"
        cv2.imwrite(
            str(out / f"{sid}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        xy = pts[:, :2]
        scipy.io.savemat(
            str(out / f"{sid}.mat"),
            {
                "Pose_Para": pose[None, :].astype(np.float32),
                "pt3d_68": pts.T.astype(np.float32),
                "Shape_Para": np.zeros((199, 1)),
                "Exp_Para": np.zeros((29, 1)),
                "pt2d": np.full((2, 21), -1.0),
                "roi": np.concatenate([xy.min(0), xy.max(0)])[None, :].astype(np.int16),
            },
        )
    return out


def mean_shape_predictor(boxes: np.ndarray) -> np.ndarray:
    """A simple baseline: the frontal template's 68 points scaled into each (N, 4) [x0, y0, x1, y1] box → (N, 68, 2)."""
    t = project(face_template(), np.array([0, 0, 0, 0, 0, 0, 1.0]))[:, :2]
    t = (t - t.min(0)) / (t.max(0) - t.min(0))
    size = boxes[:, 2:] - boxes[:, :2]
    return boxes[:, None, :2] + t[None] * size[:, None, :]


DEMO_SUBSETS = ("csod", "nsod", "randocc")
#: procedural faces the demo's model is trained on (drawn apart from the scored ones)
TRAIN_FACES = 60


def run_demo(
    out: Path, n: int = 24, workers: int = 2, subsets: tuple[str, ...] = DEMO_SUBSETS, progress: bool | None = None
) -> list[str]:
    """Make a synthetic source, build ``subsets``, train a small pixel-aware model
    (:mod:`aflw_occ.patch_regression`) on other procedural faces, score it and the mean shape on every split, and
    write a contact sheet. Returns the printed lines.

    NSOD uses the CC0 occluder pack shipped in the package (the tuxpaint stamps may not be installed); NOD needs the
    release's dense face mesh (``Code/Model_Shape_Sim.mat``), which a synthetic source does not have, so the demo
    leaves it out. ``progress``: a bar on stderr that is erased when done (None: only when stderr is a terminal).

    The build runs the numpy definitions of the pixel kernels unless ``AFLW_OCC_KERNELS`` says otherwise: on the
    demo's few images compiling numba's kernels (about 13 s on a machine's first build) would cost more than it saves;
    the pixels are the same either way."""
    import os
    import sys

    from tqdm import tqdm

    from .builders import BuildOptions, kernels
    from .patch_regression import landmark_boxes, train
    from .pipeline import BuildPlan, build
    from .predictions import Predictions
    from .scoring import score
    from .sheet import annotate, grid, save_png
    from .store import CURRENT_VERSION, open_store

    steps = ["draw the source", "build", "train the model", "score"]
    bar = tqdm(steps, desc="demo", leave=False, file=sys.stderr, disable=None if progress is None else not progress)
    bar.set_postfix_str(steps[0])
    src = make_source(out / "source", n=n)
    bar.update()
    bar.set_postfix_str(steps[1])
    plan = BuildPlan(
        source=src,
        out=out / "build",
        version=CURRENT_VERSION,
        subsets=subsets,
        options=BuildOptions(seed=0, occluders=("cc0",)),
        workers=workers,
        progress=False,
        overwrite=True,  # the demo folder is the demo's own: a second run replaces the first
    )
    unset = kernels.ENV not in os.environ
    if unset:  # this process and the workers it starts
        os.environ[kernels.ENV] = "numpy"
    try:
        result = build(plan)
    finally:
        if unset:
            os.environ.pop(kernels.ENV, None)
    assert result.path is not None
    bar.update()
    bar.set_postfix_str(steps[2])
    model = train(*training_faces(TRAIN_FACES))
    bar.update()
    bar.set_postfix_str(steps[3])
    lines = [f"built {result.path}: " + ", ".join(f"{k} {v}" for k, v in result.splits.items())]
    lines.append(f"model: {model.describe()}")
    faces = f"{model.trained_on} other procedural faces"
    lines.append(f"  trained just now on {faces}; face boxes: the ground-truth 68 points")
    tiles = []
    table: list[str] = []
    plain: dict[str, tuple[float, float]] = {}
    with open_store(result.path) as st:
        for name in st.splits:
            sp = st.split(name)
            gt = sp.ground_truth()
            boxes = landmark_boxes(gt.landmarks)
            images = [sp.image(i) for i in range(len(sp))]
            pred = Predictions(ids=gt.ids, landmarks=model.predict(images, boxes), source=model.name)
            res = score(pred, gt, protocol="sparse-2d")
            mean = score(Predictions(ids=gt.ids, landmarks=mean_shape_predictor(boxes), source="mean shape"), gt,
                         protocol="sparse-2d", n_boot=1)  # fmt: skip
            plain[name] = (float(res["nme_plain"]), float(mean["nme_plain"]))
            if not table:
                table.append("# " + res.header().replace(f"split={name} ", "").split(" sha256=")[0])
                table.append(f"{'split':<12} {'n':>3}  {'NME % balanced [95% CI]':<24} {'plain':>6}  "
                             f"{'occl. / visible':<15}  mean shape")  # fmt: skip
            table.append(_summary_row(name, res, plain[name][1]))
            for i in range(min(4, len(sp))):
                occ = None if gt.occluded is None else gt.occluded[i]
                tiles.append(annotate(images[i], gt.landmarks[i], occ, sp.mask(i), label=str(sp.ids[i])))
    sheet = out / "sheet.png"
    save_png(sheet, grid(tiles, ncols=4))
    bar.update()
    bar.close()
    lines += table
    occluded = [v[0] for k, v in plain.items() if k != "clean"]
    if "clean" in plain and occluded:
        lines.append(
            f"occlusion raises {model.name}'s plain NME from {plain['clean'][0]:.2f} % (clean) to "
            f"{min(occluded):.2f}–{max(occluded):.2f} %;"
        )
        lines.append(f"the mean shape, which ignores the pixels, stays at {plain['clean'][1]:.2f} % on every split")
    lines.append(f"contact sheet: {sheet}")
    return lines


def _summary_row(split: str, res: Any, mean_shape: float) -> str:
    """One line of the demo's summary: n, balanced NME with its CI, plain NME, occluded / visible NME, and the
    mean shape's plain NME."""

    def get(key: str) -> float:
        try:
            return float(res[key])
        except KeyError:
            return float("nan")

    b = res.row("nme_balanced")
    occ, vis = get("nme_occluded_plain"), get("nme_visible_plain")
    ov = f"{occ:.2f} / {vis:.2f}" if np.isfinite(occ) else "–"
    balanced = f"{b.value:5.2f} [{b.ci_low:.2f}, {b.ci_high:.2f}]"
    return f"{split:<12} {res.n_scored:>3}  {balanced:<24} {get('nme_plain'):6.2f}  {ov:<15}  {mean_shape:6.2f}"
