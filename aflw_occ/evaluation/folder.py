"""Where an evaluation's results live: the layout of the folder ``aflw-occ evaluate --out DIR`` writes, the one rule
its writer (:func:`~aflw_occ.evaluation.results.write_results`) and its readers (the leaderboard, the report) use.

Layout: ``meta.json`` (model, data, protocols, seed, timing), ``scores.csv`` (one row per split × protocol ×
metric), ``per_sample.csv`` (one row per sample), ``predictions/<split>.npz`` (the prediction-file format).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

META_FILE = "meta.json"
SCORES_FILE = "scores.csv"
PER_SAMPLE_FILE = "per_sample.csv"
PREDICTIONS_DIR = "predictions"
#: the folder's files beside ``predictions/``, in the order they are moved into place
RESULT_FILES = (META_FILE, SCORES_FILE, PER_SAMPLE_FILE)


@dataclass(frozen=True)
class ResultsFolder:
    """The files of one results folder ``path`` (whether they exist or not)."""

    path: Path

    @property
    def meta(self) -> Path:
        return self.path / META_FILE

    @property
    def scores(self) -> Path:
        return self.path / SCORES_FILE

    @property
    def per_sample(self) -> Path:
        return self.path / PER_SAMPLE_FILE

    @property
    def predictions_dir(self) -> Path:
        return self.path / PREDICTIONS_DIR

    def predictions(self, split: str) -> Path:
        """``predictions/<split>.npz``: the predictions of one split."""
        return self.predictions_dir / f"{split}.npz"
