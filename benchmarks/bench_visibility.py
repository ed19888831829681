"""Visible rates of all AFLW2000-3D images: wall time on 2 workers, per-stage costs, NOD count and fairness.

Run: ``.venv/bin/python -m benchmarks.bench_visibility [--workers 2] [--with-gmm] [--stages 40]``
(needs the real AFLW2000-3D in ``AFLW_OCC_SHARED``).

* ``baseline``: decode all 2000 JPEGs over the same worker pool (the I/O floor every visibility pass pays);
* ``adaptive``: :func:`aflw_occ.visibility.compute_all` with the default segmenter (mesh fit, rasterisation,
  segmentation, grey flag, ITA for every image); ``gmm`` with ``--with-gmm``;
* per-stage CPU time on ``--stages`` images in this process (decode, fit, rasterise, each segmenter);
* NOD count against the paper's 127 and the fairness shares (grey images, darkest ITA fifth).
"""

from __future__ import annotations

import json
import os
import statistics
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
import numpy as np


def _decode_chunk(paths: list[str]) -> int:
    import cv2

    cv2.setNumThreads(1)
    n = 0
    for p in paths:
        n += int(cv2.imdecode(np.fromfile(p, dtype=np.uint8), cv2.IMREAD_COLOR).shape[0] > 0)
    return n


def _cpu_ms(fn, runs: int) -> float:
    fn()
    t = time.process_time()
    for _ in range(runs):
        fn()
    return (time.process_time() - t) / runs * 1e3


def _tile(sample, mesh, seg, label: str, size: int) -> np.ndarray:
    """The image with P ∖ F tinted red, P ∩ F tinted blue-ish, P outlined, scaled to ``size``."""
    import cv2

    from aflw_occ.visibility import visible_rate

    img = sample.read_image()
    r = visible_rate(img, sample, mesh, seg)
    out = img.astype(np.float32)
    occ = r.region & ~r.skin
    vis = r.region & r.skin
    out[occ] = 0.45 * out[occ] + np.float32([140, 0, 0])
    out[vis] = 0.8 * out[vis] + np.float32([0, 10, 40])
    out = np.clip(out, 0, 255).astype(np.uint8)
    cnts, _ = cv2.findContours(r.region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, cnts, -1, (255, 230, 0), 2)
    # crop around P (with margin) so the face fills the tile
    ys, xs = np.nonzero(r.region) if r.region.any() else (np.array([0, 449]), np.array([0, 449]))
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    half = max(ys.max() - ys.min(), xs.max() - xs.min()) * 0.65 + 10
    y0, y1 = int(max(0, cy - half)), int(min(img.shape[0], cy + half))
    x0, x1 = int(max(0, cx - half)), int(min(img.shape[1], cx + half))
    crop = cv2.resize(out[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
    for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(crop, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, colour, width, cv2.LINE_AA)
    return crop


def write_sheets(ds, mesh, table, out_dir: Path, above: int = 24, size: int = 120, ncols: int = 10) -> dict:
    """``nod_selected.png`` (every NOD pick, by v) and ``nod_above_threshold.png`` (the ``above`` images with the
    smallest v ≥ 0.6 among |yaw| ≤ 60°), as palette PNGs."""
    from PIL import Image

    from aflw_occ.sheet import grid
    from aflw_occ.skin import get_segmenter
    from aflw_occ.source import wrap_degrees

    seg = get_segmenter(table.segmenter)
    sel = np.flatnonzero(table.selected)
    sel = sel[np.argsort(table.v[sel], kind="stable")]
    ok_yaw = np.abs(wrap_degrees(table.yaw_deg)) <= 60
    cand = np.flatnonzero(ok_yaw & (table.v >= 0.6))
    near = cand[np.argsort(table.v[cand], kind="stable")][:above]
    sizes = {}
    for name, idx in (("nod_selected.png", sel), ("nod_above_threshold.png", near)):
        tiles = []
        for i in idx:
            s = ds[int(i)]
            grey = " g" if table.grayscale[i] else ""
            tiles.append(_tile(s, mesh, seg, f"{s.id[5:]} v={table.v[i]:.2f}{grey}", size))
        sheet = grid(tiles, ncols=ncols, tile=size, pad=2)
        path = out_dir / name
        pal = Image.fromarray(sheet).quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        tmp = path.with_name(f".{name}.tmp")
        pal.save(tmp, format="PNG", optimize=True)
        tmp.replace(path)
        sizes[name] = path.stat().st_size
    return sizes


@click.command()
@click.option("--workers", default=2, show_default=True)
@click.option("--with-gmm", is_flag=True, help="Also run the plain GMM segmenter over all images.")
@click.option("--stages", default=40, show_default=True, help="Images for the per-stage timing.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--sheets", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the NOD contact sheets (nod_selected.png, nod_above_threshold.png) into this folder.")
@click.option("--table-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the adaptive visibility table as CSV.")
def main(workers: int, with_gmm: bool, stages: int, json_out: Path | None, sheets: Path | None,
         table_out: Path | None) -> None:
    from aflw_occ.face_mesh import load_face_mesh
    from aflw_occ.face_region import fitted_image_vertices, region_from_vertices
    from aflw_occ.paths import default_source
    from aflw_occ.region_kernel import RegionKernel
    from aflw_occ.skin import get_segmenter
    from aflw_occ.source import AFLW2000_3D
    from aflw_occ.visibility import PAPER_NOD_COUNT, VisibilityWarning, compute_all, fairness_shares

    ds = AFLW2000_3D(default_source())
    mesh = load_face_mesh(default_source())
    t0 = time.perf_counter()
    mesh.prepare()
    prep = time.perf_counter() - t0
    out: dict[str, object] = {"nproc": os.cpu_count(), "load_before": os.getloadavg()[0], "mesh_prepare_s": prep}

    paths = [str(s.image_path) for s in ds]
    chunks = [paths[i : i + 25] for i in range(0, len(paths), 25)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        assert sum(pool.map(_decode_chunk, chunks)) == len(paths)
    out["baseline_decode_wall_s"] = time.perf_counter() - t0

    runs = {"adaptive": None, "gmm": None} if with_gmm else {"adaptive": None}
    tables = {}
    for spec in runs:
        t0 = time.perf_counter()
        c0 = os.times()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VisibilityWarning)
            table = compute_all(ds, mesh, spec, workers=workers)
        c1 = os.times()
        wall = time.perf_counter() - t0
        cpu = (c1.children_user + c1.children_system + c1.user + c1.system) - (
            c0.children_user + c0.children_system + c0.user + c0.system
        )
        tables[spec] = table
        sh = fairness_shares(table)
        out[spec] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "wall_x_baseline": wall / out["baseline_decode_wall_s"],  # type: ignore[operator]
            "nod_count": int(table.selected.sum()),
            "paper_nod_count": PAPER_NOD_COUNT,
            "shares": sh,
            "warnings": len(table.warnings),
            "median_v": float(np.nanmedian(table.v)),
        }
    out["load_after"] = os.getloadavg()[0]

    # per-stage CPU on a few images, in this process, single-threaded BLAS/OpenCV (as in the workers)
    from aflw_occ.visibility import _SingleThreadedLibraries

    single = _SingleThreadedLibraries().__enter__()
    sel = [ds[i] for i in range(0, len(ds), max(1, len(ds) // stages))][:stages]
    segs = {name: get_segmenter(name) for name in ("adaptive", "gmm")}
    kernel = RegionKernel.of(mesh)
    stages_ = ("decode", "fit", "rasterise", "P dense reference", "adaptive", "gmm")
    acc: dict[str, list[float]] = {k: [] for k in stages_}
    for s in sel:
        img = s.read_image()
        xy = kernel.fit_xy(s.pose_para, s.pt3d_68)
        acc["decode"].append(_cpu_ms(s.read_image, 3))
        acc["fit"].append(_cpu_ms(lambda s=s: kernel.fit_xy(s.pose_para, s.pt3d_68), 3))
        acc["rasterise"].append(_cpu_ms(lambda xy=xy: kernel.raster(xy), 3))
        acc["P dense reference"].append(
            _cpu_ms(lambda s=s: region_from_vertices(fitted_image_vertices(s, mesh), mesh), 3)
        )
        for name, seg in segs.items():
            acc[name].append(_cpu_ms(lambda seg=seg, img=img, s=s: seg(img, s.landmarks), 3))
    out["stage_cpu_ms_median"] = {k: statistics.median(v) for k, v in acc.items()}
    single.__exit__()

    if table_out is not None:
        tables["adaptive"].to_frame().to_csv(table_out, index=False)
    if sheets is not None:
        out["sheet_bytes"] = write_sheets(ds, mesh, tables["adaptive"], sheets)
    text = json.dumps(out, indent=1, default=float)
    click.echo(text)
    if json_out is not None:
        json_out.write_text(text)


if __name__ == "__main__":
    main()
