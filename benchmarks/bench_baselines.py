"""Benchmark: the baselines' per-image inference time, and ``evaluate`` on every split against its inference floor.

Models: dlib (``dlib``: inner-51 box rule; ``dlib:box=tight``), MediaPipe FaceMesh (``mediapipe-facemesh``) and, for
comparison, 3DDFA_V2 MobileNet-x0.5 exported to ONNX (``3ddfa-v2:mb05.onnx``). For each, one in-process
``evaluate(predictor, store, splits="all", threads=T)`` with the CLI's defaults (batch 64, default protocols, both
point sets, 1000 bootstrap resamples), creating the predictor included, with the model's own inference call wrapped
by a timer of the calling thread's CPU time (``time.thread_time``):

* dlib: ``shape_predictor(image, rectangle)``, once per image;
* FaceMesh: ``Interpreter.invoke()`` (LiteRT, 1 thread), once per image;
* 3DDFA_V2: ``InferenceSession.run`` (onnxruntime, 1 intra-op thread), once per chunk of ≤ 16 distinct crops.

**Inference floor** = the sum of those CPU times over the whole run (what the model alone costs for these images);
**per-image inference** = floor / images inferred; **evaluate CPU** = the process's user + system CPU during the call
(every thread: reading, decoding, cropping, inference, checks, scoring). The ratio evaluate CPU / floor is the
overhead of everything around the model. Wall times are printed too, but on a shared machine only the CPU times and
the ratios measured in the same run are meaningful. Models are interleaved round by round; medians over rounds.

    .venv/bin/python -m benchmarks.bench_baselines [--data STORE.h5] [--onnx mb05.onnx] [--repeat 3] [--threads 2]
        [--models dlib,dlib:box=tight,mediapipe-facemesh,3ddfa-v2]

Without ``--data`` it evaluates the clean split of the shared AFLW2000-3D folder (2000 images; ``make bench``).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aflw_occ.paths import default_source

from ._machine import cpu_name
from .bench_evaluate import export_mb05

MODELS = ("dlib", "dlib:box=tight", "mediapipe-facemesh", "3ddfa-v2")


class Meter:
    """Thread-safe sum of the calling threads' CPU time around wrapped calls, and how many items they covered."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.items = 0
        self._lock = threading.Lock()

    def timed(self, fn: Callable[..., Any], items: Callable[..., int] = lambda *a, **k: 1) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            out = fn(*args, **kwargs)
            dt = time.thread_time() - t0
            with self._lock:
                self.seconds += dt
                self.items += items(*args, **kwargs)
            return out

        return wrapper


class _TimedCall:
    """A callable object (dlib's shape predictor) whose calls are metered."""

    def __init__(self, obj: Any, meter: Meter) -> None:
        self._call = meter.timed(obj)

    def __call__(self, *args: Any) -> Any:
        return self._call(*args)


class _TimedInterpreter:
    """A LiteRT interpreter whose ``invoke`` is metered; everything else is delegated."""

    def __init__(self, interp: Any, meter: Meter) -> None:
        self._interp = interp
        self.invoke = meter.timed(interp.invoke)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._interp, name)


def metered_predictor(spec: str, onnx: Path, threads: int, meter: Meter) -> Any:
    """The predictor of ``spec`` (``3ddfa-v2`` → the given ONNX export) with its inference call metered."""
    from aflw_occ.adapters.registry import load_predictor

    if spec.startswith("dlib"):
        pred = load_predictor(spec, threads=threads)
        pred.predictor = _TimedCall(pred.predictor, meter)
        return pred
    if spec == "mediapipe-facemesh":
        pred = load_predictor(spec, threads=threads)
        cls = pred._interpreter_cls
        pred._interpreter_cls = lambda **kw: _TimedInterpreter(cls(**kw), meter)
        pred._local = threading.local()  # interpreters are made again, metered, in each worker thread
        return pred
    if spec == "3ddfa-v2":
        pred = load_predictor(f"3ddfa-v2:{onnx}", threads=threads)
        forward = pred.forward

        def metered_forward(x: Any, session: Any = None) -> Any:
            return meter.timed(forward, lambda x, s=None: len(x))(x, session)

        pred.forward = metered_forward
        return pred
    raise SystemExit(f"error: unknown model {spec!r} (choose from {', '.join(MODELS)})")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_one(spec: str, data: Path, onnx: Path, threads: int) -> dict[str, float]:
    from aflw_occ.evaluate import evaluate

    meter = Meter()
    c0, t0 = _cpu(), time.perf_counter()
    pred = metered_predictor(spec, onnx, threads, meter)
    res = evaluate(pred, data, splits="all", threads=threads, progress=False)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    rows = sum(len(r.ids) for r in res.splits.values())
    clean = res.splits["clean"].scores["sparse-2d"]["nme_balanced"]
    return {"rows": rows, "items": meter.items, "floor": meter.seconds, "cpu": cpu, "wall": wall, "clean": clean}


def versions() -> str:
    import importlib.metadata as md

    got = []
    for dist in ("dlib-bin", "ai-edge-litert", "onnxruntime", "numpy", "opencv-python-headless", "h5py"):
        try:
            got.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            got.append(f"{dist} -")
    return ", ".join(got)


def vector_level() -> str:
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    for level, flag in (("AVX-512", "avx512f"), ("AVX2", "avx2"), ("SSE4.2", "sse4_2")):
        if flag in flags:
            return level
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="a full built store (default: the clean source folder)")
    ap.add_argument("--onnx", type=Path, default=None, help="3DDFA_V2 mb05 export (default: exported now)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    specs = [s.strip() for s in args.models.split(",") if s.strip()]
    data = args.data if args.data is not None else default_source()
    with tempfile.TemporaryDirectory() as tmp:
        onnx = args.onnx if args.onnx is not None or "3ddfa-v2" not in specs else export_mb05(Path(tmp))
        with open("/proc/loadavg") as fh:
            load = fh.read().split()[0]
        print(f"# {cpu_name()} ({vector_level()}), {platform.python_version()}, {versions()}")
        print(f"# data {data}, threads {args.threads}, {args.repeat} rounds, load average at start {load}")
        runs: dict[str, list[dict[str, float]]] = {s: [] for s in specs}
        for r in range(args.repeat):
            for spec in specs:
                got = run_one(spec, data, onnx, args.threads)  # type: ignore[arg-type]
                runs[spec].append(got)
                print(
                    f"round {r + 1} {spec}: {got['rows']:.0f} rows, {got['items']:.0f} inferred, floor "
                    f"{got['floor']:.2f} CPU-s, evaluate {got['cpu']:.2f} CPU-s / {got['wall']:.2f} s wall, "
                    f"clean balanced NME {got['clean']:.3f}",
                    flush=True,
                )
    print(
        "\n| model | rows | images inferred | per-image inference (CPU ms) | inference floor (CPU s) "
        "| evaluate CPU (s) | evaluate wall (s) | evaluate CPU / floor |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for spec, rs in runs.items():

        def med(k: str, rs: list[dict[str, float]] = rs) -> float:
            return statistics.median(x[k] for x in rs)

        per_image = statistics.median(1000 * x["floor"] / x["items"] for x in rs)
        ratio = statistics.median(x["cpu"] / x["floor"] for x in rs)
        print(
            f"| {spec} | {med('rows'):.0f} | {med('items'):.0f} | {per_image:.2f} | {med('floor'):.1f} "
            f"| {med('cpu'):.1f} | {med('wall'):.1f} | {ratio:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
