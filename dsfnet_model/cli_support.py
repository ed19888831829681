"""Library side of ``aflw-occ dsfnet predict`` (the CLI stays thin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aflw_occ.atomic import atomic_path

from .errors import InputError


def parse_box(text: str) -> np.ndarray:
    """``"x0,y0,x1,y1"`` → ``(4,)`` float array."""
    try:
        box = np.array([float(v) for v in text.split(",")], np.float64)
    except ValueError as exc:
        raise InputError(f"--box {text!r}: expected four comma-separated numbers x0,y0,x1,y1") from exc
    if box.shape != (4,):
        raise InputError(f"--box {text!r}: expected four comma-separated numbers x0,y0,x1,y1")
    return box


def box_from_mat(image: Path) -> np.ndarray:
    """The 68-landmark bounding box from the AFLW2000-3D/300W-LP ``.mat`` next to ``image`` (``pt3d_68``)."""
    import scipy.io as sio

    mat = image.with_suffix(".mat")
    if not mat.is_file():
        raise InputError(f"{image}: no --box given and no landmark file {mat.name} next to it")
    pts = sio.loadmat(mat).get("pt3d_68")
    if pts is None or pts.shape[0] < 2:
        raise InputError(f"{mat}: no 'pt3d_68' landmarks to derive a face box from")
    return np.array([pts[0].min(), pts[1].min(), pts[0].max(), pts[1].max()], np.float64)


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{path}: missing or not a readable image")
    return np.ascontiguousarray(img[:, :, ::-1])


def predict_files(
    weights: Path, basis: Path | None, images: list[Path], boxes: list[str], out: Path, deterministic: bool = True
) -> Path:
    """Run :class:`DSFNetPredictor` on image files and write landmarks/pose/dense/triangles to ``out`` (.npz)."""
    from .predictor import DSFNetPredictor

    if boxes and len(boxes) != len(images):
        raise InputError(f"got {len(boxes)} --box values for {len(images)} images (give one per image or none)")
    arr = [read_rgb(p) for p in images]
    bx = np.stack([parse_box(b) for b in boxes] if boxes else [box_from_mat(p) for p in images])
    pred = DSFNetPredictor(weights, basis, deterministic=deterministic)
    res = pred.predict_full(arr, bx)
    with atomic_path(out, make_parent=True) as tmp, tmp.open("wb") as fh:
        np.savez(fh, images=np.array([str(p) for p in images]), boxes=bx, **res)
    return out
