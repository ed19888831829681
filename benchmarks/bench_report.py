"""Report build time against the evaluate time it follows, and the report's size.

Run: ``.venv/bin/python -m benchmarks.bench_report [--data STORE] [--rounds 3] [--onnx FILE]``. Without ``--data``
it builds the 100 ids of ``tests/data/repro_ids.txt`` with every subset into a temporary folder first.

What is timed (each a fresh ``aflw-occ`` process, interleaved round by round so both see the same machine load;
median of ``--rounds``): ``evaluate`` = ``aflw-occ evaluate --model 3ddfa-v2:mb05.onnx --data STORE --out RES
--no-progress`` (every split; sparse-2d, sparse-3d and pose, 1000 resamples each); ``report`` = ``aflw-occ report
RES --out report.html --no-progress`` (defaults: 4 worst samples per split, 1000 resamples). Wall and CPU
(user + sys of the child) are printed with their ratio, then the page's size split into JPEG samples, inline SVG
plots and the rest (tables, text), and the size per section.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks._machine import cpu_name, run_timed

EXE = str(Path(sys.executable).parent / "aflw-occ")
IDS = Path(__file__).resolve().parents[1] / "tests" / "data" / "repro_ids.txt"


def _sizes(page: Path) -> None:
    doc = page.read_text(encoding="utf-8")
    jpeg = sum(len(m) for m in re.findall(r"data:image/jpeg;base64,[^\"]+", doc))
    svg = sum(len(m) for m in re.findall(r"<svg.*?</svg>", doc, re.S))
    total = len(doc.encode("utf-8"))
    print(f"\nreport size: {total / 1e6:.3f} MB = JPEG samples {jpeg / 1e6:.3f} + inline SVG {svg / 1e6:.3f} + "
          f"tables and text {(total - jpeg - svg) / 1e6:.3f}; {doc.count('data:image/jpeg')} samples")  # fmt: skip
    marks = [(m.group(1), m.start()) for m in re.finditer(r'<section id="([\w-]+)">', doc)] + [("end", len(doc))]
    print("| section | kB |\n|---|---|")
    for (name, a), (_, b) in zip(marks, marks[1:], strict=False):
        print(f"| {name} | {(b - a) / 1e3:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="a built store (default: the 100 repro ids, every subset, built here)")
    ap.add_argument("--onnx", type=Path, help="an exported mb05 .onnx (default: exported at the start)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from aflw_occ.paths import default_source, shared_dir

    load0 = os.getloadavg()
    print(f"# bench_report: {os.cpu_count()} cores, {cpu_name()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = args.data
        if data is None:
            data = tmp / "store"
            run_timed([EXE, "build", "--source", str(default_source()), "--out", str(data), "--ids", f"@{IDS}",
                  "--subsets", "all", "--quiet"])  # fmt: skip
        onnx = args.onnx
        if onnx is None:
            onnx = tmp / "mb05.onnx"
            weights = shared_dir() / "models" / "3ddfa_v2_mb05" / "mb05_120x120.pth"
            run_timed([EXE, "export", "3ddfa-v2", "--weights", str(weights), "--out", str(onnx)])
        res, page = tmp / "res", tmp / "report.html"
        cmds = {
            "evaluate": [EXE, "evaluate", "--model", f"3ddfa-v2:{onnx}", "--data", str(data), "--out", str(res),
                         "--no-progress"],
            "report": [EXE, "report", str(res), "--out", str(page), "--no-progress"],
        }  # fmt: skip
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
        for _ in range(args.rounds):
            for k, cmd in cmds.items():
                times[k].append(run_timed(cmd))
        load1 = os.getloadavg()
        print(f"data: {data}; rounds: {args.rounds} (median); load average {load0[0]:.2f} → {load1[0]:.2f}")
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}
        print("| command | wall (s) | CPU user+sys (s) |\n|---|---|---|")
        for k, (w, c) in med.items():
            print(f"| {k} | {w:.2f} | {c:.2f} |")
        ratio_w = med["report"][0] / med["evaluate"][0]
        ratio_c = med["report"][1] / med["evaluate"][1]
        print(f"report / evaluate: wall {ratio_w:.2f}, CPU {ratio_c:.2f}")
        print("all runs (wall, cpu):", {k: [(round(w, 2), round(c, 2)) for w, c in v] for k, v in times.items()})
        _sizes(page)


if __name__ == "__main__":
    main()
