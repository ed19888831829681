"""Benchmark: build base + CSOD (2000 + 6000 images) from the real AFLW2000-3D, against the floor.

The floor is the work any pixel-exact build must do, measured in the same run with the same worker count:
read and decode every source JPEG once and sha256-hash every output image (8000), with no drawing and no encoding.
Peak memory is the largest resident set of any one process of the build (driver or worker).

    .venv/bin/python -m benchmarks.bench_build [--workers 2] [--repeat 3] [--subsets csod] [--against EXE]

``--phases`` instead runs one build in this process and prints when each phase ended: the source read, the first
and the last journal block, the store written.

``--against`` names another ``aflw-occ`` executable (e.g. the venv of an older checkout): each round then also times
it, right after this one, and the report gives both medians and the median of the per-round ratios, which is what
stays comparable on a machine whose speed drifts from minute to minute.

``--cpu`` measures process CPU time (user + sys) instead of wall time, which other jobs on a shared machine disturb
far less: every build runs with ``--workers 1`` (all work in the one build process, whose usage ``wait4`` returns)
and single-threaded BLAS/OpenMP, as the workers of a multi-worker build run; the floor is the same decode + hash
work in one process. With ``--against``, the two builds alternate within each round.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from aflw_occ.paths import default_source
from benchmarks._machine import cpu_name


def _floor_chunk(paths: list[str], copies: int) -> int:
    import cv2

    from aflw_occ.hashing import pixel_hash
    from aflw_occ.store.codec import decode_jpeg

    cv2.setNumThreads(1)
    for p in paths:
        img = decode_jpeg(np.fromfile(p, dtype=np.uint8))
        for _ in range(copies):
            pixel_hash(img)
    return len(paths)


def floor(source: Path, workers: int, copies: int) -> float:
    paths = sorted(str(p) for p in source.glob("image*.jpg"))
    chunks = [paths[i : i + 40] for i in range(0, len(paths), 40)]
    t = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        sum(pool.map(_floor_chunk, chunks, [copies] * len(chunks)))
    return time.perf_counter() - t


def floor_cpu(source: Path, copies: int) -> float:
    """CPU time (s) of the floor's work (decode every source JPEG, hash it ``copies`` times) in this process."""
    paths = sorted(str(p) for p in source.glob("image*.jpg"))
    t = time.process_time()
    _floor_chunk(paths, copies)
    return time.process_time() - t


def build_once(
    source: Path, workers: int, subsets: str, exe: Path | None = None, single_thread: bool = False
) -> tuple[float, float, float]:
    """Wall time of a cold ``aflw-occ build`` process, its peak RSS (MB, its largest process) and its CPU time (s,
    user + sys of the build process and the children it waited for: all of it with ``--workers 1``)."""
    exe = exe or Path(sys.executable).parent / "aflw-occ"
    with tempfile.TemporaryDirectory() as out:
        # --subsets: the spelling every release understands (--against runs older ones; now a deprecated alias)
        cmd = [str(exe), "build", "--source", str(source), "--out", out, "--subsets", subsets]
        cmd += ["--workers", str(workers), "--quiet"]
        # from the output folder and without PYTHONPATH: the current directory must not put this checkout's modules
        # on another installation's path (its forkserver workers would import them)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if single_thread:  # as the workers of a multi-worker build run (aflw_occ.parallel)
            env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=out, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this build's own usage (with its reaped workers)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
        size = sum(p.stat().st_size for p in Path(out).glob("*.h5")) / 1e6
    peak = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime  # the driver's own: forkserver workers are not its waited-for children
    print(f"  build {subsets} ({exe}): {wall:.2f} s, CPU {cpu:.1f} s, store {size:.0f} MB", flush=True)
    return wall, peak, cpu


def phases(source: Path, workers: int, subsets: str) -> None:
    """One in-process build (this process is the driver), with the end time of each phase since the call."""
    from aflw_occ import pipeline
    from aflw_occ.builders import BuildOptions
    from aflw_occ.store.writer import StoreWriter

    t0 = time.perf_counter()
    marks: list[tuple[str, float]] = []

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        def run(*a, **k):  # type: ignore[no-untyped-def]
            out = fn(*a, **k)
            marks.append((name, time.perf_counter() - t0))
            return out

        return run

    blocks: list[float] = []
    add = StoreWriter.add
    patched = [(pipeline, "load_source"), (pipeline, "_run_blocks"), (StoreWriter, "finish"), (StoreWriter, "add")]
    saved = [getattr(o, n) for o, n in patched]
    pipeline.load_source = timed("source read", pipeline.load_source)
    pipeline._run_blocks = timed("last block done", pipeline._run_blocks)
    StoreWriter.finish = timed("store written", StoreWriter.finish)
    StoreWriter.add = lambda self, payload: (add(self, payload), blocks.append(time.perf_counter() - t0))[0]
    try:
        with tempfile.TemporaryDirectory() as out:
            plan = pipeline.BuildPlan(source, Path(out), "2.0.0", tuple(subsets.split(",")), BuildOptions(),
                                      workers=workers, progress=False)  # fmt: skip
            pipeline.build(plan)
    finally:
        for (o, n), v in zip(patched, saved, strict=True):
            setattr(o, n, v)
    marks.append(("first block in the store", blocks[0]))
    for name, t in sorted(marks, key=lambda m: m[1]):
        print(f"  {t:6.2f} s  {name}")
    print(f"  build total {time.perf_counter() - t0:.2f} s (in-process: imports not included)")


def cpu_rounds(source: Path, subsets: str, repeat: int, copies: int, against: Path | None) -> None:
    """``--cpu``: per round the floor's CPU time, then 1-worker builds (this one, then ``against``), CPU time each."""
    floors, builds, others, walls, other_walls, peaks = [], [], [], [], [], []
    for _ in range(repeat):
        floors.append(floor_cpu(source, copies))
        wall, peak, cpu = build_once(source, 1, subsets, single_thread=True)
        builds.append(cpu)
        walls.append(wall)
        peaks.append(peak)
        if against is not None:
            wall, _, cpu = build_once(source, 1, subsets, against, single_thread=True)
            others.append(cpu)
            other_walls.append(wall)
    f, b = statistics.median(floors), statistics.median(builds)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, python {platform.python_version()}; process CPU time")
    print(f"floor (decode 2000 + hash {2000 * copies}), CPU: median {f:.2f} s: {[round(x, 2) for x in floors]}")
    print(f"build base+{subsets}, 1 worker, CPU: median {b:.2f} s: {[round(x, 2) for x in builds]}")
    print(f"  wall {[round(x, 2) for x in walls]}; ratio build/floor (CPU) {b / f:.2f}; peak RSS {max(peaks):.0f} MB")
    if others:
        ratios = [x / y for x, y in zip(builds, others, strict=True)]
        wall_ratios = [x / y for x, y in zip(walls, other_walls, strict=True)]
        print(f"against {against}, CPU: median {statistics.median(others):.2f} s: {[round(x, 2) for x in others]}")
        for what, rs in (("CPU", ratios), ("wall", wall_ratios)):
            print(f"this / against ({what}), per round {[round(r, 3) for r in rs]}, median {statistics.median(rs):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", type=Path, default=default_source())
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--subsets", default="csod")
    ap.add_argument("--against", type=Path, default=None, help="another aflw-occ executable, timed in every round")
    ap.add_argument("--phases", action="store_true", help="one in-process build, with the time of each phase")
    ap.add_argument("--cpu", action="store_true", help="process CPU time of 1-worker builds instead of wall time")
    args = ap.parse_args()
    if args.phases:
        phases(args.source, args.workers, args.subsets)
        return
    copies = 4  # base + 3 CSOD variants per source image
    if args.cpu:
        cpu_rounds(args.source, args.subsets, args.repeat, copies, args.against)
        return
    floors, builds, peaks, others = [], [], [], []
    for _ in range(args.repeat):
        floors.append(floor(args.source, args.workers, copies))
        wall, peak, _ = build_once(args.source, args.workers, args.subsets)
        builds.append(wall)
        peaks.append(peak)
        if args.against is not None:
            others.append(build_once(args.source, args.workers, args.subsets, args.against)[0])
    f, b = statistics.median(floors), statistics.median(builds)
    cpu = cpu_name()
    print(f"machine: {cpu}, {os.cpu_count()} cores, python {platform.python_version()}")
    runs = [round(x, 2) for x in floors]
    print(f"floor (decode 2000 + hash {2000 * copies}): median {f:.2f} s over {args.repeat}: {runs}")
    print(f"build base+{args.subsets}: median {b:.2f} s: {[round(x, 2) for x in builds]}")
    print(f"ratio build/floor: {b / f:.2f}; peak RSS of a build process: {max(peaks):.0f} MB")
    if others:
        ratios = [x / y for x, y in zip(builds, others, strict=True)]
        print(f"against {args.against}: median {statistics.median(others):.2f} s: {[round(x, 2) for x in others]}")
        print(f"this / against, per round: {[round(r, 3) for r in ratios]}, median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
