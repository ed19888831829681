"""Benchmark: evaluate the 3DDFA_V2 MobileNet-x0.5 ONNX model on every split of a built store (crop + inference +
post-processing + scoring), against two floors measured in the same run:

* inference floor — onnxruntime alone on ready 120×120 inputs, same number of images, same threads;
* loading floor — reading + decoding every image of the splits (bulk reads, same threads), no model.

Without a store (``--data``), the 2000 clean images are evaluated ``--copies`` times (default 5 ≈ 10,000 images).

    .venv/bin/python -m benchmarks.bench_evaluate [--data FILE.h5] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from aflw_occ.paths import default_eval_dir, default_source, shared_dir


def _cpu() -> float:
    """User + system CPU seconds of this process (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn, *args) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    c0, t0 = _cpu(), time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, _cpu() - c0, out


def _export(tmp: Path) -> Path:
    from aflw_occ.adapters.tddfa_export import export_onnx

    w = shared_dir() / "models" / "3ddfa_v2_mb05" / "mb05_120x120.pth"
    return export_onnx(w, tmp / "mb05.onnx")


def _evaluate(onnx: Path, data: object, threads: int, copies: int) -> int:
    from aflw_occ.adapters.tddfa_onnx import TDDFAOnnxPredictor
    from aflw_occ.evaluate import evaluate

    pred = TDDFAOnnxPredictor(onnx, threads=threads)
    n = 0
    for _ in range(copies):
        res = evaluate(pred, data, threads=threads, progress=False, protocols=["sparse-2d"], n_boot=1000)
        n += sum(len(r.ids) for r in res.splits.values())
    return n


def _inference_floor(onnx: Path, n: int, threads: int, batch: int = 64) -> None:
    from aflw_occ.adapters.onnx import make_session

    sess = make_session(onnx, threads)
    x = np.random.default_rng(0).normal(0, 1, (batch, 3, 120, 120)).astype(np.float32)
    for _ in range(0, n, batch):
        sess.run(None, {"input": x})


def _loading_floor(data: object, threads: int, copies: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from aflw_occ.evaluate import _load_images, _plan, bulk_readable, open_data

    for _ in range(copies):
        with open_data(data, threads=threads) as ds:
            sps = [ds.split(s) for s in ds.splits]
            tasks = _plan(sps, [sp.ground_truth() for sp in sps], 64)
            with ThreadPoolExecutor(threads) as pool:
                bulk = bulk_readable(sps)
                for _ in pool.map(lambda t, sps=sps, bulk=bulk: len(_load_images(sps, t.items, bulk)), tasks):
                    pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="built store (.h5); default: the clean AFLW2000-3D folder × copies")
    ap.add_argument("--copies", type=int, default=5, help="repetitions of the clean folder when no --data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from aflw_occ.source import AFLW2000_3D

    if args.data is not None:
        data: object = args.data
        copies = 1
        what = f"store {args.data}"
    else:
        data = AFLW2000_3D(default_source(), default_eval_dir())
        copies = args.copies
        what = f"clean AFLW2000-3D folder × {copies}"
    load = os.getloadavg()
    print(f"# bench_evaluate: {what}; {os.cpu_count()} cores; {platform.processor() or platform.machine()}")
    print(f"# load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        onnx = _export(Path(tmp))
        runs: dict[str, list[tuple[float, float]]] = {"evaluate": [], "inference": [], "loading": []}
        n = 0
        for _ in range(args.repeat):  # interleaved, so all three see the same machine load
            w, c, n = _timed(_evaluate, onnx, data, args.threads, copies)  # type: ignore[assignment]
            runs["evaluate"].append((w, c))
            w, c, _ = _timed(_inference_floor, onnx, n, args.threads)
            runs["inference"].append((w, c))
            w, c, _ = _timed(_loading_floor, data, args.threads, copies)
            runs["loading"].append((w, c))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}
    print(f"images: {n}, threads: {args.threads}, repeats: {args.repeat} (median)")
    print("| what | wall (s) | CPU user+sys (s) | wall ms/image | wall × inference floor | wall × loading floor |")
    print("|---|---|---|---|---|---|")
    labels = {
        "evaluate": "evaluate (load + crop + inference + decoding + scoring)",
        "inference": "inference floor (onnxruntime only, same n)",
        "loading": "loading floor (read + decode every image)",
    }
    for k, (w, c) in med.items():
        print(
            f"| {labels[k]} | {w:.2f} | {c:.2f} | {1e3 * w / n:.2f} | {w / med['inference'][0]:.2f} | "
            f"{w / med['loading'][0]:.2f} |"
        )
    print("all runs (wall, cpu):", {k: [(round(w, 2), round(c, 2)) for w, c in v] for k, v in runs.items()})
    load = os.getloadavg()
    print(f"# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
