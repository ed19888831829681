"""Full-size reproducibility check (run by hand on an idle machine; CI runs the 100-id version in
``tests/test_reproducibility.py``): build every subset of the current data version from the whole real AFLW2000-3D
in each configuration — AVX-512 (native), AVX2 and SSE4.2 emulated, and the lowest supported numpy / OpenCV
(``.venv-low/``) — assert that each emulation took effect in the build's own process, and verify each store with
``aflw-occ verify --partial`` against the committed manifest, one subset at a time.

    .venv/bin/python -m benchmarks.repro_full [--configs avx512,avx2,sse42,low] [--ids @FILE|N] [--workers 2]
                                              [--out DIR] [--keep]

``--ids N`` takes the first N of ``tests/data/repro_ids.txt`` (a quick check of the script itself); the default is
every id. Prints one line per configuration × subset with the verify result and the build time; exits non-zero when
an emulation did not take effect or a subset that must verify did not (subsets of ``repro.KNOWN_INEXACT`` are
reported as "known").
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from aflw_occ.paths import default_source
from benchmarks import repro
from benchmarks._machine import cpu_name


def _ids_file(spec: str | None, tmp: Path) -> Path | None:
    if not spec:
        return None
    if spec.startswith("@"):
        return Path(spec[1:])
    path = tmp / "ids.txt"
    path.write_text("\n".join(repro.read_ids()[: int(spec)]) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=",".join(repro.CONFIGS), help="comma list of " + ", ".join(repro.CONFIGS))
    ap.add_argument("--ids", help="@FILE with one id per line, or N: the first N reproducibility ids (default: all)")
    ap.add_argument("--source", type=Path, default=default_source())
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, help="where the builds go (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the builds")
    args = ap.parse_args(argv)

    version = repro.current_version()
    subsets = repro.subsets_of(version)
    out = args.out or Path(tempfile.mkdtemp(prefix="aflw-occ-repro-"))
    out.mkdir(parents=True, exist_ok=True)
    ids_file = _ids_file(args.ids, out)
    print(f"data version {version}, subsets {', '.join(subsets)}, {cpu_name()}, ids: {args.ids or 'all'}")
    failures = known_count = 0
    try:
        for name in args.configs.split(","):
            config = repro.CONFIGS[name]
            if repro.ISA_LEVELS[config.level].needs_avx512 and not repro.native_has_avx512():
                print(f"{name:7s} skipped: this CPU has no AVX-512")
                continue
            b = repro.build(config, args.source, out / name, subsets=subsets, ids_file=ids_file, workers=args.workers)
            npy, cv = b.probe["numpy"], b.probe["opencv"]
            blas = ",".join(str(r.get("architecture")) for r in b.probe["openblas"] or [])
            print(
                f"{name:7s} built in {b.seconds:7.1f} s: numpy {npy['version']} found {npy['found']}, "
                f"OpenCV {cv['version']} {cv['features_line']}, OpenBLAS {blas}"
            )
            if b.problems:
                failures += 1
                print("        EMULATION NOT IN EFFECT: " + "; ".join(b.problems))
                continue
            for subset in subsets:
                proc = repro.verify(b, splits=repro.splits_of(subset), version=version, workers=args.workers)
                summary = (proc.stdout.splitlines() or [proc.stderr.strip()[-200:]])[0]
                known = repro.known_inexact(version, name, subset)
                verdict = "ok" if proc.returncode == 0 else ("known" if known else "FAIL")
                failures += verdict == "FAIL"
                known_count += verdict == "known"
                print(f"        {subset:8s} {verdict:5s} {summary.rsplit('): ', 1)[-1]}")
            if not args.keep:
                shutil.rmtree(b.out, ignore_errors=True)
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    note = f" ({known_count} known-inexact subset result(s) of data version {version})" if known_count else ""
    print(("no unexpected mismatch" if not failures else f"{failures} failure(s)") + note)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
