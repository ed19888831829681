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

from ..detection.scoring import detection_rows
from ..groundtruth import GroundTruth
from ..metrics.bins import yaw_bins
from ..metrics.table import table_columns
from ..predictions import Predictions, write_predictions
from ..protocols import REGISTRY, Conventions, get_protocol
from ..scoring import score
from .folder import RESULT_FILES, ResultsFolder


@dataclass
class SplitResult:
    """Predictions and scores of one split (``scores``: protocol name, or ``"<protocol> points=inner-51"`` for the
    inner point set (:func:`score_variants`) → ``aflw_occ.scoring.ScoreResult``)."""

    split: str
    ids: np.ndarray
    landmarks: np.ndarray
    angles_deg: np.ndarray | None
    dense: np.ndarray | None
    ground_truth: GroundTruth
    scores: dict[str, Any] = field(default_factory=dict)
    pose_decoding: str | None = None
    #: detector box protocol: (N,) the faces the detector found (the others have NaN landmarks and are not scored)
    detected: np.ndarray | None = None
    #: detector box protocol: detection rate and the figures that count misses as failures (``MetricRow`` list)
    detection: list[Any] | None = None

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
    #: ``ground-truth`` or ``detector:<name>`` (:func:`aflw_occ.detection.protocol.box_protocol_label`)
    box_protocol: str = "ground-truth"
    #: detector box protocol: the detector run (detector, version, settings, data), else ""
    detections: str = ""

    def summary(self) -> Any:
        """Every split × protocol × point set's reported numbers in one DataFrame (``box_protocol``, ``split``,
        ``protocol``, ``points`` first; ``points`` is empty for protocols without that convention; under the detector
        protocol the pseudo-protocol ``detection`` holds the detection rate and the figures that count misses as
        failures)."""
        import pandas as pd

        frames = []
        for name, res in self.splits.items():
            for sc in res.scores.values():
                df = sc.summary().copy()
                df = df.drop(columns=[c for c in ("split", "protocol", "points") if c in df.columns])
                df.insert(0, "points", sc.conventions.get("points", ""))
                df.insert(0, "protocol", sc.protocol)
                df.insert(0, "split", name)
                frames.append(df)
            if res.detection:
                rows = [
                    {"split": name, "protocol": "detection", "points": "", "metric": r.key, "label": r.label,
                     "value": r.value, "ci_low": r.ci_low, "ci_high": r.ci_high, "n": r.n, "unit": r.unit}
                    for r in res.detection
                ]  # fmt: skip
                frames.append(pd.DataFrame(rows))
        return self._with_box_protocol(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())

    def per_sample(self) -> Any:
        """The sparse-2d per-sample tables of every split in one DataFrame (``box_protocol``, ``split`` first;
        a face the detector missed is a row with ``missing`` set)."""
        import pandas as pd

        frames = []
        for name, res in self.splits.items():
            if not res.scores:  # the detector missed every face of the split: nothing was scored
                g = res.ground_truth
                cols = table_columns(res.ids, name, g.yaw_deg, yaw_bins(g.yaw_deg), {"missing": np.ones(len(g), bool)})
                frames.append(pd.DataFrame(cols))
                continue
            df = res.score.per_sample().copy()
            if "split" in df.columns:
                df = df.drop(columns="split")
            df.insert(0, "split", name)
            frames.append(df)
        return self._with_box_protocol(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())

    def _with_box_protocol(self, df: Any) -> Any:
        if len(df):
            df.insert(0, "box_protocol", self.box_protocol)
        return df


def default_protocols(requested: str | Sequence[str] | None, dims: int, has_pose: bool) -> list[str]:
    """The requested protocols, else every protocol evaluated by default that applies to the output."""
    if requested is not None:
        return [requested] if isinstance(requested, str) else list(requested)
    return [p.name for p in REGISTRY.values() if p.evaluated_by_default and p.applies(dims, has_pose, False)]


def score_variants(protocol: str) -> list[tuple[str, Any]]:
    """(key, conventions) of every scoring of one protocol: the default conventions under the protocol's name, and
    for the sparse protocols the ``inner-51`` point set too, under ``"<protocol> points=inner-51"``."""
    out: list[tuple[str, Any]] = [(protocol, Conventions())]
    if "points" in get_protocol(protocol).uses:
        out.append((f"{protocol} points=inner-51", Conventions(points="inner-51")))
    return out


def score_split(
    res: SplitResult, model: str, protocols: str | Sequence[str] | None, *, seed: int, n_boot: int
) -> SplitResult:
    """Score one split's predictions under each protocol (into ``res.scores``, one entry per
    :func:`score_variants`: the sparse protocols under both point sets); returns ``res``.

    Under the detector box protocol (``res.detected`` set) only the detected faces are scored (the others are
    reported as missing; a split where no face was found has no landmark scores), and ``res.detection`` gets the
    detection rate and the figures that count misses as failures (:func:`aflw_occ.detection.scoring.detection_rows`,
    on the sparse-2d NME).
    """
    detector = res.detected is not None
    rows = np.flatnonzero(res.detected) if detector else np.arange(len(res.ids))
    if len(rows):
        preds = Predictions(
            ids=res.ids[rows],
            landmarks=res.landmarks[rows],
            angles_deg=None if res.angles_deg is None else res.angles_deg[rows],
            dense=None if res.dense is None else res.dense[rows],
            source=f"<{model}:{res.split}>",
            pose_decoding=res.pose_decoding,
        )
        for proto in default_protocols(protocols, res.landmarks.shape[2], res.angles_deg is not None):
            for key, conv in score_variants(proto):
                res.scores[key] = score(
                    preds, res.ground_truth, protocol=proto, seed=seed, n_boot=n_boot, allow_missing=detector,
                    conventions=conv,
                )  # fmt: skip
    if detector:
        sparse = res.scores.get("sparse-2d")
        errors: np.ndarray | None = np.zeros(len(res.ids))  # no face found: every face is a miss
        if sparse is not None:
            errors = np.asarray(sparse.columns["nme"], dtype=np.float64) / 100.0
        elif len(rows):
            errors = None  # sparse-2d not asked for: the detection rate only
        bins = yaw_bins(res.ground_truth.yaw_deg)
        res.detection = detection_rows(res.detected, bins, errors, n_boot=n_boot, seed=seed)
    return res


def write_results(result: EvaluationResult, out_dir: Path, *, model_spec: str | None, seed: int) -> None:
    """Write a results folder all-or-nothing: everything goes to a temporary sibling first, then moved in.

    Files: ``predictions/<split>.npz`` (the prediction-file format), ``scores.csv``, ``per_sample.csv``,
    ``meta.json``; prediction files of splits this run did not evaluate are removed (another run's results).
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    staged, final = ResultsFolder(tmp), ResultsFolder(out_dir)
    try:
        staged.predictions_dir.mkdir(parents=True)
        for s, res in result.splits.items():
            keep = np.arange(len(res.ids)) if res.detected is None else np.flatnonzero(res.detected)
            if not len(keep):  # the detector found no face of this split: no prediction file
                continue
            write_predictions(  # under the detector protocol: the detected faces only
                staged.predictions(s),
                res.ids[keep],
                res.landmarks[keep],
                angles_deg=None if res.angles_deg is None else res.angles_deg[keep],
                dense=None if res.dense is None else res.dense[keep],
                pose_decoding=res.pose_decoding,
            )
        result.summary().to_csv(staged.scores, index=False)
        result.per_sample().to_csv(staged.per_sample, index=False)
        staged.meta.write_text(json.dumps(_meta(result, model_spec, seed), indent=2) + "\n")
        out_dir.mkdir(parents=True, exist_ok=True)
        final.predictions_dir.mkdir(exist_ok=True)
        written = {f.name for f in staged.predictions_dir.iterdir()}
        for f in sorted(staged.predictions_dir.iterdir()):
            os.replace(f, final.predictions_dir / f.name)
        for stale in final.predictions_dir.glob("*.npz"):  # an earlier run's splits: not this model's results
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
        "box_protocol": result.box_protocol,
        "detections": result.detections or None,
        "n_detected": {s: int(r.detected.sum()) for s, r in result.splits.items() if r.detected is not None} or None,
        "splits": list(result.splits),
        "protocols": {s: list(r.scores) for s, r in result.splits.items()},
        "seed": seed,
        "n": {s: len(r.ids) for s, r in result.splits.items()},
        "seconds": round(result.seconds, 3),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
