"""``make bench``: run every benchmark with its defaults, one after another, and print their reports.

Each benchmark measures its own baseline in the same run (see ``docs/benchmarks.md``); run on an idle machine.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    ["benchmarks.bench_score"],
    ["benchmarks.bench_build"],
    ["benchmarks.bench_visibility"],
    ["benchmarks.bench_nsod", "--build"],
    ["benchmarks.bench_evaluate"],
    ["benchmarks.bench_baselines"],  # dlib, FaceMesh, 3DDFA_V2 on the clean source (--data STORE for every split)
    ["benchmarks.bench_report"],
    ["benchmarks.bench_detect"],
    ["benchmarks.bench_bisenet"],
    ["benchmarks.bench_dsfnet"],
    ["benchmarks.repro_full"],  # every subset, whole release, at AVX-512 / AVX2 / SSE4.2 and the lowest releases
]


def main() -> None:
    failed = []
    for args in BENCHMARKS:
        print(f"\n===== python -m {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, "-m", *args]).returncode != 0:
            failed.append(args[0])
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
