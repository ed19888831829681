"""Reading the AFLW2000-3D ``.mat`` files: :func:`aflw_occ.matfile.read_mat` against ``scipy.io.loadmat``.

Run: ``.venv/bin/python -m benchmarks.bench_matfile [--runs 3] [--out FILE.md]``.

What is timed (median of ``--runs``, after one warm-up, the variants interleaved round by round so that they see the
same machine load):

* ``read-2000``: in this process, reading all 2000 annotation files with ``scipy.io.loadmat(path)`` (the former call
  of ``aflw_occ.source.load_mat``), ``scipy.io.loadmat(path, mat_dtype=True)`` (the semantics ``read_mat`` copies) and
  ``read_mat(path)``: process CPU time and wall time;
* ``import scipy.io``: in a fresh process that has already imported numpy (as ``aflw_occ`` does);
* ``AFLW2000_3D(source)``: a fresh process loads the whole release; *before* = the same code with ``load_mat``'s
  reader swapped for the former ``scipy.io.loadmat(str(path))`` (imported lazily at the first file, as before),
  *after* = the code as it is. Construction time measured inside the process, and the whole process's wall / CPU;
* ``release mesh``: a fresh process runs ``geometry._load_release_mesh`` (what every build worker does), before
  (scipy with ``variable_names``) and after.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from benchmarks._machine import cpu_name

_LOAD = """
import sys, time
import aflw_occ.source as src
if {before}:
    def _former(path):
        import scipy.io
        return {{k: v for k, v in scipy.io.loadmat(str(path)).items() if not k.startswith("__")}}
    src.read_mat = _former
t1, c1 = time.perf_counter(), time.process_time()
ds = src.AFLW2000_3D({source!r})
t2, c2 = time.perf_counter(), time.process_time()
assert len(ds) == 2000
print(t2 - t1, c2 - c1, "scipy.io" in sys.modules)
"""

_MESH = """
import sys, time
from pathlib import Path
import aflw_occ.geometry as geo
if {before}:
    def _former(path, names=None):
        import scipy.io
        return scipy.io.loadmat(str(path), variable_names=names)
    geo.read_mat = _former
t1, c1 = time.perf_counter(), time.process_time()
mesh = geo._load_release_mesh(Path({source!r}))
t2, c2 = time.perf_counter(), time.process_time()
print(t2 - t1, c2 - c1, "scipy.io" in sys.modules)
"""

_IMPORT = """
import time
import numpy
t1, c1 = time.perf_counter(), time.process_time()
import scipy.io
t2, c2 = time.perf_counter(), time.process_time()
print(t2 - t1, c2 - c1, True)
"""


def _child(code: str) -> tuple[float, float, float, float, bool]:
    """(in-process wall, in-process CPU, process wall, process CPU, scipy.io imported) of a fresh Python process
    running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr}")
    a, b, c = proc.stdout.split()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(a), float(b), wall, cpu, c == "True"


def _loop(fn: Callable[[Path], object], files: list[Path]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of reading every file once."""
    t0, c0 = time.perf_counter(), time.process_time()
    for f in files:
        fn(f)
    return time.process_time() - c0, time.perf_counter() - t0


@click.command()
@click.option("--runs", type=int, default=3, show_default=True, help="Timed runs per variant (after 1 warm-up).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also write the report.")
def main(runs: int, out: Path | None) -> None:
    import scipy.io

    from aflw_occ.matfile import read_mat
    from aflw_occ.paths import default_source

    source = default_source().resolve()
    files = sorted(source.glob("image*.mat"))
    if len(files) != 2000:
        raise SystemExit(f"real data not found at {source} (set AFLW_OCC_SHARED)")

    readers: dict[str, Callable[[Path], object]] = {
        "scipy.io.loadmat(path) (former)": lambda f: scipy.io.loadmat(str(f)),
        "scipy.io.loadmat(path, mat_dtype=True)": lambda f: scipy.io.loadmat(str(f), mat_dtype=True),
        "read_mat(path)": read_mat,
    }
    reads: dict[str, list[tuple[float, float]]] = {k: [] for k in readers}
    for fn in readers.values():
        _loop(fn, files)
    for _ in range(runs):
        for name, fn in readers.items():
            reads[name].append(_loop(fn, files))

    children = {
        "import scipy.io (numpy already imported)": _IMPORT,
        "AFLW2000_3D(source), before (scipy.io.loadmat)": _LOAD.format(before=True, source=str(source)),
        "AFLW2000_3D(source), after (read_mat)": _LOAD.format(before=False, source=str(source)),
        "_load_release_mesh, before (scipy.io.loadmat)": _MESH.format(before=True, source=str(source)),
        "_load_release_mesh, after (read_mat)": _MESH.format(before=False, source=str(source)),
    }
    procs: dict[str, list[tuple[float, float, float, float, bool]]] = {k: [] for k in children}
    for code in children.values():
        _child(code)
    for _ in range(runs):
        for name, code in children.items():
            procs[name].append(_child(code))

    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"# bench_matfile: {platform.node()} | {cpu_name()} | nproc={os.cpu_count()} | "
        f"python {platform.python_version()} | numpy {np.__version__} | scipy {scipy.__version__} | "
        f"runs={runs} (median, 1 warm-up, interleaved) | load average {load}",
        "",
        f"Reading the {len(files)} annotation files in one process:",
        "",
        "| reader | median CPU (s) | median wall (s) | µs / file (CPU) | CPU × read_mat |",
        "|---|---|---|---|---|",
    ]
    base_cpu = med([c for c, _ in reads["read_mat(path)"]])
    for name, ts in reads.items():
        cpu, wall = med([c for c, _ in ts]), med([w for _, w in ts])
        lines.append(f"| {name} | {cpu:.3f} | {wall:.3f} | {cpu / len(files) * 1e6:.0f} | {cpu / base_cpu:.2f} |")
    lines += [
        "",
        "Fresh processes (in-process = the timed step inside the child; process = the whole child, interpreter start "
        "and imports included):",
        "",
        "| step | median in-process wall (s) | median in-process CPU (s) | median process wall (s) | "
        "median process CPU (s) | scipy.io imported |",
        "|---|---|---|---|---|---|",
    ]
    for name, ts in procs.items():
        cols = [med([t[i] for t in ts]) for i in range(4)]
        lines.append(f"| {name} | {cols[0]:.3f} | {cols[1]:.3f} | {cols[2]:.3f} | {cols[3]:.3f} | {ts[0][4]} |")
    text = "\n".join(lines)
    print(text)
    if out is not None:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
