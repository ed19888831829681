"""Derive dlib's box rule from dlib's own HOG face detector on AFLW2000-3D (the constants of ``dlib:box=inner``).

dlib's 68-point shape predictor (iBUG 300-W, ERT) was trained on the boxes of dlib's HOG detector
(``dlib.get_frontal_face_detector()``); its mean shape sits where that detector puts the face. To drive it from the
ground truth fairly, the ground-truth box must be the box dlib's detector *would* have given. This script measures
that relation on the real images, without looking at any landmark error:

1. run the detector on every clean AFLW2000-3D image, upsampled once (``detector(image, 1)``, as in dlib's own
   landmark example; the box geometry depends on the pyramid level, see ``docs/baselines.md``);
2. keep the images where it fires on the annotated face: the detection whose centre is nearest the centre of the
   tight box of the 68 ground-truth points, if that centre lies inside that box;
3. relate the detection ``[l, t, r, b]`` (dlib's inclusive pixel indices, 0-based) to the tight box of the
   **51 inner points** (17–67: brows, eyes, nose, mouth; the jaw is left out because for a turned head it is
   self-occluded and its points project onto the cheek) in 0-based pixels (``pt3d_68 − 1``):
   ``s = (w + h)/2`` of the inner box, ``side = ((r − l) + (b − t))/2`` of the detection,
   ratio ``side / s``, centre offsets ``(c_det − c_inner) / s`` in x and y;
4. report the medians (robust to the few odd detections) with their bootstrap 95% intervals, per yaw bin too
   (with ``dx→nose``: the x offset signed toward the side the nose tip points to), and the same relation against
   the tight 68-point box (why the tight-box rule is unfair: its offsets drift toward the nose with yaw);
5. cross-check: the same medians with the box measured as pixel edges (dlib's ``width() = r − l + 1``, centre
   ``l + width/2``), the convention behind the constants quoted in issue 15.

The rule in :mod:`aflw_occ.adapters.dlib_adapter` is: square box of side ``ratio·s`` centred at
``c_inner + (dx·s, dy·s)``. Output: a text table and, with ``--out``, the per-image measurements and the summary as
JSON.

    .venv/bin/python -m benchmarks.derive_dlib_box [--source DIR] [--upsample 1] [--out derive.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from aflw_occ.paths import default_source

INNER = slice(17, 68)
BIN_EDGES = (30.0, 60.0)
N_BOOT = 2000


def box_relation(det: np.ndarray, ref: np.ndarray, edges: bool = False) -> np.ndarray:
    """(ratio, dx, dy) of detector boxes against reference point boxes.

    Args:
        det: (N, 4) detections ``[l, t, r, b]`` (inclusive 0-based pixel indices).
        ref: (N, 4) tight point boxes ``[min x, min y, max x, max y]`` in 0-based pixel-centre coordinates.
        edges: measure the detection as pixel edges (``r − l + 1``, centre ``l + (r − l + 1)/2``) instead of pixel
            centres (``r − l``, centre ``(l + r)/2``, the frame of the points; the default).

    Returns:
        (N, 3): ``side/s``, ``(c_det,x − c_ref,x)/s``, ``(c_det,y − c_ref,y)/s`` with ``s = (w + h)/2`` of ``ref``
        and ``side = ((r − l) + (b − t))/2`` of ``det``.
    """
    d = np.asarray(det, dtype=np.float64) + (np.array([0.0, 0.0, 1.0, 1.0]) if edges else 0.0)
    s = ((ref[:, 2] - ref[:, 0]) + (ref[:, 3] - ref[:, 1])) / 2.0
    side = ((d[:, 2] - d[:, 0]) + (d[:, 3] - d[:, 1])) / 2.0
    dx = ((d[:, 0] + d[:, 2]) - (ref[:, 0] + ref[:, 2])) / 2.0
    dy = ((d[:, 1] + d[:, 3]) - (ref[:, 1] + ref[:, 3])) / 2.0
    return np.stack([side / s, dx / s, dy / s], axis=1)


def tight_box(points: np.ndarray) -> np.ndarray:
    """(N, K, 2+) → (N, 4) ``[min x, min y, max x, max y]``."""
    p = np.asarray(points, dtype=np.float64)[..., :2]
    return np.concatenate([p.min(axis=1), p.max(axis=1)], axis=1)


def match_detection(rects: np.ndarray, face: np.ndarray) -> int | None:
    """Index of the detection on the annotated face: centre nearest the face-box centre and inside the face box."""
    if len(rects) == 0:
        return None
    c = (rects[:, :2] + rects[:, 2:]) / 2.0
    fc = (face[:2] + face[2:]) / 2.0
    k = int(np.argmin(((c - fc) ** 2).sum(axis=1)))
    inside = face[0] <= c[k, 0] <= face[2] and face[1] <= c[k, 1] <= face[3]
    return k if inside else None


def median_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Median and its 95% percentile-bootstrap interval (``N_BOOT`` resamples)."""
    v = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    boots = np.median(v[rng.integers(0, v.size, size=(N_BOOT, v.size))], axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(np.median(v)), float(lo), float(hi)


def detect_all(source: Path, upsample: int) -> dict[str, object]:
    import dlib

    from aflw_occ.source import AFLW2000_3D

    ds = AFLW2000_3D(source)
    detector = dlib.get_frontal_face_detector()
    ids, yaw, det, inner, full, nose, n_any = [], [], [], [], [], [], 0
    t0 = time.process_time()
    for sample in ds:
        rects = detector(sample.read_image(), upsample)
        n_any += len(rects) > 0
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], dtype=np.float64).reshape(-1, 4)
        pts = sample.landmarks[:, :2] - 1.0  # pt3d_68 is 1-based; dlib's pixel indices are 0-based
        face = tight_box(pts[None])[0]
        k = match_detection(boxes, face)
        if k is None:
            continue
        ids.append(sample.id)
        yaw.append(abs(sample.yaw_deg))
        det.append(boxes[k])
        inner.append(tight_box(pts[None, INNER])[0])
        full.append(face)
        nose.append(pts[30, 0])
    return {
        "n_images": len(ds),
        "n_fired": n_any,
        "ids": ids,
        "yaw": np.array(yaw),
        "det": np.array(det),
        "inner": np.array(inner),
        "full": np.array(full),
        "nose_x": np.array(nose),
        "cpu_s_per_image": (time.process_time() - t0) / len(ds),
    }


def summarise(rel: np.ndarray, yaw: np.ndarray, toward_nose: np.ndarray) -> dict[str, object]:
    """Medians (95% CI, IQR) of ratio, dx, dy and per yaw bin; ``toward_nose`` (N,) ±1 signs dx→nose."""
    bins = np.digitize(yaw, BIN_EDGES, right=True)  # [0,30] (30,60] >60, like the protocol's bins
    rel = np.concatenate([rel, rel[:, 1:2] * toward_nose[:, None]], axis=1)
    names = ("ratio", "dx", "dy", "dx_nose")
    out: dict[str, object] = {"n": int(len(rel))}
    for j, name in enumerate(names[:3]):
        m, lo, hi = median_ci(rel[:, j])
        q1, q3 = np.percentile(rel[:, j], [25, 75])
        out[name] = {"median": m, "ci95": [lo, hi], "iqr": [float(q1), float(q3)]}
    out["per_bin"] = {
        label: {"n": int((bins == b).sum()), **{n: float(np.median(rel[bins == b, j])) for j, n in enumerate(names)}}
        for b, label in enumerate(("[0,30]", "(30,60]", ">60"))
        if (bins == b).any()
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=None, help="AFLW2000-3D folder (default: the shared data)")
    ap.add_argument("--upsample", type=int, default=1, help="detector upsampling (dlib's examples: 1)")
    ap.add_argument("--out", type=Path, default=None, help="write per-image measurements + summary as JSON")
    args = ap.parse_args(argv)
    source = args.source or default_source()
    if not source.is_dir():
        print(f"error: {source}: AFLW2000-3D folder not found (set AFLW_OCC_SHARED or pass --source)", file=sys.stderr)
        return 2
    try:
        import dlib
    except ImportError:
        print("error: needs dlib: pip install 'aflw-occ[dlib]'", file=sys.stderr)
        return 2
    got = detect_all(source, args.upsample)
    det, yaw = got["det"], got["yaw"]

    def toward(ref: np.ndarray) -> np.ndarray:
        return np.where(got["nose_x"] >= (ref[:, 0] + ref[:, 2]) / 2.0, 1.0, -1.0)  # type: ignore[operator]

    inner = summarise(box_relation(det, got["inner"]), yaw, toward(got["inner"]))  # type: ignore[arg-type]
    full = summarise(box_relation(det, got["full"]), yaw, toward(got["full"]))  # type: ignore[arg-type]
    edges = box_relation(det, got["inner"], edges=True)  # type: ignore[arg-type]
    from aflw_occ.adapters.dlib_adapter import INNER_RULE

    print(f"# dlib {dlib.__version__} HOG detector, upsample {args.upsample}, on {source} ({got['n_images']} images)")
    print(f"# python {platform.python_version()}, {got['cpu_s_per_image']:.4f} CPU s per image")
    print(f"# fired on {got['n_fired']} images, on the annotated face on {inner['n']}")
    for title, summ in (("inner 51 points (17-67)", inner), ("tight 68 points", full)):
        print(f"\nrelative to the tight box of the {title}, s = (w + h)/2, 0-based pixels:")
        for name in ("ratio", "dx", "dy"):
            d = summ[name]  # type: ignore[index]
            print(
                f"  {name:5s} median {d['median']:+.4f}  95% CI [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]"
                f"  IQR [{d['iqr'][0]:+.4f}, {d['iqr'][1]:+.4f}]"
            )
        for label, b in summ["per_bin"].items():  # type: ignore[union-attr]
            print(
                f"  yaw {label:8s} n={b['n']:4d}  ratio {b['ratio']:.4f}  dx {b['dx']:+.4f}  dy {b['dy']:+.4f}"
                f"  dx→nose {b['dx_nose']:+.4f}"
            )
    r = (inner["ratio"]["median"], inner["dx"]["median"], inner["dy"]["median"])  # type: ignore[index]
    print(f"\nrule: side {r[0]:.4f}·s, centre offset ({r[1]:+.4f}·s, {r[2]:+.4f}·s)")
    e = np.median(edges, axis=0)
    print(f"cross-check, detection measured as pixel edges (r − l + 1): {e[0]:.4f}·s, ({e[1]:+.4f}·s, {e[2]:+.4f}·s)")
    print(f"aflw_occ.adapters.dlib_adapter.INNER_RULE = {INNER_RULE}")
    if args.out is not None:
        record = {
            "dlib": dlib.__version__,
            "upsample": args.upsample,
            "n_images": got["n_images"],
            "n_fired": got["n_fired"],
            "inner": inner,
            "tight68": full,
            "ids": got["ids"],
            "detections": np.asarray(det).tolist(),
        }
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
