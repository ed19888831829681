"""The demo (issue 13): a real pixel-aware model (aflw_occ.patch_regression, trained at demo time on procedural
faces apart from the scored ones), so occlusion visibly changes the numbers; one short summary; works with and
without the shared data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aflw_occ.demo import mean_shape_predictor, training_faces
from aflw_occ.patch_regression import frame, landmark_boxes, train

EXE = str(Path(sys.executable).parent / "aflw-occ")


def nme(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-image mean point error / √(w·h) of the ground-truth box, in %."""
    _, s = frame(landmark_boxes(truth))
    return 100 * np.linalg.norm(pred - truth, axis=2).mean(axis=1) / s


@pytest.fixture(scope="module")
def model_and_faces():  # type: ignore[no-untyped-def]
    model = train(*training_faces(40))
    images, truth = training_faces(16, seed=5)  # other faces than the training ones
    return model, images, truth


def test_the_model_learns_from_the_pixels(model_and_faces) -> None:  # type: ignore[no-untyped-def]
    model, images, truth = model_and_faces
    boxes = landmark_boxes(truth)
    pred = model.predict(images, boxes)
    assert pred.shape == (16, 68, 2)
    ours, mean = nme(pred, truth).mean(), nme(mean_shape_predictor(boxes), truth).mean()
    assert ours < 0.5 * mean, (ours, mean)
    # its output depends on the image: a flat grey square over the eyes moves the eye landmarks, and they get worse
    covered = []
    for img, pts in zip(images, truth, strict=True):
        img = img.copy()
        x0, y0 = np.floor(pts[36:48].min(axis=0) - 8).astype(int)
        x1, y1 = np.ceil(pts[36:48].max(axis=0) + 8).astype(int)
        img[max(0, y0) : y1, max(0, x0) : x1] = 128
        covered.append(img)
    occluded = model.predict(covered, boxes)
    eyes = slice(36, 48)
    moved = np.linalg.norm(occluded[:, eyes] - pred[:, eyes], axis=2).mean()
    assert moved > 1.0, moved  # pixels
    worse = np.linalg.norm(occluded[:, eyes] - truth[:, eyes], axis=2).mean()
    better = np.linalg.norm(pred[:, eyes] - truth[:, eyes], axis=2).mean()
    assert worse > better
    # the face boxes can also come as an object with .face (aflw_occ.evaluate.FaceBoxes), as the evaluator passes them
    np.testing.assert_array_equal(model.predict(images[:2], type("Boxes", (), {"face": boxes[:2]})()), pred[:2])


def test_training_is_deterministic(model_and_faces) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = model_and_faces
    again = train(*training_faces(40))
    for a, b in zip(model.weights, again.weights, strict=True):
        np.testing.assert_array_equal(a, b)


#: a row of the summary: split, n, balanced NME [CI], plain NME, occluded / visible, mean shape
ROW = re.compile(r"^(clean|csod-\w+|nsod|randocc)\s+(\d+)\s+([\d.]+) \[[\d.]+, [\d.]+\]\s+([\d.]+)\s+(.+?)\s+([\d.]+)$")


@pytest.mark.parametrize("shared", ["without", "with"])
def test_demo_shows_occlusion_on_one_screen(shared: str, tmp_path: Path) -> None:
    """`aflw-occ demo` (what `make demo` runs) on a machine without the shared data and on one with it."""
    env = {k: v for k, v in os.environ.items() if k not in ("AFLW_OCC_SHARED", "AFLW_OCC_KERNELS")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no user configuration either
    if shared == "with":
        from aflw_occ.paths import shared_dir

        if not (shared_dir() / "data").is_dir():
            pytest.skip("no shared data on this machine")
        env["AFLW_OCC_SHARED"] = str(shared_dir())
    r = subprocess.run([EXE, "demo", "--out", str(tmp_path / "demo")], capture_output=True, text=True, timeout=300,
                       env=env, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    # one screen: a dozen lines; all but the provenance header and the lines that name the (temporary) folder fit
    # in 120 columns
    assert len(lines) <= 15 and all(len(ln) <= 120 for ln in lines if str(tmp_path) not in ln), r.stdout
    assert lines[1].startswith("model: patch-regression") and "protocol=sparse-2d" in r.stdout
    assert "data=2.0.0" in r.stdout and "manifest_sha256=" in r.stdout
    rows = {m.group(1): m for ln in lines if (m := ROW.match(ln))}
    assert list(rows) == ["clean", "csod-single", "csod-double", "csod-column", "nsod", "randocc"], r.stdout
    plain = {k: float(m.group(4)) for k, m in rows.items()}
    mean_shape = {float(m.group(6)) for m in rows.values()}
    assert len(mean_shape) == 1  # ignores the pixels: the same on every split
    assert all(plain["clean"] < v for k, v in plain.items() if k != "clean"), plain  # occlusion shows
    assert plain["clean"] < 0.5 * mean_shape.pop()
    assert (tmp_path / "demo" / "sheet.png").is_file()
    # a few images: the numpy definitions of the pixel kernels (no numba compile on a machine's first run)
    environment = json.loads((tmp_path / "demo" / "build" / "manifest-2.0.0" / "environment.json").read_text())
    assert environment["pixel_kernels"] == {"backend": "numpy"}
