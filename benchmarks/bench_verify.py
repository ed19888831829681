"""Benchmark: ``verify`` of a built store in one process (``workers=1``, so every CPU-second is this process's),
optionally against another checkout of aflw-occ in the same run (rounds interleaved, so both see the same load).

    .venv/bin/python -m benchmarks.bench_verify --data aflw-occ-2.0.0.h5 [--against /path/to/other/checkout]
        [--repeat 2] [--split NAME ...]

Each measurement runs in a child process whose ``sys.path`` starts with the checkout measured; it prints the rows
checked, the mismatches, the process CPU seconds and the wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import aflw_occ
assert aflw_occ.__file__.startswith(sys.argv[1]), aflw_occ.__file__
from aflw_occ.store.verify import verify
splits = json.loads(sys.argv[3]) or None
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
rep = verify(sys.argv[2], workers=1, splits=splits, progress=False)
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
print(json.dumps({"rows": rep.checked, "mismatches": len(rep.mismatches), "cpu": cpu, "wall": t1 - t0}))
"""


def _run(checkout: Path, data: Path, splits: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(checkout), str(data), json.dumps(splits)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--against", type=Path, help="another aflw-occ checkout to measure in the same rounds")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--split", action="append", default=[])
    args = ap.parse_args()
    here = Path(__file__).resolve().parents[1]
    checkouts = {"this": here} | ({"against": args.against.resolve()} if args.against else {})
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in checkouts}
    load0 = os.getloadavg()[0]
    for _ in range(args.repeat):
        for key, path in checkouts.items():
            runs[key].append(_run(path, args.data, args.split))
            print(f"{key} ({path}): {runs[key][-1]}", flush=True)
    print(f"\nload average {load0:.1f} → {os.getloadavg()[0]:.1f}")
    print("| checkout | rows | mismatches | CPU s (median) | wall s (median) |\n|---|---|---|---|---|")
    for key, rs in runs.items():
        cpu, wall = statistics.median(r["cpu"] for r in rs), statistics.median(r["wall"] for r in rs)
        rows, bad = rs[0]["rows"], rs[0]["mismatches"]
        print(f"| {key} ({checkouts[key]}) | {rows:.0f} | {bad:.0f} | {cpu:.1f} | {wall:.1f} |")


if __name__ == "__main__":
    main()
