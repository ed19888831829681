"""Benchmark: evaluate the 3DDFA_V2 MobileNet-x0.5 ONNX model on splits of a built store (load + crop + inference +
post-processing + scoring, the CLI's default protocols), against floors measured in the same run:

* inference floor — onnxruntime alone on ready 120×120 inputs, as many images as evaluated, in two settings:
  ``1 session × T threads`` (one session, T intra-op threads, 64 rows per call) and ``T × 1 thread`` (T threads
  each calling a single-thread session on 16-row chunks: what ``evaluate`` does);
* loading floor — reading + decoding every image of the splits (bulk reads, T threads), no model.

With ``--data``, each ``--splits`` set is measured (default: the issue's target, every split but the opt-in
``randocc`` = 10,133 images of v1, then ``all`` = 12,133). Without a store, the 2000 clean images are evaluated
``--copies`` times (default 5 ≈ 10,000 images).

    .venv/bin/python -m benchmarks.bench_evaluate [--data FILE.h5] [--splits LIST ...] [--onnx MODEL.onnx]
        [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from aflw_occ.paths import default_eval_dir, default_source, shared_dir

TARGET = "target"  # every split of the store except the opt-in randocc


def _cpu() -> float:
    """User + system CPU seconds of this process (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn, *args) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    c0, t0 = _cpu(), time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, _cpu() - c0, out


def export_mb05(tmp: Path) -> Path:
    """Export the model in a child process, so torch (and its thread pools) never enter the measuring process."""
    w = shared_dir() / "models" / "3ddfa_v2_mb05" / "mb05_120x120.pth"
    out = tmp / "mb05.onnx"
    code = "import sys; from aflw_occ.adapters.tddfa_export import export_onnx; export_onnx(sys.argv[1], sys.argv[2])"
    subprocess.run([sys.executable, "-c", code, str(w), str(out)], check=True)
    return out


def _split_names(data: object, spec: str) -> str:
    """``target`` → the comma list of every split but randocc; anything else unchanged."""
    if spec != TARGET:
        return spec
    from aflw_occ.evaluate import open_data

    with open_data(data) as ds:
        return ",".join(s for s in ds.splits if s != "randocc")


def _evaluate(onnx: Path, data: object, splits: str, threads: int, copies: int) -> int:
    from aflw_occ.adapters.tddfa_onnx import TDDFAOnnxPredictor
    from aflw_occ.evaluate import evaluate

    pred = TDDFAOnnxPredictor(onnx, threads=threads)
    n = 0
    for _ in range(copies):
        res = evaluate(pred, data, splits=splits, threads=threads, progress=False, n_boot=1000)
        n += sum(len(r.ids) for r in res.splits.values())
    return n


def _inference_one_session(onnx: Path, n: int, threads: int, batch: int = 64) -> None:
    """One session with ``threads`` intra-op threads, ``batch`` rows per call."""
    from aflw_occ.adapters.onnx import make_session

    sess = make_session(onnx, threads)
    x = np.random.default_rng(0).normal(0, 1, (batch, 3, 120, 120)).astype(np.float32)
    for s in range(0, n, batch):
        sess.run(None, {"input": x[: min(batch, n - s)]})


def _inference_concurrent(onnx: Path, n: int, threads: int, batch: int = 64) -> None:
    """``threads`` threads sharing a single-thread session, each batch run in 16-row chunks (as evaluate does)."""
    from aflw_occ.adapters.onnx import make_session, run_chunked

    sess = make_session(onnx, 1)
    x = np.random.default_rng(0).normal(0, 1, (batch, 3, 120, 120)).astype(np.float32)
    with ThreadPoolExecutor(threads) as pool:
        sizes = [min(batch, n - s) for s in range(0, n, batch)]
        list(pool.map(lambda m: run_chunked(sess, ["landmarks"], "input", x[:m]), sizes))


def _loading_floor(data: object, splits: str, threads: int, copies: int) -> None:
    from aflw_occ.detection.protocol import split_boxes
    from aflw_occ.evaluation import open_data, resolve_splits
    from aflw_occ.evaluation.runner import plan
    from aflw_occ.store.bulk import BulkReader, bulk_readable, load_images

    for _ in range(copies):
        with open_data(data, threads=threads) as ds:
            sps = [ds.split(s) for s in resolve_splits(splits, list(ds.splits))]
            boxes = [
                split_boxes(None, sp.name, sp.ids, sp.ground_truth().landmarks, getattr(sp, "roi_boxes", None), "", "")
                for sp in sps
            ]
            tasks = plan(sps, boxes, 64)
            bulk = bulk_readable(sps)
            reader = BulkReader(sps) if bulk else None
            with ThreadPoolExecutor(threads) as pool:
                for _ in pool.map(lambda t, s=sps, b=bulk, r=reader: len(load_images(s, t.items, b, r)), tasks):
                    pass


LABELS = {
    "evaluate": "evaluate (load + crop + inference + decoding + scoring)",
    "inference-1xT": "inference floor, 1 session × T threads, 64 rows/call",
    "inference-Tx1": "inference floor, T × 1-thread calls, 16 rows/call",
    "loading": "loading floor (read + decode every image)",
}


def _measure(onnx: Path, data: object, splits: str, threads: int, copies: int, repeat: int) -> None:
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in LABELS}
    n = 0
    load0 = os.getloadavg()
    for _ in range(repeat):  # interleaved, so all of them see the same machine load
        w, c, n = _timed(_evaluate, onnx, data, splits, threads, copies)  # type: ignore[assignment]
        runs["evaluate"].append((w, c))
        for key, fn in (("inference-1xT", _inference_one_session), ("inference-Tx1", _inference_concurrent)):
            w, c, _ = _timed(fn, onnx, n, threads)
            runs[key].append((w, c))
        w, c, _ = _timed(_loading_floor, data, splits, threads, copies)
        runs["loading"].append((w, c))
    load1 = os.getloadavg()
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}
    inf = min(med["inference-1xT"][0], med["inference-Tx1"][0])
    print(f"\n## splits: {splits}")
    print(f"images: {n}, threads: {threads}, repeats: {repeat} (median); load average {load0[0]:.2f} → {load1[0]:.2f}")
    print("| what | wall (s) | CPU user+sys (s) | wall ms/image | CPU ms/image | wall × best inference floor |")
    print("|---|---|---|---|---|---|")
    for k, (w, c) in med.items():
        print(f"| {LABELS[k]} | {w:.2f} | {c:.2f} | {1e3 * w / n:.2f} | {1e3 * c / n:.2f} | {w / inf:.2f} |")
    ev, ld = med["evaluate"], med["loading"]
    floor_cpu = min(med["inference-1xT"][1], med["inference-Tx1"][1]) + ld[1]
    print(
        f"evaluate CPU / (best inference CPU + loading CPU) = {ev[1] / floor_cpu:.2f}; "
        f"evaluate wall / ((that CPU sum) / {threads} cores) = {ev[0] / (floor_cpu / threads):.2f}"
    )
    print("all runs (wall, cpu):", {k: [(round(w, 2), round(c, 2)) for w, c in v] for k, v in runs.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="built store (.h5); default: the clean AFLW2000-3D folder × copies")
    ap.add_argument(
        "--splits",
        action="append",
        help=f"split set to measure (repeatable): a comma list, 'all', or '{TARGET}' (every split but randocc); "
        f"default with --data: {TARGET} and all",
    )
    ap.add_argument("--onnx", type=Path, help="an exported mb05 .onnx (default: exported at the start of the run)")
    ap.add_argument("--copies", type=int, default=5, help="repetitions of the clean folder when no --data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from aflw_occ.source import AFLW2000_3D

    if args.data is not None:
        data: object = args.data
        copies = 1
        what = f"store {args.data}"
        sets = args.splits or [TARGET, "all"]
    else:
        data = AFLW2000_3D(default_source(), default_eval_dir())
        copies = args.copies
        what = f"clean AFLW2000-3D folder × {copies}"
        sets = ["clean"]
    load = os.getloadavg()
    print(f"# bench_evaluate: {what}; {os.cpu_count()} cores; {platform.processor() or platform.machine()}")
    print(f"# load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        onnx = args.onnx or export_mb05(Path(tmp))
        for spec in sets:
            _measure(onnx, data, _split_names(data, spec), args.threads, copies, args.repeat)
    load = os.getloadavg()
    print(f"# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
