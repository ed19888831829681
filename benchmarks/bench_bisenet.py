"""BiSeNet face parser on CPU at 512²: torch eager vs onnxruntime, same threads, same input.

Run: ``.venv/bin/python -m benchmarks.bench_bisenet [--runs 10] [--threads 2] [--weights PTH|NPZ]``.

Times one batch-1 forward of the main head (``forward_main``: the network as exported to ONNX, logits
upsampled to 512²) with torch (eval, inference_mode) and with onnxruntime (CPU provider), interleaved run by
run so both see the same machine load; 1 warm-up run each, then the median of ``--runs``. Also times the
official full forward (all three heads, as ``test.py`` runs it) and the end-to-end segmenter call (crop,
resize, normalise, network, argmax, paste back) on a real AFLW2000-3D image when the shared data is present.
Default weights: the seeded reference state dict in ``$AFLW_OCC_SHARED/reference`` (timing does not depend
on the weight values).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from benchmarks._machine import cpu_name


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _interleaved(
    fns: dict[str, Callable[[], object]], runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """1 warm-up call each, then ``runs`` rounds calling every function once per round.

    Returns wall-clock seconds and process CPU seconds (all threads) per call.
    """
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            c0 = time.process_time()
            wall[k].append(_time(fn))
            cpu[k].append(time.process_time() - c0)
    return wall, cpu


@click.command()
@click.option("--runs", type=int, default=10, show_default=True, help="Timed runs (after 1 warm-up).")
@click.option("--threads", type=int, default=2, show_default=True, help="Threads for torch and onnxruntime.")
@click.option("--weights", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None)
def main(runs: int, threads: int, weights: Path | None) -> None:
    import onnxruntime as ort
    import torch

    from aflw_occ.paths import shared_dir
    from aflw_occ.skin.bisenet import BiSeNetSegmenter
    from aflw_occ.skin.bisenet_export import export_bisenet_onnx
    from aflw_occ.skin.bisenet_onnx import BiSeNetOnnxSegmenter

    weights = weights or shared_dir() / "reference" / "bisenet_state_dict.npz"
    torch.set_num_threads(threads)
    torch_seg = BiSeNetSegmenter(weights)
    model = torch_seg.model
    x = np.random.default_rng(0).standard_normal((1, 3, 512, 512)).astype(np.float32)
    xt = torch.from_numpy(x)

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "bisenet.onnx"
        t_export = _time(lambda: export_bisenet_onnx(weights, onnx_path, size=512))
        onnx_seg = BiSeNetOnnxSegmenter(onnx_path, threads=threads)

        def torch_main() -> object:
            with torch.inference_mode():
                return model.forward_main(xt)

        def torch_full() -> object:
            with torch.inference_mode():
                return model(xt)

        fns: dict[str, Callable[[], object]] = {
            "torch eager, main head": torch_main,
            "onnxruntime, main head": lambda: onnx_seg.logits(x),
            "torch eager, 3 heads (official forward)": torch_full,
        }
        image_note = ""
        source = shared_dir() / "data" / "aflw2000-3d"
        if source.is_dir():
            from aflw_occ.source import AFLW2000_3D

            sample = AFLW2000_3D(source, shared_dir() / "data" / "aflw2000-3d-eval")[0]
            image, lm = sample.read_image(), sample.pt3d_68.T
            fns["torch segmenter, end to end"] = lambda: torch_seg(image, lm)
            fns["onnxruntime segmenter, end to end"] = lambda: onnx_seg(image, lm)
            image_note = f" (end to end on {sample.id}, {image.shape[1]}x{image.shape[0]})"
        times, cpu = _interleaved(fns, runs)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"machine: {cpu_name()}, nproc={os.cpu_count()}, load avg {os.getloadavg()[0]:.2f}")
    print(f"torch {torch.__version__} ({threads} threads), onnxruntime {ort.__version__} ({threads} threads)")
    print(f"batch 1, 512x512, 1 warm-up then median of {runs}{image_note}; export+verify {t_export:.1f} s")
    print(f"  {'':42s} {'median':>8s}    {'min':>8s}    {'CPU med':>8s}")
    for k, v in med.items():
        runs_txt = ", ".join(f"{t:.3f}" for t in times[k])
        cpu_med = statistics.median(cpu[k])
        print(f"  {k:42s} {v * 1000:8.1f} ms {min(times[k]) * 1000:8.1f} ms {cpu_med * 1000:8.1f} ms   [{runs_txt}]")
    ratio = med["torch eager, main head"] / med["onnxruntime, main head"]
    ratio_min = min(times["torch eager, main head"]) / min(times["onnxruntime, main head"])
    print(f"ratio torch / onnxruntime (main head): {ratio:.2f}x on medians, {ratio_min:.2f}x on minima")


if __name__ == "__main__":
    main()
