"""Scoring speed: ``aflw-occ score`` as a cold process, against a cold-start baseline measured in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_score [--runs 5] [--rows 10000] [--store FILE.h5 --split clean]``.

What is timed (wall clock, each command a fresh Python process, median of ``--runs`` after 1 warm-up, all
commands interleaved round by round so they see the same machine load):

* ``baseline``: ``python -c "import numpy"`` — the floor every cold numpy process pays;
* ``cli-10k``: the real ``aflw-occ score`` command path (click, lazy imports, prediction-file read and
  validation, metrics, 1000 bootstrap resamples, printing) on a ``--rows``-row ``.npz`` prediction file. The
  ground truth is the real 2000 images tiled with distinct ids (``imageXXXXX-t<k>``) read from an ``.npz``
  (the CLI's ground-truth loader is swapped for that read, since no 10,000-image folder or store exists);
* ``cli-10k-json-out``: the same with ``--json --out per_sample.csv`` (imports pandas to write the table);
* ``cli-real-source``: ``aflw-occ score PRED --source DIR`` on the real 2000 images, end to end — it includes
  parsing 2000 ``.mat`` files, which dominates;
* ``cli-store`` (only with ``--store``): ``aflw-occ score PRED --data FILE.h5 --split NAME``.

Also prints an in-process breakdown of the 10,000-row scoring (read, score, text, per-sample table).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from benchmarks._machine import cpu_name, run_timed

_SHIM = """
import sys
import numpy as np
import aflw_occ.cli.score as s
from aflw_occ.groundtruth import GroundTruth

def _tiled(*args):
    with np.load({gt!r}) as z:
        return GroundTruth(ids=z["ids"], landmarks=z["landmarks"], angles_deg=z["angles_deg"],
                           reannotated=z["reannotated"], split="clean-tiled", data_version="bench",
                           provenance={{"bench": "real AFLW2000-3D tiled x{k}"}})

s.load_ground_truth = _tiled
from aflw_occ.cli import main
main()
"""


def _interleaved(cmds: dict[str, list[str]], runs: int) -> dict[str, list[tuple[float, float]]]:
    for cmd in cmds.values():
        run_timed(cmd)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    for _ in range(runs):
        for k, cmd in cmds.items():
            times[k].append(run_timed(cmd))
    return times


@click.command()
@click.option("--runs", type=int, default=5, show_default=True, help="Timed runs per command (after 1 warm-up).")
@click.option("--rows", type=int, default=10000, show_default=True, help="Rows of the tiled prediction file.")
@click.option("--store", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None)
@click.option("--split", default="clean", show_default=True)
def main(runs: int, rows: int, store: Path | None, split: str) -> None:
    from aflw_occ.groundtruth import GroundTruth
    from aflw_occ.paths import default_eval_dir, default_source
    from aflw_occ.predictions import read_predictions, write_predictions
    from aflw_occ.scoring import score
    from aflw_occ.store import read_ground_truth

    source, eval_dir = default_source().resolve(), default_eval_dir().resolve()
    if not source.is_dir():
        raise SystemExit(f"real data not found at {source} (set AFLW_OCC_SHARED)")
    real = GroundTruth.from_source(source, eval_dir if eval_dir.is_dir() else None)
    k = -(-rows // len(real))
    rng = np.random.default_rng(0)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp_name:
        tmp = Path(tmp_name)
        ids = np.concatenate([np.char.add(real.ids, f"-t{t}") for t in range(k)])[:rows]
        lm = np.concatenate([real.landmarks] * k)[:rows]
        ang = np.concatenate([real.angles_deg] * k)[:rows]
        re = np.concatenate([real.reannotated] * k)[:rows] if real.reannotated is not None else lm[..., :2]
        np.savez(tmp / "gt.npz", ids=ids, landmarks=lm, angles_deg=ang, reannotated=re)
        pred = write_predictions(tmp / "pred10k.npz", ids, lm + rng.normal(0, 2, lm.shape), angles_deg=ang)
        real_pred = write_predictions(
            tmp / "pred_real.npz", real.ids, real.landmarks + rng.normal(0, 2, real.landmarks.shape)
        )
        shim = _SHIM.format(gt=str(tmp / "gt.npz"), k=k)
        cmds = {
            "baseline": [py, "-c", "import numpy"],
            "cli-10k": [py, "-c", shim, "score", str(pred), "--source", str(tmp)],
            "cli-10k-json-out": [
                py,
                "-c",
                shim,
                "score",
                str(pred),
                "--source",
                str(tmp),
                "--json",
                "--out",
                str(tmp / "per_sample.csv"),
            ],
            # the function the console script `aflw-occ` calls
            "cli-real-source": [
                py,
                "-c",
                "from aflw_occ.cli import main; main()",
                "score",
                str(real_pred),
                "--source",
                str(source),
            ],
        }
        if store is not None:
            store_gt = read_ground_truth(store, split)
            store_pred = write_predictions(
                tmp / "pred_store.npz", store_gt.ids, store_gt.landmarks + rng.normal(0, 2, store_gt.landmarks.shape)
            )
            cmds["cli-store"] = [
                py,
                "-c",
                "from aflw_occ.cli import main; main()",
                "score",
                str(store_pred),
                "--data",
                str(store),
                "--split",
                split,
            ]
        times = _interleaved(cmds, runs)

        # in-process breakdown
        gt10 = GroundTruth(ids=ids, landmarks=lm, angles_deg=ang, reannotated=re, split="clean-tiled")
        t0 = time.perf_counter()
        p = read_predictions(pred)
        t1 = time.perf_counter()
        res = score(p, gt10)
        t2 = time.perf_counter()
        res.to_text()
        t3 = time.perf_counter()
        res.per_sample()
        t4 = time.perf_counter()

    base = statistics.median(t for t, _ in times["baseline"])
    base_cpu = statistics.median(c for _, c in times["baseline"])
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"# bench_score: {platform.node()} | {cpu_name()} | nproc={os.cpu_count()} | "
        f"python {platform.python_version()} | numpy {np.__version__} | runs={runs} (median, 1 warm-up) | "
        f"load average {load}"
    )
    print("| command | median wall (s) | min wall (s) | wall × baseline | median CPU user+sys (s) | CPU × baseline |")
    print("|---|---|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(t for t, _ in ts)
        cpu = statistics.median(c for _, c in ts)
        low = min(t for t, _ in ts)
        print(f"| {name} | {med:.3f} | {low:.3f} | {med / base:.2f} | {cpu:.3f} | {cpu / base_cpu:.2f} |")
    print()
    print(
        f"in-process, {rows} rows: read+validate {t1 - t0:.3f} s, score (B=1000) {t2 - t1:.3f} s, "
        f"to_text {t3 - t2:.4f} s, per_sample (pandas import + table) {t4 - t3:.3f} s"
    )


if __name__ == "__main__":
    main()
