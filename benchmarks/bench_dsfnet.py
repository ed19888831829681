"""DSFNet CPU latency per face: torch eager vs onnxruntime, batch 1 and 8, 2 threads.

Run: ``.venv/bin/python -m benchmarks.bench_dsfnet [--runs 5]``. Uses the seeded reference weights and the full-size
(199 + 29 component) stand-in basis from the shared data. Configurations, measured interleaved in one run:

* ``torch-official``: the released forward (sampled, original heads) — the reference figure is ~0.58 s/face;
* ``torch-det``: deterministic mode, original heads (the faithful module);
* ``torch-det-fast``: deterministic mode with the exact polyphase heads (:mod:`dsfnet_model.fast_heads`);
* ``ort``: the exported ONNX graph (deterministic, polyphase heads) in onnxruntime.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=str, default="1,8")
    args = ap.parse_args()

    import torch

    from dsfnet_model.checkpoint import load_dsfnet
    from dsfnet_model.fast_heads import use_fast_heads
    from dsfnet_model.onnx_export import export_onnx, ort_session, run_onnx
    from dsfnet_model.reference import reference_vectors, reference_weights, standin_basis

    torch.set_num_threads(args.threads)
    sd = {k: torch.from_numpy(a) for k, a in reference_weights().items()}
    basis = standin_basis()
    det = load_dsfnet(sd, basis, mode="deterministic")
    official = load_dsfnet(sd, basis, mode="official")
    fast = use_fast_heads(copy.deepcopy(det).hrnet)
    det_fast = copy.deepcopy(det)
    det_fast.hrnet = fast
    tmp = Path(tempfile.mkdtemp()) / "dsfnet.onnx"
    t0 = time.perf_counter()
    export_onnx(det, tmp)
    export_s = time.perf_counter() - t0
    sess = ort_session(tmp, threads=args.threads)
    x1 = reference_vectors()["input"]

    def torch_run(model):
        def run(x):
            with torch.no_grad():
                model(torch.from_numpy(x))

        return run

    configs = {
        "torch-official": torch_run(official),
        "torch-det": torch_run(det),
        "torch-det-fast": torch_run(det_fast),
        "ort": lambda x: run_onnx(sess, x),
    }
    results: dict[tuple[str, int], list[float]] = {}
    for b in [int(v) for v in args.batches.split(",")]:
        x = np.concatenate([x1] * b)
        for run in configs.values():  # warm-up
            run(x)
        for _ in range(args.runs):
            for name, run in configs.items():  # interleaved, so load changes hit every config alike
                t = time.perf_counter()
                run(x)
                results.setdefault((name, b), []).append((time.perf_counter() - t) / b)
    print(f"machine: {platform.processor() or platform.machine()}, nproc={os.cpu_count()}, threads={args.threads}, "
          f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}, "
          f"load average at end {os.getloadavg()[0]:.1f}; export took {export_s:.1f} s")
    print("| config | batch | median s/face | min s/face | torch-det / config |")
    print("|---|---|---|---|---|")
    for (name, b), ts in results.items():
        base = statistics.median(results[("torch-det", b)])
        med = statistics.median(ts)
        print(f"| {name} | {b} | {med:.3f} | {min(ts):.3f} | {base / med:.2f}× |")


if __name__ == "__main__":
    main()
