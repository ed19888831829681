"""Benchmark: per-image time of the detectors of the detector-in-the-loop protocol (dlib HOG, BlazeFace), against a
floor measured in the same run: reading and decoding the same image (the work every detector needs first).

Each round times, on the same ``--n`` clean AFLW2000-3D images (450 × 450), one after the other in this process
(one thread each): ``decode`` = read the JPEG file and decode it to RGB; ``dlib-hog`` / ``blazeface`` =
``detector.detect(image)`` on the decoded pixels (for BlazeFace: letterbox + warp to 128 × 128, LiteRT on one thread,
decoding, weighted NMS). Rounds are interleaved; the table gives the median of the rounds, CPU time of the process
(``time.process_time``) and wall time.

    .venv/bin/python -m benchmarks.bench_detect [--n 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib.metadata import version

from aflw_occ.detection import make_detector
from aflw_occ.paths import default_source

from ._machine import cpu_name


def _per_image(fn, items) -> tuple[float, float]:
    """(wall ms, CPU ms) per item of ``fn`` over ``items``."""
    t0, c0 = time.perf_counter(), time.process_time()
    for x in items:
        fn(x)
    n = max(1, len(items))
    return 1000 * (time.perf_counter() - t0) / n, 1000 * (time.process_time() - c0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="clean images (every 2000/n-th of the release)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from aflw_occ.source import AFLW2000_3D

    ds = AFLW2000_3D(default_source())
    step = max(1, len(ds) // args.n)
    samples = [ds[i] for i in range(0, len(ds), step)][: args.n]
    images = [s.read_image() for s in samples]
    detectors = {name: make_detector(name) for name in ("dlib-hog", "blazeface")}
    for det in detectors.values():  # warm-up (allocations, LiteRT delegate)
        det.detect(images[0])
    runs: dict[str, list[tuple[float, float]]] = {"decode": [], **{k: [] for k in detectors}}
    for _ in range(args.rounds):
        runs["decode"].append(_per_image(lambda s: s.read_image(), samples))
        for name, det in detectors.items():
            runs[name].append(_per_image(det.detect, images))
    floor = statistics.median(c for _, c in runs["decode"])
    print(f"# machine: {cpu_name()}; dlib {version('dlib-bin')}, ai-edge-litert {version('ai-edge-litert')}, "
          f"numpy {version('numpy')}, opencv {version('opencv-python-headless')}")
    print(f"# {len(images)} clean images, {args.rounds} interleaved rounds, medians; one thread each")
    print("| what | CPU ms / image | wall ms / image | CPU × decode floor |")
    print("|---|---|---|---|")
    for name, vals in runs.items():
        cpu = statistics.median(c for _, c in vals)
        wall = statistics.median(w for w, _ in vals)
        print(f"| {name} | {cpu:.2f} | {wall:.2f} | {cpu / floor:.2f} |")
    for name, det in detectors.items():
        print(f"# {name}: {det.version}; {det.settings}")


if __name__ == "__main__":
    main()
