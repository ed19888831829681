"""What :func:`~aflw_occ.evaluation.evaluate` produces: per-split predictions and scores (:class:`SplitResult`,
:class:`EvaluationResult`), how a split is scored, and the results folder (:func:`write_results`, all or nothing)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..groundtruth import GroundTruth

RESULT_FILES = ("meta.json", "scores.csv", "per_sample.csv")


@dataclass
class SplitResult:
    """Predictions and scores of one split (``scores``: protocol name → ``aflw_occ.scoring.ScoreResult``)."""

    split: str
    ids: np.ndarray
    landmarks: np.ndarray
    angles_deg: np.ndarray | None
    dense: np.ndarray | None
    ground_truth: GroundTruth
    scores: dict[str, Any] = field(default_factory=dict)
    pose_decoding: str | None = None

    @property
    def score(self) -> Any:
        """The sparse-2d result (the field's default protocol)."""
        return self.scores.get("sparse-2d") or next(iter(self.scores.values()))


@dataclass
class EvaluationResult:
    """Everything ``evaluate`` produced, split by split.

    ``weights_sha256``: the identity of the model's weights when its adapter states one (the sha256 of the original
    checkpoint; see README, *Model names*), else empty.
    """

    model: str
    data: str
    data_version: str
    manifest_sha256: str
    splits: dict[str, SplitResult] = field(default_factory=dict)
    seconds: float = 0.0
    out_dir: Path | None = None
    weights_sha256: str = ""

    def _frames(self, what: str) -> Any:
        import pandas as pd

        frames = []
        for name, res in self.splits.items():
            for proto, sc in res.scores.items():
                df = getattr(sc, what)().copy()
                df = df.drop(columns=[c for c in ("split", "protocol") if c in df.columns])
                df.insert(0, "protocol", proto)
                df.insert(0, "split", name)
                frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> Any:
        """Every split × protocol's reported numbers in one DataFrame (``split``, ``protocol`` first)."""
        return self._frames("summary")

    def per_sample(self) -> Any:
        """The sparse-2d per-sample tables of every split in one DataFrame (column ``split`` first)."""
        import pandas as pd

        frames = []
        for name, res in self.splits.items():
            df = res.score.per_sample().copy()
            if "split" in df.columns:
                df = df.drop(columns="split")
            df.insert(0, "split", name)
            frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def default_protocols(requested: str | Sequence[str] | None, dims: int, has_pose: bool) -> list[str]:
    """The requested protocols, else every protocol evaluated by default that applies to the output."""
    if requested is not None:
        return [requested] if isinstance(requested, str) else list(requested)
    from ..protocols import REGISTRY

    return [p.name for p in REGISTRY.values() if p.evaluated_by_default and p.applies(dims, has_pose, False)]


def score_split(
    res: SplitResult, model: str, protocols: str | Sequence[str] | None, *, seed: int, n_boot: int
) -> SplitResult:
    """Score one split's predictions under each protocol (into ``res.scores``); returns ``res``."""
    from ..predictions import Predictions
    from ..scoring import score

    preds = Predictions(
        ids=res.ids,
        landmarks=res.landmarks,
        angles_deg=res.angles_deg,
        dense=res.dense,
        source=f"<{model}:{res.split}>",
        pose_decoding=res.pose_decoding,
    )
    for proto in default_protocols(protocols, res.landmarks.shape[2], res.angles_deg is not None):
        res.scores[proto] = score(preds, res.ground_truth, protocol=proto, seed=seed, n_boot=n_boot)
    return res


def write_results(result: EvaluationResult, out_dir: Path, *, model_spec: str | None, seed: int) -> None:
    """Write a results folder all-or-nothing: everything goes to a temporary sibling first, then moved in.

    Files: ``predictions/<split>.npz`` (the prediction-file format), ``scores.csv``, ``per_sample.csv``,
    ``meta.json``; prediction files of splits this run did not evaluate are removed (another run's results).
    """
    from ..predictions import write_predictions

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        (tmp / "predictions").mkdir(parents=True)
        for s, res in result.splits.items():
            write_predictions(
                tmp / "predictions" / f"{s}.npz",
                res.ids,
                res.landmarks,
                angles_deg=res.angles_deg,
                dense=res.dense,
                pose_decoding=res.pose_decoding,
            )
        result.summary().to_csv(tmp / "scores.csv", index=False)
        result.per_sample().to_csv(tmp / "per_sample.csv", index=False)
        (tmp / "meta.json").write_text(json.dumps(_meta(result, model_spec, seed), indent=2) + "\n")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "predictions").mkdir(exist_ok=True)
        written = {f.name for f in (tmp / "predictions").iterdir()}
        for f in sorted((tmp / "predictions").iterdir()):
            os.replace(f, out_dir / "predictions" / f.name)
        for stale in (out_dir / "predictions").glob("*.npz"):  # an earlier run's splits: not this model's results
            if stale.name not in written:
                stale.unlink()
        for f in RESULT_FILES:
            os.replace(tmp / f, out_dir / f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _meta(result: EvaluationResult, model_spec: str | None, seed: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"model": result.model, "model_spec": model_spec}
    if result.weights_sha256:
        meta["weights_sha256"] = result.weights_sha256
    return meta | {
        "data": result.data,
        "data_version": result.data_version,
        "manifest_sha256": result.manifest_sha256,
        "splits": list(result.splits),
        "protocols": {s: list(r.scores) for s, r in result.splits.items()},
        "seed": seed,
        "n": {s: len(r.ids) for s, r in result.splits.items()},
        "seconds": round(result.seconds, 3),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
