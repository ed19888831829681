"""NSOD compositing on the real AFLW2000-3D images with the default occluder pack.

Run: ``.venv/bin/python -m benchmarks.bench_nsod [--n 2000] [--build] [--workers 2]``.

Per image, one OpenCV thread, interleaved so every variant sees the same machine load; the per-step times are process
CPU time (``time.process_time``: on a shared machine, wall time also counts the time other processes hold the core):

* ``decode`` — JPEG decode of the source file (the baseline: what every builder pays anyway);
* ``natocc`` — :func:`aflw_occ.builders.compositing.composite` alone (decode excluded, face region precomputed);
* ``decode+natocc`` — decode and composite;
* ``randocc`` — RandOcc blob generation + composite.

The face region P (the fitted release mesh, :func:`aflw_occ.face_region.face_region_mask`) is computed once before
timing.
With ``--build`` also the wall and CPU time (all processes) of ``aflw-occ build --subset nsod`` on the whole release
(both variants, 2 × 2000 composites), of the same build with only the natocc variant (2000 composites), and of
``--subset csod`` (3 × 2000 solid rectangles) as a baseline.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from benchmarks._machine import cpu_name


def write_sheet(path: Path, ds: object, mesh: object, seed: int = 0, tile: int = 200) -> None:
    """24 NSOD (natocc) samples of the NSOD builder, seed ``seed``, images 0, 83, 166, … (no overlays)."""
    from aflw_occ.builders.base import BuildOptions, SourceSample, sample_rng, sample_seed
    from aflw_occ.builders.nsod import NSOD
    from aflw_occ.face_region import face_region_mask
    from aflw_occ.sheet import grid

    builder = NSOD(BuildOptions(seed=seed, occluders=("default",)))
    config = NSOD.CONFIGS[0]
    tiles = []
    for i in range(0, 24 * 83, 83):
        s = ds[i]  # type: ignore[index]
        region = face_region_mask(s, mesh)
        src = SourceSample(s.id, i, s.read_image(), s.pt3d_68.T.copy(), s.pose_para, lambda _s, r=region: r)
        ex = builder.generate(src, config, sample_rng(sample_seed(seed, "nsod", config.name, s.id)))
        tiles.append(ex.image)
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(grid(tiles, ncols=6, tile=tile), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])  # fmt: skip
    assert ok
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(path)


@click.command()
@click.option("--n", "n", type=int, default=2000, show_default=True, help="Images (the first N of the release).")
@click.option("--build", "run_build", is_flag=True, help="Also time full `aflw-occ build` runs (nsod, csod).")
@click.option("--workers", type=int, default=2, show_default=True, help="Workers of the --build runs.")
@click.option("--sheet", type=click.Path(path_type=Path), default=None, help="Write a 24-sample contact sheet here.")
def main(n: int, run_build: bool, workers: int, sheet: Path | None) -> None:
    import cv2

    from aflw_occ.builders.compositing import composite
    from aflw_occ.builders.occluders.randocc import random_blob
    from aflw_occ.builders.occluders.registry import load_library
    from aflw_occ.face_mesh import load_face_mesh
    from aflw_occ.face_region import face_region_mask
    from aflw_occ.paths import default_eval_dir, default_source
    from aflw_occ.source import AFLW2000_3D

    cv2.setNumThreads(1)
    ds = AFLW2000_3D(default_source(), default_eval_dir())
    samples = [ds[i] for i in range(min(n, len(ds)))]
    mesh = load_face_mesh()
    t0 = time.perf_counter()
    lib = load_library(["default"])
    t_lib = time.perf_counter() - t0
    pointing = [o.points_at_face for o in lib]
    data = []
    for s in samples:
        raw = np.fromfile(s.image_path, np.uint8)
        data.append((raw, face_region_mask(s, mesh)))

    times: dict[str, list[float]] = {"decode": [], "natocc": [], "decode+natocc": [], "randocc": []}
    for k, (raw, region) in enumerate(data):
        t0 = time.process_time()
        img = cv2.cvtColor(cv2.imdecode(raw, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        t1 = time.process_time()
        rng = np.random.default_rng(k)
        j = int(rng.integers(len(lib)))
        t2 = time.process_time()
        composite(img, region, lib[j].rgba(), rng, points_at_face=pointing[j])
        t3 = time.process_time()
        rng = np.random.default_rng(k)
        img2 = cv2.cvtColor(cv2.imdecode(raw, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        composite(img2, region, lib[int(rng.integers(len(lib)))].rgba(), rng, points_at_face=pointing[j])
        t4 = time.process_time()
        rng = np.random.default_rng(k)
        blob, _ = random_blob(rng)
        composite(img, region, blob, rng)
        t5 = time.process_time()
        times["decode"].append(t1 - t0)
        times["natocc"].append(t3 - t2)
        times["decode+natocc"].append(t4 - t3)
        times["randocc"].append(t5 - t4)

    base = statistics.median(times["decode"])
    click.echo(
        f"machine: {cpu_name()}, {os.cpu_count()} cores, python {sys.version.split()[0]}, 1 OpenCV thread, "
        f"load average {os.getloadavg()[0]:.1f}; times are process CPU time"
    )
    click.echo(f"images: {len(data)} real AFLW2000-3D; default library {len(lib)} occluders loaded in {t_lib:.2f} s")
    click.echo("| step | median ms/image | mean ms/image | total s | × decode |")
    click.echo("|---|---|---|---|---|")
    for k, v in times.items():
        med = statistics.median(v)
        click.echo(f"| {k} | {med * 1e3:.2f} | {np.mean(v) * 1e3:.2f} | {sum(v):.2f} | {med / base:.2f} |")

    if sheet is not None:
        write_sheet(sheet, ds, mesh)
        click.echo(f"contact sheet: {sheet} ({sheet.stat().st_size / 1e6:.2f} MB)")

    if run_build:
        from aflw_occ.paths import default_source as src

        exe = Path(sys.executable).parent / "aflw-occ"
        for subsets in ("csod", "nsod", "randocc"):  # --subset (not the deprecated --subsets): this checkout only
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [str(exe), "build", "--source", str(src()), "--out", tmp, "--subset", subsets,
                       "--workers", str(workers), "--quiet"]  # fmt: skip
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                wall = time.perf_counter() - t0
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            click.echo(
                f"build --subset {subsets} --workers {workers}: {wall:.1f} s wall, {cpu:.1f} s CPU "
                f"(all processes; CPU / {workers} = {cpu / workers:.1f} s ≈ wall on an idle machine), "
                f"load average {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
