"""``aflw_occ.scoring.score`` and ``aflw-occ score``: fabricated predictions against real and synthetic ground
truth, checked against independent loop computations written here."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aflw_occ.errors import PredictionError
from aflw_occ.groundtruth import GroundTruth
from aflw_occ.predictions import Predictions, read_predictions, write_predictions
from aflw_occ.scoring import DenseGroundTruth, ScoringError, compare, score
from aflw_occ.store import read_ground_truth

# Independent references -----------------------------------------------------------------------------------------


def _loop_nme(pred: np.ndarray, gt: np.ndarray, dims: int = 2) -> np.ndarray:
    out = []
    for p_img, g_img in zip(pred, gt, strict=True):
        w = g_img[:, 0].max() - g_img[:, 0].min()
        h = g_img[:, 1].max() - g_img[:, 1].min()
        if dims == 3:
            p_img = p_img - np.array([0, 0, p_img[:, 2].mean()])
            g_img = g_img - np.array([0, 0, g_img[:, 2].mean()])
        d = [math.dist(a[:dims], b[:dims]) for a, b in zip(p_img, g_img, strict=True)]
        out.append(sum(d) / len(d) / math.sqrt(w * h))
    return np.array(out)


def _loop_bins(yaw: np.ndarray) -> list[int]:
    return [0 if abs(y) <= 30 else (1 if abs(y) <= 60 else 2) for y in yaw]


def _loop_summary(nme: np.ndarray, yaw: np.ndarray) -> dict[str, float]:
    bins = _loop_bins(yaw)
    means = []
    for b in range(3):
        vals = [v for v, bi in zip(nme, bins, strict=True) if bi == b]
        means.append(100 * sum(vals) / len(vals))
    return {
        "nme_0_30": means[0],
        "nme_30_60": means[1],
        "nme_60_plus": means[2],
        "nme_balanced": sum(means) / 3,
        "nme_plain": 100 * float(np.mean(nme)),
        "auc_7": float(np.mean([max(0.0, 0.07 - e) / 0.07 for e in nme])),
        "auc_10": float(np.mean([max(0.0, 0.10 - e) / 0.10 for e in nme])),
        "failure_10": 100 * sum(1 for e in nme if e > 0.10) / len(nme),
    }


def _synthetic_gt(n: int = 60, seed: int = 0, occluded: bool = True) -> GroundTruth:
    rng = np.random.default_rng(seed)
    centre = rng.uniform(150, 300, size=(n, 1, 3))
    lm = centre + rng.uniform(60, 160, size=(n, 1, 1)) * rng.uniform(-0.5, 0.5, size=(n, 68, 3))
    angles = np.stack([rng.uniform(-40, 40, n), np.linspace(-95, 95, n), rng.uniform(-30, 30, n)], axis=1)
    angles[0] = [120.0, 10.0, 0.0]  # excluded from pose MAE
    occ = None
    if occluded:
        occ = rng.uniform(size=(n, 68)) < 0.3
        occ[1] = False  # a sample with no occluded landmark
        occ[2] = True  # a sample with no visible landmark
    ids = np.array([f"s{i:04d}" for i in range(n)])
    return GroundTruth(
        ids=ids,
        landmarks=lm,
        angles_deg=angles,
        reannotated=lm[..., :2] + 1.5,
        occluded=occ,
        source_ids=ids.copy(),
        split="csod-test",
        data_version="9.9.9-test",
        provenance={"store": "synthetic", "manifest_sha256": "abc123"},
    )


@pytest.fixture(scope="module")
def gt_real(real_dataset) -> GroundTruth:
    return GroundTruth.from_source(real_dataset)


@pytest.fixture(scope="module")
def noisy_real(gt_real: GroundTruth, tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    lm = gt_real.landmarks + rng.normal(0, 2.5, gt_real.landmarks.shape)
    ang = gt_real.angles_deg + rng.normal(0, 4, (len(gt_real), 3))
    path = tmp_path_factory.mktemp("pred") / "noisy.npz"
    write_predictions(path, gt_real.ids, lm, angles_deg=ang)
    return path, lm, ang


# Real data --------------------------------------------------------------------------------------------------------


@pytest.mark.real
def test_ground_truth_against_itself(gt_real: GroundTruth, tmp_path: Path) -> None:
    path = write_predictions(tmp_path / "gt.npz", gt_real.ids, gt_real.landmarks, angles_deg=gt_real.angles_deg)
    r = score(path, gt_real, n_boot=50)
    for key in ("nme_0_30", "nme_30_60", "nme_60_plus", "nme_balanced", "nme_plain", "failure_10"):
        assert r[key] == 0.0
    assert r["auc_7"] == 1.0 and r["auc_10"] == 1.0
    assert [r.row(k).n for k in ("nme_0_30", "nme_30_60", "nme_60_plus")] == [1312, 383, 305]
    assert score(path, gt_real, protocol="sparse-3d", n_boot=10)["nme_balanced"] == 0.0
    pose = score(path, gt_real, protocol="pose", n_boot=10)
    assert pose["mae_mean"] == 0.0 and pose.row("mae_mean").n == 1969


@pytest.mark.real
def test_noisy_predictions_match_loop(gt_real: GroundTruth, noisy_real) -> None:
    path, lm, ang = noisy_real
    yaw = gt_real.angles_deg[:, 1]
    r = score(path, gt_real, n_boot=200)
    ref = _loop_summary(_loop_nme(lm, gt_real.landmarks), yaw)
    for key, value in ref.items():
        assert r[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    for key in ("nme_0_30", "nme_balanced", "nme_plain"):
        row = r.row(key)
        assert row.ci_low < row.value < row.ci_high
    assert r.headline == "nme_balanced"
    assert r.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()

    re = score(path, gt_real, gt="reannotated", n_boot=20)
    ref = _loop_summary(_loop_nme(lm, gt_real.reannotated), yaw)
    assert re["nme_balanced"] == pytest.approx(ref["nme_balanced"], rel=1e-9)

    r3 = score(path, gt_real, protocol="sparse-3d", n_boot=20)
    ref = _loop_summary(_loop_nme(lm[:300], gt_real.landmarks[:300], dims=3), yaw[:300])
    df = r3.per_sample()
    np.testing.assert_allclose(df["nme"].to_numpy()[:300] / 100, _loop_nme(lm[:300], gt_real.landmarks[:300], 3))

    pose = score(path, gt_real, protocol="pose", n_boot=20)
    sel = [i for i in range(len(gt_real)) if np.all(np.abs(gt_real.angles_deg[i]) <= 99)]
    errs = [[abs((ang[i, j] - gt_real.angles_deg[i, j] + 180) % 360 - 180) for i in sel] for j in range(3)]
    for j, name in enumerate(("pitch", "yaw", "roll")):
        assert pose[f"mae_{name}"] == pytest.approx(np.mean(errs[j]), rel=1e-9)
    assert pose["mae_mean"] == pytest.approx(np.mean([np.mean(e) for e in errs]), rel=1e-9)


@pytest.mark.real
def test_order_and_seed_determinism(gt_real: GroundTruth, noisy_real) -> None:
    path, lm, ang = noisy_real
    perm = np.random.default_rng(3).permutation(len(gt_real))
    shuffled = Predictions(ids=gt_real.ids[perm], landmarks=lm[perm], angles_deg=ang[perm])
    a = score(path, gt_real, n_boot=100, seed=5).to_dict()["metrics"]
    b = score(shuffled, gt_real, n_boot=100, seed=5).to_dict()["metrics"]
    assert a == b  # bit-identical numbers whatever the row order of the file
    c = score(path, gt_real, n_boot=100, seed=6).to_dict()["metrics"]
    assert c["nme_balanced"]["value"] == a["nme_balanced"]["value"]
    assert c["nme_balanced"]["ci_low"] != a["nme_balanced"]["ci_low"]


@pytest.mark.real
def test_missing_ids(gt_real: GroundTruth, noisy_real, tmp_path: Path) -> None:
    _, lm, _ = noisy_real
    keep = np.ones(len(gt_real), dtype=bool)
    keep[[0, 5, 17, 100, 1999]] = False
    path = write_predictions(tmp_path / "part.npz", gt_real.ids[keep], lm[keep])
    with pytest.raises(PredictionError) as exc:
        score(path, gt_real)
    assert str(path) in str(exc.value) and "5 id(s)" in str(exc.value) and gt_real.ids[0] in str(exc.value)
    r = score(path, gt_real, allow_missing=True, n_boot=20)
    assert r.n_scored == 1995 and r.n_missing == 5
    assert r.missing_ids == gt_real.ids[~keep].tolist()
    assert "1995 scored, 5 missing" in r.to_text()
    ref = _loop_summary(_loop_nme(lm[keep], gt_real.landmarks[keep]), gt_real.angles_deg[keep, 1])
    assert r["nme_balanced"] == pytest.approx(ref["nme_balanced"], rel=1e-9)
    df = r.per_sample()
    assert len(df) == 2000 and int(df["missing"].sum()) == 5 and df.loc[df["missing"], "nme"].isna().all()


@pytest.mark.real
def test_compare(gt_real: GroundTruth, noisy_real, tmp_path: Path) -> None:
    path, lm, _ = noisy_real
    worse = write_predictions(tmp_path / "worse.npz", gt_real.ids, lm + np.array([1.0, 0.0, 0.0]))
    same = compare(path, path, gt_real, n_boot=100)
    assert same.difference == 0 and same.p_value == 1.0
    c = compare(worse, path, gt_real, n_boot=200)
    ra, rb = score(worse, gt_real, n_boot=1), score(path, gt_real, n_boot=1)
    assert c.difference == pytest.approx(ra["nme_balanced"] - rb["nme_balanced"], rel=1e-9)
    assert c.difference > 0 and c.ci_low > 0 and c.p_value < 0.01


# Synthetic ground truth -------------------------------------------------------------------------------------------


def test_occluded_and_visible_landmarks() -> None:
    g = _synthetic_gt()
    rng = np.random.default_rng(1)
    lm = g.landmarks + rng.normal(0, 3, g.landmarks.shape)
    r = score(Predictions(ids=g.ids, landmarks=lm), g, n_boot=50)
    df = r.per_sample()
    occ = g.occluded
    assert occ is not None
    for i in range(len(g)):
        w = np.ptp(g.landmarks[i, :, 0])
        h = np.ptp(g.landmarks[i, :, 1])
        errs = [math.dist(lm[i, k, :2], g.landmarks[i, k, :2]) / math.sqrt(w * h) for k in range(68)]
        o = [e for e, f in zip(errs, occ[i], strict=True) if f]
        v = [e for e, f in zip(errs, occ[i], strict=True) if not f]
        for col, vals in (("nme_occluded", o), ("nme_visible", v)):
            got = df[col].iloc[i]
            if vals:
                assert got == pytest.approx(100 * sum(vals) / len(vals), rel=1e-9)
            else:
                assert math.isnan(got)
        assert df["n_occluded"].iloc[i] == len(o)
    assert r.row("nme_occluded_plain").n == len(g) - 1
    assert r["nme_occluded_plain"] == pytest.approx(df["nme_occluded"].mean(), rel=1e-9)
    assert r["nme_visible_plain"] == pytest.approx(df["nme_visible"].mean(), rel=1e-9)
    text = r.to_text()
    assert "data=9.9.9-test" in text and "manifest_sha256=abc123" in text and "split=csod-test" in text
    assert list(df.columns[:6]) == ["id", "split", "yaw_deg", "yaw_bin", "bin_label", "nme"]
    assert (df["split"] == "csod-test").all()


def test_ced_of_result() -> None:
    g = _synthetic_gt(n=40, occluded=False)
    lm = g.landmarks + np.random.default_rng(6).normal(0, 4, g.landmarks.shape)
    r = score(Predictions(ids=g.ids, landmarks=lm), g, n_boot=10)
    t, f = r.ced(cutoff=0.1, n_points=11)
    e = _loop_nme(lm, g.landmarks)
    assert f.tolist() == [sum(1 for x in e if x <= ti) / 40 for ti in t]
    with pytest.raises(ScoringError):
        score(Predictions(ids=g.ids, angles_deg=g.angles_deg), g, protocol="pose", n_boot=10).ced()


def test_dense_protocol(tmp_path: Path) -> None:
    g = _synthetic_gt(n=12, occluded=False)
    rng = np.random.default_rng(2)
    dense_gt = rng.uniform(100, 300, size=(12, 200, 3))
    pred = dense_gt + rng.normal(0, 2, dense_gt.shape)
    np.savez(tmp_path / "dense_gt.npz", ids=g.ids, points=dense_gt)
    path = write_predictions(tmp_path / "dense.npz", g.ids, None, dense=pred)
    r = score(path, g, protocol="dense", dense_gt=tmp_path / "dense_gt.npz", n_boot=20)
    assert r.headline == "nme_plain"
    assert r["nme_plain"] == pytest.approx(100 * np.mean(_loop_nme(pred, dense_gt, dims=3)), rel=1e-9)
    with pytest.raises(ScoringError, match="needs dense ground truth"):
        score(path, g, protocol="dense")
    np.savez(tmp_path / "short.npz", ids=g.ids[:-1], points=dense_gt[:-1])
    with pytest.raises(ScoringError, match=f"no entry for id {g.ids[-1]}"):
        score(path, g, protocol="dense", dense_gt=tmp_path / "short.npz")
    with pytest.raises(PredictionError, match="200 points per sample"):
        score(path, g, protocol="dense", dense_gt=DenseGroundTruth(ids=g.ids, points=dense_gt[:, :150]))


def test_protocol_requirements(tmp_path: Path) -> None:
    g = _synthetic_gt(n=10, occluded=False)
    p2 = write_predictions(tmp_path / "p2.npz", g.ids, g.landmarks[..., :2])
    with pytest.raises(PredictionError, match=r"p2.npz: landmarks are 2D .* sparse-3d"):
        score(p2, g, protocol="sparse-3d")
    with pytest.raises(PredictionError, match="has no angles_deg"):
        score(p2, g, protocol="pose")
    with pytest.raises(PredictionError, match="has no dense points"):
        score(p2, g, protocol="dense")
    with pytest.raises(ScoringError, match="unknown protocol"):
        score(p2, g, protocol="nme")
    with pytest.raises(ScoringError, match="seed must be"):
        score(p2, g, seed=-1)
    with pytest.raises(ScoringError, match="confidence level"):
        score(p2, g, level=95)
    p3 = write_predictions(tmp_path / "p3.npz", g.ids, g.landmarks)
    with pytest.raises(ScoringError, match="2D only"):
        score(p3, g, protocol="sparse-3d", gt="reannotated")
    bare = GroundTruth(ids=g.ids, landmarks=g.landmarks, angles_deg=g.angles_deg)
    with pytest.raises(ScoringError, match="no re-annotated landmarks"):
        score(p2, bare, gt="reannotated")
    unknown = write_predictions(tmp_path / "u.npz", np.array([*g.ids[:-1], "zzz"]), g.landmarks)
    with pytest.raises(PredictionError, match=r"u.npz: id zzz is not in the ground truth \(split=csod-test\)"):
        score(unknown, g, allow_missing=True)


def test_json_has_no_nan_and_states_provenance() -> None:
    g = _synthetic_gt(n=20)
    g = GroundTruth(
        ids=g.ids, landmarks=g.landmarks, angles_deg=np.zeros((20, 3)), occluded=g.occluded, split="x"
    )  # every image in bin [0,30]: the other bins are empty
    r = score(Predictions(ids=g.ids, landmarks=g.landmarks + 1), g, n_boot=20)
    d = json.loads(r.to_json())
    assert d["metrics"]["nme_30_60"]["value"] is None and d["metrics"]["nme_balanced"]["value"] is None
    assert d["protocol"] == "sparse-2d" and d["predictions"]["sha256"].startswith("in-memory:")
    assert d["bootstrap"]["scheme"] == "resampling stratified by yaw bin"
    assert r.summary().attrs["protocol"] == "sparse-2d"


# Command line -----------------------------------------------------------------------------------------------------


def _cli(args: list[str]):
    from aflw_occ.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=True)


def test_cli_with_synthetic_ground_truth(tmp_path: Path, monkeypatch) -> None:
    import aflw_occ.cli.score as cli_score

    g = _synthetic_gt()
    monkeypatch.setattr(cli_score, "load_ground_truth", lambda *a: g)
    lm = g.landmarks + np.random.default_rng(0).normal(0, 2, g.landmarks.shape)
    pred = write_predictions(tmp_path / "p.csv", g.ids, lm)
    sha = hashlib.sha256(pred.read_bytes()).hexdigest()
    res = _cli(["score", str(pred), "--source", str(tmp_path), "--n-boot", "30", "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 0, res.output
    assert f"sha256={sha}" in res.output and "protocol=sparse-2d gt=original" in res.output
    assert "data=9.9.9-test" in res.output and "60 scored, 0 missing" in res.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "o.csv")
    expected = score(read_predictions(pred), g, n_boot=30).per_sample()
    assert list(table.columns) == list(expected.columns) and len(table) == 60
    for col in expected.columns:
        if expected[col].dtype.kind == "f":
            np.testing.assert_array_equal(table[col].to_numpy(), expected[col].to_numpy())  # exact, NaN = NaN
        else:
            assert table[col].astype(str).tolist() == expected[col].astype(str).tolist(), col
    assert table["nme_occluded"].isna().sum() == 1 and table["nme_visible"].isna().sum() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv", "o.csv.json", "p.csv"]
    meta = json.loads((tmp_path / "o.csv.json").read_text())
    assert meta["predictions"]["sha256"] == sha and meta["data_version"] == "9.9.9-test"
    res = _cli(["score", str(pred), "--source", str(tmp_path), "--n-boot", "30", "--json", "--seed", "3"])
    d = json.loads(res.output)
    ref = score(read_predictions(pred), g, n_boot=30, seed=3).to_dict()
    assert d["metrics"] == ref["metrics"] and d["predictions"]["sha256"] == sha
    other = write_predictions(tmp_path / "q.npz", g.ids, lm + np.array([0.5, 0.0, 0.0]))
    res = _cli(["score", str(pred), "--source", str(tmp_path), "--n-boot", "30", "--compare", str(other)])
    assert res.exit_code == 0, res.output
    c = compare(pred, other, g, n_boot=30)
    assert f"Δ = {c.difference:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}], p = {c.p_value:.4f}" in res.output
    assert c.difference < 0
    res = _cli(["score", str(pred), "--source", str(tmp_path), "--data", "x.h5"])
    assert res.exit_code == 2 and "exactly one of --source" in res.output
    res = _cli(["score", str(pred), "--data", "x.h5", "--eval-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--eval-dir applies to --source only" in res.output
    res = _cli(["score", str(pred), "--source", str(tmp_path), "--split", "csod-single"])
    assert res.exit_code == 2 and "only the clean split" in res.output


def test_cli_dense(tmp_path: Path, monkeypatch) -> None:
    import aflw_occ.cli.score as cli_score

    g = _synthetic_gt(n=8, occluded=False)
    monkeypatch.setattr(cli_score, "load_ground_truth", lambda *a: g)
    rng = np.random.default_rng(5)
    dense_gt = rng.uniform(100, 300, size=(8, 50, 3))
    np.savez(tmp_path / "dgt.npz", ids=g.ids, points=dense_gt)
    pred = write_predictions(tmp_path / "d.h5", g.ids, None, dense=dense_gt + rng.normal(0, 1, dense_gt.shape))
    args = ["score", str(pred), "--source", str(tmp_path), "--protocol", "dense", "--json", "--n-boot", "20"]
    res = _cli([*args, "--dense-gt", str(tmp_path / "dgt.npz")])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    ref = _loop_nme(read_predictions(pred).dense, dense_gt, dims=3)
    assert d["headline"] == "nme_plain" and d["gt"] == "dense"
    assert d["metrics"]["nme_plain"]["value"] == pytest.approx(100 * ref.mean(), rel=1e-9)
    res = _cli(args)
    assert isinstance(res.exception, ScoringError)


def test_cli_bad_file_is_one_line_error(tmp_path: Path) -> None:
    g = _synthetic_gt(n=4, occluded=False)
    ids = np.array([g.ids[0], g.ids[1], g.ids[1], g.ids[3]])
    np.savez(tmp_path / "dup.npz", ids=ids, landmarks=g.landmarks, format_version=1)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from aflw_occ.cli import main; main()",
            "score",
            str(tmp_path / "dup.npz"),
            "--source",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'dup.npz'}: duplicate id {g.ids[1]} (rows 1 and 2)"


@pytest.mark.real
def test_cli_end_to_end_never_imports_torch_or_pandas(
    real_source: Path, real_eval_dir: Path, noisy_real, tmp_path: Path
) -> None:
    path, _, _ = noisy_real
    code = (
        "import sys\n"
        "from aflw_occ.cli import main\n"
        "try:\n    main()\nfinally:\n"
        "    sys.stderr.write('MODULES torch=%s pandas=%s' % ('torch' in sys.modules, 'pandas' in sys.modules))\n"
    )
    env = {**os.environ, "AFLW_OCC_SHARED": str(real_source.parent.parent)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "score",
            str(path),
            "--source",
            str(real_source),
            "--eval-dir",
            str(real_eval_dir),
            "--n-boot",
            "100",
            "--gt",
            "reannotated",
            "--out",
            str(tmp_path / "ps.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "MODULES torch=False pandas=False" in proc.stderr
    assert "protocol=sparse-2d gt=reannotated" in proc.stdout and "2000 scored, 0 missing" in proc.stdout
    assert f"eval_dir={real_eval_dir.resolve()}" in proc.stdout
    lines = (tmp_path / "ps.csv").read_text().splitlines()
    assert len(lines) == 2001 and lines[0].startswith("id,split,yaw_deg,yaw_bin,bin_label,nme,")


def test_cli_data_occluded_split(tiny_store: Path, tmp_path: Path) -> None:
    g = read_ground_truth(tiny_store, "csod-single")
    assert g.occluded is not None and g.occluded.any()
    lm = g.landmarks + np.random.default_rng(4).normal(0, 2, g.landmarks.shape)
    pred = write_predictions(tmp_path / "occ.npz", g.ids, lm)
    res = _cli(["score", str(pred), "--data", str(tiny_store), "--split", "csod-single", "--json", "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["split"] == "csod-single" and d["data_version"] == "2.0.0"
    assert d["provenance"]["manifest_sha256"] and d["n_scored"] == len(g)
    occ_err, vis_err = [], []
    for i in range(len(g)):
        box = math.sqrt(np.ptp(g.landmarks[i, :, 0]) * np.ptp(g.landmarks[i, :, 1]))
        errs = [math.dist(lm[i, k, :2], g.landmarks[i, k, :2]) / box for k in range(68)]
        o = [e for e, f in zip(errs, g.occluded[i], strict=True) if f]
        v = [e for e, f in zip(errs, g.occluded[i], strict=True) if not f]
        if o:
            occ_err.append(sum(o) / len(o))
        if v:
            vis_err.append(sum(v) / len(v))
    assert d["metrics"]["nme_occluded_plain"]["value"] == pytest.approx(100 * np.mean(occ_err), rel=1e-9)
    assert d["metrics"]["nme_visible_plain"]["value"] == pytest.approx(100 * np.mean(vis_err), rel=1e-9)
    text = _cli(["score", str(pred), "--data", str(tiny_store), "--split", "csod-single", "--n-boot", "20"]).output
    assert "split=csod-single data=2.0.0" in text and "manifest_sha256=" in text
    clean = _cli(["score", str(pred), "--data", str(tiny_store), "--split", "clean", "--n-boot", "20"])
    assert clean.exit_code != 0 and isinstance(clean.exception, PredictionError)


# Protocol objects, conventions and the prediction contract --------------------------------------------------------


def test_dense_2d_protocol() -> None:
    g = _synthetic_gt(n=12, occluded=False)
    rng = np.random.default_rng(12)
    dense_gt = rng.uniform(100, 300, size=(12, 120, 3))
    pred = dense_gt + rng.normal(0, 2, dense_gt.shape)
    r = score(
        Predictions(ids=g.ids, dense=pred),
        g,
        protocol="dense-2d",
        dense_gt=DenseGroundTruth(ids=g.ids, points=dense_gt),
        n_boot=10,
    )
    assert r.headline == "nme_plain" and r.gt == "dense"
    assert r["nme_plain"] == pytest.approx(100 * np.mean(_loop_nme(pred, dense_gt, dims=2)), rel=1e-9)
    df = r.per_sample()
    assert "nme_dense2d" in df.columns and "nme_dense" in df.columns  # the other dense protocol, lazily


def test_conventions_are_named_everywhere() -> None:
    g = _synthetic_gt(n=30, occluded=False)
    ang = g.angles_deg + np.random.default_rng(1).normal(0, 3, (30, 3))
    ang[3, 1] += 360.0  # one gross wrapped error
    p = Predictions(ids=g.ids, landmarks=g.landmarks, angles_deg=ang, pose_decoding="synergynet")
    wrapped = score(p, g, protocol="pose", n_boot=5)
    raw = score(p, g, protocol="pose", pose_mae="raw", n_boot=5)
    assert raw["mae_yaw"] > wrapped["mae_yaw"] + 5
    assert "decoding=as-given (synergynet, stated in file) mae=raw" in raw.header()
    assert all("mae=raw" in row.label for row in raw.rows)
    assert raw.to_dict()["conventions"] == {"mae": "raw", "decoding": "as-given (synergynet, stated in file)"}
    s = score(p, g, n_boot=5, bins="sadrnet")
    assert "protocol=sparse-2d gt=original yaw=pose-para bins=sadrnet" in s.header()
    assert "1-based" in s.to_text().splitlines()[1]
    with pytest.raises(ScoringError, match="unknown bins 'sadr'"):
        score(p, g, bins="sadr")
    with pytest.raises(ScoringError, match="has no AFLW yaw labels"):
        score(p, g, yaw_source="aflw-labels")
    with pytest.raises(PredictionError, match="has no rotation"):
        score(p, g, protocol="pose", pose_decoding="synergynet")


def test_origin_slip_warning() -> None:
    g = _synthetic_gt(n=40, occluded=False)
    noise = np.random.default_rng(2).normal(0, 1.5, g.landmarks.shape)
    assert score(Predictions(ids=g.ids, landmarks=g.landmarks + noise), g, n_boot=5).warnings == []
    slipped = g.landmarks + noise
    slipped[..., :2] -= 1.0  # 0-based coordinates against the 1-based ground truth
    r = score(Predictions(ids=g.ids, landmarks=slipped), g, n_boot=5)
    assert len(r.warnings) == 1 and "pixel-origin slip" in r.warnings[0] and "add 1" in r.warnings[0]
    assert "# warning: mean landmark offset" in r.to_text()


def test_implied_ids_follow_the_release_order() -> None:
    g = _synthetic_gt(n=20, occluded=False)
    lm = g.landmarks + np.random.default_rng(3).normal(0, 2, g.landmarks.shape)
    order = np.argsort(g.ids)
    bare = Predictions(ids=None, landmarks=lm[order].transpose(0, 2, 1))  # (N, 3, 68), sorted order, no ids
    a = score(bare, g, n_boot=20).to_dict()
    b = score(Predictions(ids=g.ids, landmarks=lm), g, n_boot=20).to_dict()
    assert a["metrics"] == b["metrics"]
    assert any("ids implied" in n for n in a["notes"])
    with pytest.raises(PredictionError, match="19 rows without ids"):
        score(Predictions(ids=None, landmarks=lm[:19]), g)


def test_a_new_convention_is_one_class() -> None:
    from aflw_occ import protocols
    from aflw_occ.metrics.nme import nme_from_point_errors, point_errors

    @protocols.register
    class Sparse2DMedian(protocols.Sparse2D):
        """Median point error instead of the mean (an example convention)."""

        name = "sparse-2d-median"
        description = "median over the 68 points of ‖p̂ − p‖ / √(w·h)"
        column = "nme_sparse2d_median"

        def column_name(self, conv: protocols.Conventions) -> str:
            return self.column

        def per_image(self, a: protocols.Aligned, conv: protocols.Conventions) -> protocols.PerImage:
            e = point_errors(a.landmarks, a.gt_rows(a.gt.landmarks), dims=2)
            return protocols.PerImage(errors=np.median(e, axis=1), point_errors=e)

    try:
        g = _synthetic_gt(n=30, occluded=False)
        lm = g.landmarks + np.random.default_rng(4).normal(0, 2, g.landmarks.shape)
        r = score(Predictions(ids=g.ids, landmarks=lm), g, protocol="sparse-2d-median", n_boot=5)
        e = point_errors(lm, g.landmarks, dims=2)
        assert r["nme_plain"] == pytest.approx(100 * np.median(e, axis=1).mean(), rel=1e-12)
        assert r["nme_plain"] < 100 * nme_from_point_errors(e).mean()
        assert "nme_sparse2d_median" in r.per_sample().columns
        # the sparse-2d result now carries the new protocol's column in its table too
        assert "nme_sparse2d_median" in score(Predictions(ids=g.ids, landmarks=lm), g, n_boot=5).per_sample()
    finally:
        protocols._REGISTRY.pop("sparse-2d-median")


@pytest.mark.parametrize(
    "make, extra, message",
    [
        (lambda d: np.save(d / "p.npy", np.zeros((4, 136))), [], "p.npy: a .npy prediction file holds one landmark"),
        (
            lambda d: np.save(d / "p.npy", np.zeros((4, 3, 68))),
            ["--crop-boxes", "{d}/none.npy"],
            "none.npy: crop-box file does not exist",
        ),
        (
            lambda d: np.savez(d / "p.npz", ids=np.array(["a"]), rotation=np.eye(3)[None]),
            ["--protocol", "pose"],
            "p.npz: has no angles_deg (protocol pose needs them) (it holds rotation: choose --pose-decoding",
        ),
    ],
)
def test_cli_new_input_errors_are_one_line(
    tmp_path: Path, make: Callable[[Path], None], extra: list[str], message: str
) -> None:
    make(tmp_path)
    pred = next(tmp_path.glob("p.*"))
    args = [a.format(d=tmp_path) for a in extra]
    proc = subprocess.run(
        [sys.executable, "-c", "from aflw_occ.cli import main; main()", "score", str(pred), "--source", str(tmp_path)]
        + args,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
