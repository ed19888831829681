"""Leaderboard (README block) and the HTML report on a tiny fabricated store: every section present, its numbers
against independent computations from the result files, a small page, quiet output with a progress bar on demand,
one-line errors, and the page opened in headless Chromium (required under CI)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from report_browser import probe

from aflw_occ.errors import AflwOccError
from aflw_occ.evaluate import BatchPrediction, FaceBoxes, evaluate
from aflw_occ.leaderboard import END, START, ResultsError, leaderboard_markdown, load_results, update_readme

EXE = str(Path(sys.executable).parent / "aflw-occ")
N = 8
WORST = 3


def _model(noise: float, three_d: bool):
    """A predictor whose jitter depends on the pixels (so an occluder changes its output) and on its id."""

    def fn(images, boxes: FaceBoxes):
        t = np.stack([np.linspace(0.1, 0.9, 68), 0.5 + 0.3 * np.cos(np.linspace(0, 6, 68))], axis=1)
        size = boxes.face[:, 2:] - boxes.face[:, :2]
        out = []
        for img, sid, box, sz in zip(images, boxes.ids, boxes.face, size, strict=True):
            rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(img).tobytes()) ^ zlib.crc32(sid.encode()))
            out.append(box[None, :2] + t * sz + rng.normal(0, noise, (68, 2)))
        lms = np.stack(out)
        if not three_d:
            return lms
        z = np.zeros((len(lms), 68, 1))
        return BatchPrediction(np.concatenate([lms, z], axis=2), angles_deg=np.full((len(lms), 3), 5.0))

    fn.__name__ = f"box{'3d' if three_d else ''}-noise{noise:g}"
    return fn


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A tiny built store (clean, CSOD ×3, NSOD with the CC0 pack, RandOcc) and two models' results folders: a 2D
    one (sparse-2d) and a 3D one with head pose (sparse-2d, sparse-3d, pose)."""
    from aflw_occ.builders import BuildOptions
    from aflw_occ.demo import make_source
    from aflw_occ.pipeline import BuildPlan, build

    root = tmp_path_factory.mktemp("report")
    src = make_source(root / "source", n=N, seed=5)  # all three yaw bins populated
    plan = BuildPlan(
        source=src,
        out=root / "build",
        version="2.0.0",
        subsets=("csod", "nsod", "randocc"),
        options=BuildOptions(seed=0, occluders=("cc0",)),
        workers=1,
        progress=False,
    )
    store = Path(build(plan).path)  # type: ignore[arg-type]
    dirs = []
    for noise, three_d in ((1.0, False), (6.0, True)):
        out = root / f"res{noise:g}"
        spec = f"python:noise{noise:g}"
        evaluate(_model(noise, three_d), store, out_dir=out, n_boot=50, progress=False, model_spec=spec)
        dirs.append(out)
    return store, dirs


def test_leaderboard_block_matches_scores(results: tuple[Path, list[Path]], tmp_path: Path) -> None:
    import pandas as pd

    _, dirs = results
    md = leaderboard_markdown([load_results(d) for d in dirs])
    scores = pd.read_csv(dirs[1] / "scores.csv", dtype={"points": str})
    scores = scores[scores.points.fillna("").isin(["68", ""])]  # the leaderboard's main tables: all 68 points
    for split in ("clean", "csod-single", "csod-double", "csod-column"):
        row = scores[(scores.split == split) & (scores.protocol == "sparse-2d") & (scores.metric == "nme_balanced")]
        v = row.iloc[0]
        assert f"{v.value:.3f} [{v.ci_low:.2f}, {v.ci_high:.2f}]" in md
    assert f"| box3d-noise6 | CSOD square | {N} |" in md
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


def _section(doc: str, key: str) -> str:
    m = re.search(rf'<section id="{key}">(.*?)</section>', doc, re.S)
    assert m is not None, f"section {key} missing"
    return m.group(1)


def _loop_drop(per_sample, split: str) -> tuple[float, int]:
    """Balanced mean of (occluded − clean) sparse-2d NME over the pairs of a split, by plain loops."""
    clean = {}
    for _, row in per_sample[per_sample["split"] == "clean"].iterrows():
        clean[str(row["id"])] = (float(row["nme"]), int(row["yaw_bin"]))
    by_bin: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for _, row in per_sample[per_sample["split"] == split].iterrows():
        c, b = clean[str(row["source_id"])]
        by_bin[b].append(float(row["nme"]) - c)
    return sum(sum(v) / len(v) for v in by_bin.values()) / 3, sum(len(v) for v in by_bin.values())


def test_report_answers_where_and_why(results: tuple[Path, list[Path]], tmp_path: Path) -> None:
    import cv2
    import pandas as pd

    from aflw_occ.predictions import read_predictions
    from aflw_occ.report.registry import sections
    from aflw_occ.store import read_ground_truth

    store, dirs = results
    out = tmp_path / "report.html"
    cmd = [EXE, "report", *map(str, dirs), "--out", str(out), "--worst", str(WORST), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # quiet: no warnings, no bar when asked for none
    assert proc.stdout.startswith(f"wrote {out} (") and proc.stdout.count("\n") == 1
    doc = out.read_text(encoding="utf-8")

    keys = [s.key for s in sections()]
    assert keys == ["models", "protocols", "drops", "coverage", "occluders", "landmarks", "ced", "worst"]
    assert re.findall(r'<section id="([\w-]+)">', doc) == keys
    assert not re.search(r'(src|href)="(?!data:|#)', doc)  # nothing external

    # every protocol evaluate computed, each table labelled with protocol, conventions, data version and manifest
    meta = json.loads((dirs[0] / "meta.json").read_text())
    label = f"data 2.0.0, manifest {meta['manifest_sha256'][:12]}"
    scores_html = _section(doc, "protocols")
    for proto in ("sparse-2d", "sparse-3d", "pose"):
        assert f'<h3 id="protocol-{proto}">' in scores_html
    # the sparse protocols are scored over both point sets: the inner-51 tables are their own, labelled
    inner = ("sparse-2d", "sparse-3d")
    for proto in inner:
        assert f'<h3 id="protocol-{proto}-points-inner-51">{proto} points=inner-51</h3>' in scores_html
    captions = re.findall(r"<caption>(.*?)</caption>", scores_html)
    assert len(captions) == 5 and all(label in c and "conventions " in c for c in captions)
    assert "conventions gt=original yaw=pose-para bins=3ddfa" in captions[0]
    assert "points=inner-51" in captions[1] and "points=inner-51" not in captions[0]
    assert "mae=wrapped" in captions[4]
    scores = pd.read_csv(dirs[1] / "scores.csv", dtype={"points": str})
    for proto, metric in (("pose", "mae_mean"), ("sparse-3d", "auc_7"), ("sparse-2d", "failure_10")):
        for points in ("68", "inner-51") if proto in inner else ("",):
            sel = (scores.split == "csod-column") & (scores.protocol == proto) & (scores.metric == metric)
            v = scores[sel & (scores.points.fillna("") == points)]
            assert len(v) == 1 and f"{float(v.iloc[0].value):.3f}" in scores_html, (proto, points)

    # the paired drop of every occluded split, against a loop over per_sample.csv
    drops_html = _section(doc, "drops")
    for k, d in enumerate(dirs):
        ps = pd.read_csv(d / "per_sample.csv", dtype={"id": str, "source_id": str})
        for split in ("csod-single", "csod-double", "csod-column", "nsod", "randocc"):
            delta, n = _loop_drop(ps, split)
            model = "box-noise1" if k == 0 else "box3d-noise6"
            row = re.search(rf"<tr><td>{model}</td><td>[^<]*</td><td>{n}</td><td>balanced</td>.*?</tr>", drops_html)
            assert row is not None
            assert f"{delta:.3f}" in drops_html, (split, delta)
    assert "paired" in drops_html and "seed 0" in drops_html and "resamples" in drops_html

    # covered fraction and occluder descriptors read from the store rows
    assert "[0.0, 0.1)" in _section(doc, "coverage")
    occ_html = _section(doc, "occluders")
    for title in ("NSOD occluder category", "CSOD occluder type", "CSOD occluder colour", "CSOD occluder brightness"):
        assert f"<h3>{title}</h3>" in occ_html
    assert "<td>household</td>" in occ_html and "<td>column</td>" in occ_html

    # per-landmark means of occluded points, against a loop over predictions and the stored ground truth
    gt = read_ground_truth(store, "csod-column")
    pred = read_predictions(dirs[0] / "predictions" / "csod-column.npz")
    row_of = {s: i for i, s in enumerate(pred.ids.tolist())}
    sums, counts = np.zeros(68), np.zeros(68)
    for i, sid in enumerate(gt.ids.tolist()):
        g, p = gt.landmarks[i], pred.landmarks[row_of[sid]]
        w = g[:, 0].max() - g[:, 0].min()
        h = g[:, 1].max() - g[:, 1].min()
        for j in range(68):
            if gt.occluded[i, j]:
                sums[j] += 100 * np.hypot(*(p[j, :2] - g[j, :2])) / np.sqrt(w * h)
                counts[j] += 1
    lm_html = _section(doc, "landmarks")
    table = re.search(r"the 68 points of box-noise1</summary>(.*?)</details>", lm_html, re.S)
    assert table is not None
    header = re.findall(r"<th>(.*?)</th>", table.group(1))
    col = header.index("CSOD column occ.")
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1))[1:]
    assert len(rows) == 68
    for j, r in enumerate(rows):
        cells = re.findall(r"<td>(.*?)</td>", r)
        want = "–" if counts[j] == 0 else f"{sums[j] / counts[j]:.3f}"
        assert cells[col] == want, (j, cells[col], want)
    assert lm_html.count("<circle") == 2 * 68 * (1 + 2 * 5)  # 2 models × (clean + occluded/visible of 5 splits)

    # worst samples: JPEGs at display size, one per model × split × rank
    jpegs = re.findall(r'<img alt="[^"]*" width="300" height="300" src="data:image/jpeg;base64,([^"]+)">', doc)
    assert len(jpegs) == 2 * 6 * WORST
    for b in jpegs[:3]:
        img = cv2.imdecode(np.frombuffer(base64.b64decode(b), np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (300, 300, 3)
    # small: inline SVG plots and display-size JPEGs, not full-size PNGs
    assert max(map(len, jpegs)) < 48_000 and len(doc) - sum(map(len, jpegs)) < 400_000, len(doc)

    # open it in Chromium: every image decodes, every plot has a size, every section is there
    seen = probe(out, tmp_path / "chrome")
    assert seen["broken"] == [] and seen["images"] == len(jpegs)
    assert seen["svgs"] == doc.count("<svg ") and seen["empty_svgs"] == 0
    assert seen["sections"] == keys and seen["title"] == "aflw-occ evaluation report"
    # the probe can fail: a page whose image does not decode is reported
    broken = tmp_path / "broken.html"
    broken.write_text(doc.replace(jpegs[0], "AAAA" + jpegs[0][40:], 1), encoding="utf-8")
    assert len(probe(broken, tmp_path / "chrome2")["broken"]) == 1


def test_report_progress_bar_and_missing_data(results: tuple[Path, list[Path]], tmp_path: Path, capsys) -> None:
    from aflw_occ.report import ReportOptions, build_report

    store, dirs = results
    moved = tmp_path / "moved"
    shutil.copytree(dirs[0], moved)
    meta = json.loads((moved / "meta.json").read_text())
    meta["data"] = str(tmp_path / "nowhere.h5")
    (moved / "meta.json").write_text(json.dumps(meta))
    out = build_report([moved], tmp_path / "r.html", options=ReportOptions(n_boot=50), progress=True)
    err = capsys.readouterr().err
    assert "report: 100%" in err
    doc = out.read_text()
    assert "nowhere.h5; give it with --data" in doc and "data:image/jpeg" not in doc
    assert "Per-landmark error" in doc and "its ground truth" in doc  # the section says why it is empty

    out2 = build_report([moved], tmp_path / "r2.html", data=store, options=ReportOptions(worst_k=1, n_boot=50))
    assert capsys.readouterr().err == ""  # no terminal: no bar
    assert out2.read_text().count("data:image/jpeg") == 6


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("manifest", "data has manifest"),
        ("no-per-sample", "per_sample.csv: per-sample table is missing"),
        ("out-is-dir", "cannot be written"),
    ],
)
def test_report_errors_are_one_line(results: tuple[Path, list[Path]], tmp_path: Path, case: str, message: str) -> None:
    store, dirs = results
    res = tmp_path / "res"
    shutil.copytree(dirs[0], res)
    out = tmp_path / "report.html"
    if case == "manifest":
        meta = json.loads((res / "meta.json").read_text())
        meta["manifest_sha256"] = "f" * 64
        (res / "meta.json").write_text(json.dumps(meta))
    elif case == "no-per-sample":
        (res / "per_sample.csv").unlink()
    else:
        out.mkdir()
    cmd = [EXE, "report", str(res), "--out", str(out), "--data", str(store), "--no-progress", "--n-boot", "20"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and message in proc.stderr
    assert not any(p.name.startswith(".report.html") for p in tmp_path.iterdir())  # nothing half-written


def test_report_of_results_on_a_source_folder(tmp_path: Path) -> None:
    """`evaluate --source` results (the clean split read from an AFLW2000-3D folder): the report draws from it."""
    from aflw_occ.demo import make_source
    from aflw_occ.report import ReportOptions

    src = make_source(tmp_path / "source", n=6, seed=5)
    res = tmp_path / "res"
    evaluate(_model(1.0, False), src, out_dir=res, n_boot=20, progress=False)
    code = (
        "import sys; from aflw_occ.report import ReportOptions, build_report; "
        f"build_report([{str(res)!r}], {str(tmp_path / 'r.html')!r}, options=ReportOptions(n_boot=20)); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)  # scoring and reporting never need torch
    doc = (tmp_path / "r.html").read_text()
    assert "No occluded split in these results." in doc
    assert doc.count("data:image/jpeg") == 4 and doc.count("<circle") == 68  # worst 4; the clean face
    with pytest.raises(AflwOccError, match="unknown ranking 'worst'"):
        ReportOptions(worst_by="worst")


def test_store_reads_every_rows_params_and_which_rows_are_unchanged(results: tuple[Path, list[Path]]) -> None:
    from aflw_occ.store import open_store

    store, _ = results
    with open_store(store) as st:
        for name in st.splits:
            sp = st.split(name)
            assert sp.all_params() == [sp.params(i) for i in range(len(sp))]
            same = sp.same_pixels_as_source()
            assert same.shape == (len(sp),)
            for i in range(len(sp)):  # against the pixels themselves
                src = st.split("clean").image(int(sp.source_index[i]))
                assert bool(same[i]) == bool(np.array_equal(sp.image(i), src))
            assert same.all() == (name == "clean")
