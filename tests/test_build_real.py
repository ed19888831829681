"""The build on the real AFLW2000-3D (a 400-image subset, every subset builder): killed mid-build, resumed with
another worker count, and checked pixel by pixel against the committed manifest of data version 2.0.0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from aflw_occ.builders import BuildOptions
from aflw_occ.pipeline import BuildPlan, build
from aflw_occ.store import open_store
from aflw_occ.store.verify import verify

MANIFEST = Path(__file__).resolve().parents[1] / "manifests" / "2.0.0"
SUBSETS = ("csod", "nod", "nsod", "randocc")
N_IDS = 400  # 10 blocks of 40: every 5th image of the release


@pytest.mark.real
def test_killed_build_resumes_to_the_committed_manifest(real_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "real"
    ids = sorted(p.stem for p in real_source.glob("image*.jpg"))[:: 2000 // N_IDS]
    (tmp_path / "ids.txt").write_text("\n".join(ids))
    exe = Path(sys.executable).parent / "aflw-occ"
    cmd = [str(exe), "build", "--source", str(real_source), "--out", str(out), "--subset", ",".join(SUBSETS)]
    cmd += ["--ids", f"@{tmp_path / 'ids.txt'}"]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    journal = out / ".journal-2.0.0"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(journal.glob("block-*.pkl"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "build ended early"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: the driver and its workers
    proc.wait()
    assert not (out / "aflw-occ-2.0.0.h5").exists()
    kept = len(list(journal.glob("block-*.pkl")))
    assert 2 <= kept < N_IDS // 40

    plan = BuildPlan(
        source=real_source,
        out=out,
        version="2.0.0",
        subsets=SUBSETS,
        options=BuildOptions(seed=0),
        workers=1,
        resume=True,
        progress=False,
        ids=tuple(ids),
    )
    res = build(plan)
    assert res.path is not None and res.computed == res.blocks_total - kept
    counts = res.splits
    assert {k: counts[k] for k in counts if k != "nod"} == dict.fromkeys(
        ["clean", "csod-single", "csod-double", "csod-column", "nsod", "randocc"], N_IDS
    )
    assert 0 < counts["nod"] < N_IDS // 5

    report = verify(res.path, MANIFEST, workers=2, partial=True)
    assert report.ok, report.summary()
    assert report.checked == 7 * N_IDS  # clean, 3 × CSOD, NOD (every stored row), NSOD, RandOcc

    # the committed manifest pins everything: pixels outside the occluder equal the source (sampled rows)
    with open_store(res.path) as st:
        for name in ("csod-single", "csod-double", "csod-column", "nsod", "randocc"):
            sp = st.split(name)
            for i in np.random.default_rng(0).choice(len(sp), 20, replace=False):
                img, mask = sp.image(int(i)), sp.mask(int(i))
                base = st.base_image(int(sp.source_index[i]))
                assert np.array_equal(img[~mask], base[~mask])
