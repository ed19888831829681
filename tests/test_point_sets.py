"""The ``points`` convention (``68`` | ``inner-51``) of the sparse protocols: scoring, printing, evaluate and the
leaderboard."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from aflw_occ.groundtruth import GroundTruth
from aflw_occ.metrics.nme import POINT_SETS, bbox_size, masked_nme
from aflw_occ.predictions import Predictions
from aflw_occ.protocols import CONVENTIONS, Conventions, ScoringError
from aflw_occ.scoring import score


def _gt(n: int = 45, seed: int = 3, occluded: bool = True) -> GroundTruth:
    rng = np.random.default_rng(seed)
    lm = rng.uniform(150, 300, (n, 1, 3)) + rng.uniform(60, 160, (n, 1, 1)) * rng.uniform(-0.5, 0.5, (n, 68, 3))
    angles = np.stack([np.zeros(n), np.linspace(-80, 80, n), np.zeros(n)], axis=1)
    ids = np.array([f"s{i:03d}" for i in range(n)])
    occ = rng.uniform(size=(n, 68)) < 0.3 if occluded else None
    return GroundTruth(ids=ids, landmarks=lm, angles_deg=angles, occluded=occ, split="t", data_version="9.9.9-test")


def _pred(g: GroundTruth, jaw_noise: float = 12.0, inner_noise: float = 2.0) -> Predictions:
    rng = np.random.default_rng(1)
    lm = g.landmarks.copy()
    lm[:, :17, :2] += rng.normal(0, jaw_noise, (len(g), 17, 2))
    lm[:, 17:, :2] += rng.normal(0, inner_noise, (len(g), 51, 2))
    return Predictions(ids=g.ids, landmarks=lm, source="<test>")


def test_point_sets_are_named_subsets() -> None:
    assert POINT_SETS["68"].tolist() == list(range(68))
    assert POINT_SETS["inner-51"].tolist() == list(range(17, 68))
    spec = {c.field: c for c in CONVENTIONS}["points"]
    assert spec.choices == ("68", "inner-51") and spec.flag == "--points" and spec.default == "68"
    with pytest.raises(ScoringError, match="unknown points 'inner-50'"):
        Conventions(points="inner-50")  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["sparse-2d", "sparse-3d"])
def test_inner51_is_the_mean_over_points_17_67_with_the_68_point_normaliser(protocol: str) -> None:
    g = _gt()
    p = _pred(g)
    dims = 2 if protocol == "sparse-2d" else 3
    d = p.landmarks[..., :dims] - g.landmarks[..., :dims]
    if dims == 3:
        d[..., 2] -= d[..., 2].mean(axis=1, keepdims=True)
    e = np.sqrt((d**2).sum(-1)) / bbox_size(g.landmarks)[:, None]  # normalised by the 68-point box
    r68 = score(p, g, protocol, n_boot=20)
    r51 = score(p, g, protocol, n_boot=20, points="inner-51")
    col = "nme_sparse2d_original" if dims == 2 else "nme_sparse3d"
    np.testing.assert_allclose(r68.columns["nme"], 100 * e.mean(1), rtol=1e-12)
    np.testing.assert_allclose(r51.columns["nme"], 100 * e[:, 17:].mean(1), rtol=1e-12)
    assert r51.primary == col + "_inner51" and r68.primary == col
    assert r51["nme_plain"] < r68["nme_plain"]  # the jaw got the larger noise
    # occluded / visible NME under the convention use the flags of its own points only
    occ = np.asarray(g.occluded)
    np.testing.assert_allclose(r51.columns["nme_occluded"], 100 * masked_nme(e[:, 17:], occ[:, 17:]), rtol=1e-12)
    np.testing.assert_allclose(r51.columns["nme_visible"], 100 * masked_nme(e[:, 17:], ~occ[:, 17:]), rtol=1e-12)
    assert (r51.columns["n_occluded"] == occ[:, 17:].sum(1)).all()
    # printed with every number
    assert "points=68" in r68.header() and "points=inner-51" in r51.header()
    assert r51.to_dict()["conventions"]["points"] == "inner-51" and "points=inner-51" in r51.to_text()
    # the per-sample table carries both point sets, whatever was asked
    table = r68.per_sample_columns()
    np.testing.assert_allclose(table[col + "_inner51"], r51.columns["nme"], rtol=1e-12)


def test_other_protocols_do_not_read_the_convention() -> None:
    g = _gt()
    p = Predictions(ids=g.ids, landmarks=g.landmarks, angles_deg=g.angles_deg + 1.0, source="<t>")
    r = score(p, g, "pose", n_boot=10)
    assert "points" not in r.conventions and "points=" not in r.header()


def test_cli_score_points_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import aflw_occ.cli.score as cli_score
    from aflw_occ.cli import main
    from aflw_occ.predictions import write_predictions

    g = _gt(occluded=False)
    monkeypatch.setattr(cli_score, "load_ground_truth", lambda *a: g)
    f = write_predictions(tmp_path / "p.npz", g.ids, _pred(g).landmarks)
    monkeypatch.setattr(sys, "argv", ["aflw-occ", "score", str(f), "--source", str(tmp_path), "--points", "inner-51"])
    with pytest.raises(SystemExit) as exc:
        main()
        raise SystemExit(0)
    out = capsys.readouterr().out
    assert exc.value.code in (0, None)
    assert "protocol=sparse-2d gt=original yaw=pose-para bins=3ddfa points=inner-51" in out
    value = score(_pred(g), g, n_boot=1000, points="inner-51")["nme_balanced"]
    assert f"{value:.3f}" in out


def test_evaluate_scores_both_point_sets_and_the_leaderboard_shows_both(tmp_path: Path) -> None:
    import pandas as pd

    from aflw_occ.demo import make_source
    from aflw_occ.evaluate import evaluate
    from aflw_occ.leaderboard import leaderboard_markdown, load_results

    src = make_source(tmp_path / "src", n=12)

    def jittered(images, boxes):  # the tight-box centre with a face-sized spread: a poor, deterministic model
        rng = np.random.default_rng(len(boxes))
        c = (boxes.face[:, None, :2] + boxes.face[:, None, 2:]) / 2
        return c + rng.normal(0, 5, (len(boxes), 68, 2))

    res = evaluate(jittered, src, out_dir=tmp_path / "res", n_boot=30, progress=False)
    clean = res.splits["clean"]
    assert set(clean.scores) == {"sparse-2d", "sparse-2d points=inner-51"}
    assert clean.scores["sparse-2d points=inner-51"].conventions["points"] == "inner-51"
    scores = pd.read_csv(tmp_path / "res" / "scores.csv", dtype={"points": str})
    assert list(scores.columns[:5]) == ["box_protocol", "split", "protocol", "points", "metric"]
    assert set(scores["points"]) == {"68", "inner-51"} and set(scores["protocol"]) == {"sparse-2d"}
    r = load_results(tmp_path / "res")
    for points in ("68", "inner-51"):
        key = "sparse-2d" if points == "68" else "sparse-2d points=inner-51"
        assert r.value("clean", "nme_plain", points=points)[0] == pytest.approx(clean.scores[key]["nme_plain"])
    md = leaderboard_markdown([r])
    assert "Protocol sparse-2d points=68" in md and "Protocol sparse-2d points=inner-51" in md
    row = clean.scores["sparse-2d points=inner-51"].row("nme_balanced")
    inner_table = md.split("Protocol sparse-2d points=inner-51")[1].split("\n\n")[1]
    assert f"| jittered | {row.value:.3f} [{row.ci_low:.2f}, {row.ci_high:.2f}] |" in inner_table
    per = pd.read_csv(tmp_path / "res" / "per_sample.csv")
    assert "nme_sparse2d_original_inner51" in per.columns
