"""Leaderboard (README block) and the self-contained HTML report, opened in headless Chromium when available.

CI note: the Chromium check skips when ``chromium`` is absent; `.ci/run` / the Makefile must install it
(``apt-get update && apt-get install -y chromium``) for it to run there.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from aflw_occ.evaluate import FaceBoxes, evaluate
from aflw_occ.leaderboard import END, START, ResultsError, leaderboard_markdown, load_results, update_readme
from aflw_occ.report import ced_points


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A tiny built store and two models' results folders (a good and a worse box-based predictor)."""
    from aflw_occ.builders import BuildOptions
    from aflw_occ.demo import make_source
    from aflw_occ.pipeline import BuildPlan, build

    root = tmp_path_factory.mktemp("report")
    src = make_source(root / "source", n=8, seed=5)  # all three yaw bins populated
    plan = BuildPlan(
        source=src,
        out=root / "build",
        version="2.0.0",
        subsets=("csod",),
        options=BuildOptions(seed=0),
        workers=1,
        progress=False,
    )
    store = Path(build(plan).path)  # type: ignore[arg-type]

    def model(noise: float):
        def fn(images, boxes: FaceBoxes) -> np.ndarray:
            t = np.stack([np.linspace(0.1, 0.9, 68), 0.5 + 0.3 * np.cos(np.linspace(0, 6, 68))], axis=1)
            size = boxes.face[:, 2:] - boxes.face[:, :2]
            jitter = np.stack(
                [np.random.default_rng(zlib.crc32(i.encode())).normal(0, noise, (68, 2)) for i in boxes.ids]
            )
            return boxes.face[:, None, :2] + t[None] * size[:, None, :] + jitter

        fn.__name__ = f"box-noise{noise:g}"
        return fn

    dirs = []
    for noise in (1.0, 6.0):
        out = root / f"res{noise:g}"
        evaluate(model(noise), store, out_dir=out, n_boot=50, progress=False, model_spec=f"python:noise{noise:g}")
        dirs.append(out)
    return store, dirs


def test_leaderboard_block_matches_scores(results: tuple[Path, list[Path]], tmp_path: Path) -> None:
    import pandas as pd

    _, dirs = results
    md = leaderboard_markdown([load_results(d) for d in dirs])
    scores = pd.read_csv(dirs[1] / "scores.csv")
    for split in ("clean", "csod-single", "csod-double", "csod-column"):
        row = scores[(scores.split == split) & (scores.protocol == "sparse-2d") & (scores.metric == "nme_balanced")]
        v = row.iloc[0]
        assert f"{v.value:.3f} [{v.ci_low:.2f}, {v.ci_high:.2f}]" in md
    assert "| box-noise6 | CSOD square | 8 |" in md
    occ = scores[(scores.split == "csod-column") & (scores.metric == "nme_occluded_balanced")].iloc[0].value
    assert f"{occ:.3f}" in md

    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\nintro\n{START}\nold table\n{END}\nafter\n")
    from click.testing import CliRunner

    from aflw_occ.cli import cli

    r = CliRunner().invoke(cli, ["leaderboard", *map(str, dirs), "--readme", str(readme)])
    assert r.exit_code == 0, r.output
    text = readme.read_text()
    assert text.startswith("# Title\nintro\n" + START + "\n") and text.endswith(END + "\nafter\n")
    assert "old table" not in text and "box-noise1" in text
    once = text
    update_readme(readme, [load_results(d) for d in dirs])
    assert readme.read_text() == once  # idempotent

    other = tmp_path / "other-data"
    shutil.copytree(dirs[1], other)
    meta = json.loads((other / "meta.json").read_text())
    meta["manifest_sha256"] = "0" * 64
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ResultsError, match="results from different data cannot share one table"):
        leaderboard_markdown([load_results(dirs[0]), load_results(other)])

    bare = tmp_path / "NO_MARKERS.md"
    bare.write_text("# nothing\n")
    with pytest.raises(ResultsError, match="NO_MARKERS.md: no '<!-- leaderboard:start -->'"):
        update_readme(bare, [load_results(d) for d in dirs])
    with pytest.raises(ResultsError, match="missing"):
        load_results(tmp_path)


def test_ced_points() -> None:
    t, f = ced_points(np.array([1.0, 2.0, np.nan, 3.0]), max_err=4.0, n=5)
    np.testing.assert_allclose(t, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(f, [0, 0.25, 0.5, 0.75, 0.75])  # NaN counts as a failure


def test_report_self_contained_and_opens_in_chromium(results: tuple[Path, list[Path]], tmp_path: Path) -> None:
    store, dirs = results
    from click.testing import CliRunner

    from aflw_occ.cli import cli

    out = tmp_path / "report.html"
    r = CliRunner().invoke(cli, ["report", *map(str, dirs), "--out", str(out), "--worst", "4"])
    assert r.exit_code == 0, r.output
    doc = out.read_text()
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', doc)
    # bins, CED, occlusion, and one contact sheet per model × split (2 × 4)
    assert len(imgs) == 3 + 8
    for b in imgs:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(?!data:)', doc)  # nothing external
    assert "CSOD column" in doc and "box-noise6" in doc
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (CI: apt-get update && apt-get install -y chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome'}",
    ]
    dom = subprocess.run([chromium, *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "aflw-occ evaluation report" in dom.stdout and "CED curves" in dom.stdout
    assert dom.stdout.count("data:image/png;base64,") == len(imgs)
    assert store.is_file()
