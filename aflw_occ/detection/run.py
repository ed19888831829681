"""Run a face detector over the splits of a built store and write one detection file per split.

For every sample of every requested split: the detector's candidates on the exact stored pixels, matched to the
sample's ground-truth face (:mod:`.match`). Each split's file is written atomically as soon as the split is done
(:mod:`.files`), so an interrupted run keeps the finished splits; ``resume`` skips a split whose file is already
there for the same detector, settings, match rule and data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..crops import landmark_box
from ..errors import AflwOccError, Interrupted
from ..version import __version__
from .base import Detector
from .files import DetectionFileError, SplitDetections, read_detections, split_file, write_detections
from .match import IOU_THRESHOLD, RULE, match_all

__all__ = ["DetectRun", "detect_split", "detect_store"]


@dataclass
class DetectRun:
    """What :func:`detect_store` did: the detections of every split, which were computed and which kept."""

    out_dir: Path
    splits: dict[str, SplitDetections] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  #: detector CPU time of the computed splits (``time.process_time``, reading excluded)
    images: int = 0  #: images the detector ran on


def _meta(detector: Detector, store: Any, split: str) -> dict[str, Any]:
    return {
        "detector": detector.name,
        "detector_version": detector.version,
        "settings": dict(detector.settings),
        "match_rule": RULE,
        "data_version": str(store.version),
        "manifest_sha256": str(store.manifest_sha256),
        "store": str(store.path),
        "split": split,
        "aflw_occ": __version__,
    }


def detect_split(detector: Detector, store: Any, split: str, bar: Any = None) -> SplitDetections:
    """Detect and match every sample of one split of an open store (``bar``: a tqdm bar to advance)."""
    sp = store.split(split)
    gt = sp.ground_truth()
    references = landmark_box(gt.landmarks)
    candidates: list[tuple[np.ndarray, np.ndarray]] = []
    seconds = cpu = 0.0  # the detector's own time (reading the pixels not included)
    for i in range(len(sp)):
        image = sp.image(i)
        t0, c0 = time.perf_counter(), time.process_time()
        found = detector.detect(image)
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
        candidates.append((found.boxes, found.scores))
        if bar is not None:
            bar.update(1)
    index, iou = match_all(candidates, references, IOU_THRESHOLD)
    n = len(sp)
    box = np.full((n, 4), np.nan)
    score = np.full(n, np.nan)
    for i, k in enumerate(index.tolist()):
        if k >= 0:
            box[i], score[i] = candidates[i][0][k], candidates[i][1][k]
    counts = np.array([len(s) for _, s in candidates], dtype=np.int64)
    meta = _meta(detector, store, split)
    meta.update(seconds=round(seconds, 3), cpu_seconds=round(cpu, 3), n=n, n_detected=int((index >= 0).sum()))
    return SplitDetections(
        ids=np.asarray(sp.ids).astype(str),
        source_ids=np.asarray(sp.source_ids).astype(str),
        box=box,
        score=score,
        iou=iou,
        cand_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        cand_boxes=np.concatenate([b for b, _ in candidates]) if n else np.zeros((0, 4)),
        cand_scores=np.concatenate([s for _, s in candidates]) if n else np.zeros(0),
        meta=meta,
    )


def _same_run(det: SplitDetections, reference: dict[str, Any]) -> bool:
    keys = ("detector", "detector_version", "match_rule", "data_version", "manifest_sha256")
    m = det.meta
    same_settings = json.dumps(m.get("settings"), sort_keys=True) == json.dumps(reference["settings"], sort_keys=True)
    return same_settings and all(str(m.get(k)) == str(reference[k]) for k in keys)


def _existing(out_dir: Path) -> dict[str, SplitDetections]:
    """The detection files already in ``out_dir`` (files that are not detection files are left alone)."""
    found: dict[str, SplitDetections] = {}
    for f in sorted(out_dir.glob("*.npz")):
        try:
            det = read_detections(f)
        except DetectionFileError:
            continue
        found[f.stem] = det
    return found


def _keep_finished(run: DetectRun, store: Any, names: Sequence[str], same_run: dict[str, SplitDetections]) -> None:
    """Keep (``--resume``) each requested split's existing file of the same run whose ids are the split's ids."""
    for s in names:
        prior = same_run.get(s)
        if prior is not None and np.array_equal(prior.ids, np.asarray(store.split(s).ids).astype(str)):
            run.splits[s] = prior
            run.kept.append(s)


def _progress_bar(detector: Detector, store: Any, todo: Sequence[str], progress: bool | None) -> Any:
    """A tqdm bar over the images of the splits to detect (None: ``progress`` is False or nothing to do)."""
    if progress is False or not todo:
        return None
    from tqdm.auto import tqdm

    total = sum(len(store.split(s)) for s in todo)
    off = None if progress is None else False  # None: tqdm shows the bar only on a terminal
    return tqdm(total=total, desc=f"detect {detector.name}", unit="img", dynamic_ncols=True, disable=off)


def detect_store(
    detector: Detector,
    store_path: str | Path,
    out_dir: str | Path,
    splits: str | Sequence[str] | None = "all",
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = True,
) -> DetectRun:
    """Run ``detector`` on every requested split of a store; write ``out_dir/<split>.npz`` for each.

    ``out_dir`` may already hold detection files of the same detector, settings and data (they are replaced, or kept
    with ``resume``); files of another detector or data are refused unless ``overwrite`` (then they are removed once
    this run has written its own).
    """
    from ..evaluation import resolve_splits
    from ..store import open_store

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AflwOccError(f"{out}: exists and is not a folder (give a folder for the detection files)")
    t0 = time.perf_counter()
    with open_store(store_path) as store:
        names = resolve_splits(splits, list(store.splits))
        reference = _meta(detector, store, "")
        existing = _existing(out) if out.is_dir() else {}
        foreign = {s: d for s, d in existing.items() if not _same_run(d, reference)}
        if foreign and not overwrite:
            s, d = next(iter(foreign.items()))
            raise AflwOccError(
                f"{out}: holds detections of another run ({split_file(out, s).name}: {d.describe()}); "
                "choose another --out, or --overwrite to replace them"
            )
        out.mkdir(parents=True, exist_ok=True)
        run = DetectRun(out)
        if resume:
            _keep_finished(run, store, names, {s: d for s, d in existing.items() if s not in foreign})
        todo = [s for s in names if s not in run.splits]
        bar = _progress_bar(detector, store, todo, progress)
        try:
            for s in todo:
                det = detect_split(detector, store, s, bar)
                write_detections(split_file(out, s), det)
                run.splits[s] = read_detections(split_file(out, s))
                run.computed.append(s)
                run.cpu_seconds += float(det.meta["cpu_seconds"])
                run.images += len(det)
        except KeyboardInterrupt:
            done = ", ".join(run.computed + run.kept) or "none"
            raise Interrupted(
                f"detect interrupted; finished splits kept in {out}: {done} (run again with --resume to continue)"
            ) from None
        finally:
            if bar is not None:
                bar.close()
    for s in foreign:
        if s not in run.splits:
            split_file(out, s).unlink(missing_ok=True)
    run.splits = {s: run.splits[s] for s in names}
    run.seconds = time.perf_counter() - t0
    return run
