"""Running a predictor over the splits of a data set: planning batches, loading and inferring them in threads,
gathering the outputs back into per-split arrays, and :func:`evaluate`, which does all of it and scores.

Work is ordered by source image across splits (every occluded variant of an image is decoded next to its clean
image). The box protocol (:mod:`aflw_occ.detection.protocol`) decides which rows run and which boxes they get.
Store splits are read through the bulk reader (:mod:`aflw_occ.store.bulk`), other data through ``split.image``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EvaluationError, PredictionError
from ..store.bulk import BulkReader, bulk_readable, load_images
from .data import SourceData, open_data, resolve_splits
from .predictor import (
    BatchPrediction,
    FaceBoxes,
    Predictor,
    as_predictor,
    batch_label,
    call_model,
    check_output,
    model_name,
    stated_pose_decoding,
)
from .results import EvaluationResult, SplitResult, score_split, write_results


class Task:
    """One batch of work: rows of (possibly several) splits, ordered by source image.

    Attributes:
        items: (split position, row) of each image.
        boxes: the batch's :class:`FaceBoxes`, row-aligned with ``items`` (its ``ids`` are the sample ids).
    """

    __slots__ = ("items", "boxes")

    def __init__(self, items: list[tuple[int, int]], boxes: FaceBoxes) -> None:
        self.items = items
        self.boxes = boxes

    @property
    def ids(self) -> np.ndarray:
        return self.boxes.ids


def plan(split_objs: list[Any], boxes: list[Any], batch_size: int) -> list[Task]:
    """Batches over the rows to run of every requested split (``boxes``: their
    :class:`~aflw_occ.detection.protocol.SplitBoxes`), ordered by (source image, split) so a source is decoded
    once."""
    rows: list[tuple[str, int, int]] = []
    for k, (sp, b) in enumerate(zip(split_objs, boxes, strict=True)):
        src = getattr(sp, "source_ids", None)
        src = np.asarray(sp.ids if src is None else src).astype(str)
        rows.extend((src[i], k, int(i)) for i in b.rows.tolist())
    rows.sort()
    ids = [np.asarray(sp.ids).astype(str) for sp in split_objs]
    detector = next((b.detector for b in boxes if b.detector is not None), None)
    tasks = []
    for start in range(0, len(rows), batch_size):
        chunk = [(k, i) for _, k, i in rows[start : start + batch_size]]
        t_ids = np.array([ids[k][i] for k, i in chunk])
        face = np.stack([boxes[k].face[i] for k, i in chunk])
        detected = None if detector is None else np.stack([boxes[k].detected[i] for k, i in chunk])
        faces = FaceBoxes(
            ids=t_ids, roi=_stack_rows(boxes, "roi", chunk), face=face, detected=detected, detector=detector,
            inner=_stack_rows(boxes, "inner", chunk),
        )  # fmt: skip
        tasks.append(Task(chunk, faces))
    return tasks


def _stack_rows(boxes: list[Any], field: str, chunk: list[tuple[int, int]]) -> np.ndarray | None:
    """The rows ``chunk`` of an optional per-split box array, None when any of their splits has none."""
    if any(getattr(boxes[k], field) is None for k, _ in chunk):
        return None
    return np.stack([getattr(boxes[k], field)[i] for k, i in chunk])


def run(
    predictor: Any, names: list[str], split_objs: list[Any], tasks: list[Task], threads: int, bar: Any
) -> list[tuple[Task, BatchPrediction]]:
    """Run every batch; outputs are checked and collected here, in task order.

    A staged predictor with ``infer_concurrent`` (thread-safe, single-threaded inference) gets ``threads`` whole
    load → prepare → infer chains at once, one per worker thread, so each core runs one chain and no loader thread
    competes with inference threads. Otherwise batches are loaded (and prepared, for staged predictors) in
    ``threads`` threads and inferred here, one after the other. Every model call goes through
    :func:`~aflw_occ.evaluation.predictor.call_model` (what a model raises names the model and the batch).
    """
    staged = hasattr(predictor, "prepare") and hasattr(predictor, "infer")
    concurrent = staged and callable(getattr(predictor, "infer_concurrent", None))
    name = model_name(predictor)

    bulk = bulk_readable(split_objs)
    reader = BulkReader(split_objs) if bulk else None

    def where(task: Task) -> str:
        return batch_label(task.ids.tolist(), [names[k] for k, _ in task.items])

    def load(task: Task) -> tuple[Task, Any]:
        # concurrent: prepare + infer_concurrent are done with the images when this returns, so this thread may
        # reuse their memory for its next batch
        images = load_images(split_objs, task.items, bulk, reader, reuse=concurrent)
        if not staged:
            return task, images
        boxes = task.boxes
        prepared = call_model(name, "prepare", where(task), predictor.prepare, images, boxes)
        del images
        if concurrent:
            return task, call_model(name, "infer_concurrent", where(task), predictor.infer_concurrent, prepared, boxes)
        return task, prepared

    out: list[tuple[Task, BatchPrediction]] = []
    window = max(2, 2 * threads)
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="aflw-occ-load") as pool:
        pending: list[Any] = []
        it = iter(tasks)
        for t in it:
            pending.append(pool.submit(load, t))
            if len(pending) >= window:
                break
        try:
            while pending:
                task, payload = pending.pop(0).result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(load, nxt))
                if concurrent:
                    raw = payload
                elif staged:
                    raw = call_model(name, "infer", where(task), predictor.infer, payload, task.boxes)
                else:
                    raw = call_model(name, "predict", where(task), predictor.predict, payload, task.boxes)
                labels = [names[k] for k, _ in task.items]
                out.append((task, check_output(raw, task.ids.tolist(), name, labels)))
                if bar is not None:
                    bar.update(len(task.items))
        finally:
            for f in pending:
                f.cancel()
    return out


def _output_layout(results: list[tuple[Task, BatchPrediction]], model: str) -> tuple[int, bool, int | None]:
    """(landmark coordinates 2|3, pose predicted, dense points per sample or None) of the model's batch outputs;
    every batch must agree."""
    dims = {p.landmarks.shape[2] for _, p in results}
    if len(dims) > 1:
        raise PredictionError(f"model {model}: landmarks switch between 2D and 3D from one batch to another")
    has_ang = {p.angles_deg is not None for _, p in results}
    has_dense = {p.dense is not None for _, p in results}
    if len(has_ang) > 1 or len(has_dense) > 1:
        raise PredictionError(f"model {model}: some batches return pose or dense points and others do not")
    dense_p = {p.dense.shape[1] for _, p in results if p.dense is not None}
    if len(dense_p) > 1:
        raise PredictionError(f"model {model}: the number of dense points changes between batches")
    return (dims.pop() if dims else 2), True in has_ang, (dense_p.pop() if dense_p else None)


def gather(
    results: list[tuple[Task, BatchPrediction]], split_objs: list[Any], model: str
) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Scatter batch outputs back into per-split (landmarks, angles, dense); 2D/3D, pose and dense must be
    consistent across batches."""
    n = [len(sp) for sp in split_objs]
    d, has_ang, n_dense = _output_layout(results, model)
    lms = [np.full((m, 68, d), np.nan) for m in n]
    angs = [np.full((m, 3), np.nan) for m in n] if has_ang else None
    dense = [np.full((m, n_dense, 3), np.nan) for m in n] if n_dense is not None else None
    for task, p in results:
        for j, (k, i) in enumerate(task.items):
            lms[k][i] = p.landmarks[j]
            if angs is not None:
                angs[k][i] = p.angles_deg[j]  # type: ignore[index]
            if dense is not None:
                dense[k][i] = p.dense[j]  # type: ignore[index]
    return [(lms[k], None if angs is None else angs[k], None if dense is None else dense[k]) for k in range(len(n))]


def evaluate(
    predictor: Predictor | Callable[..., Any],
    data: Any,
    splits: str | Sequence[str] | None = "all",
    out_dir: str | Path | None = None,
    batch_size: int = 64,
    threads: int = 2,
    *,
    protocols: str | Sequence[str] | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    progress: bool | None = True,
    model_spec: str | None = None,
    boxes: str | Any | None = None,
) -> EvaluationResult:
    """Run ``predictor`` on every requested split of ``data``, score each, and optionally write the results.

    A staged predictor with ``infer_concurrent`` (the ONNX adapters) runs ``threads`` whole load → prepare → infer
    chains at once, one per thread; other predictors are loaded and pre-processed in ``threads`` threads and
    inferred in the calling thread. Either way outputs are checked and gathered in order (:func:`run`).

    Args:
        predictor: a :class:`~aflw_occ.evaluation.predictor.Predictor` or a callable ``f(images, boxes)``.
        data: a built ``.h5`` store (path or open store), an AFLW2000-3D folder (clean split) or reader.
        splits: ``"all"``, one name, a comma list or a sequence of names.
        out_dir: when given, writes ``predictions/<split>.npz``, ``scores.csv``, ``per_sample.csv``,
            ``meta.json`` (into a temporary folder first, moved in place only when every split succeeded).
        batch_size: images per predictor call.
        threads: worker threads (loading, pre-processing and, for ``infer_concurrent`` predictors, inference).
        protocols: scoring protocols; default sparse-2d, plus sparse-3d for 3D landmarks and pose when
            the model predicts angles.
        seed: bootstrap seed of the scorer. n_boot: bootstrap resamples.
        progress: show a tqdm progress bar (None: only when stderr is a terminal).
        model_spec: the model spec string, recorded in ``meta.json``.
        boxes: the box protocol: None / ``"ground-truth"`` (boxes from the ground truth, every face), or
            ``"detector:DIR"`` / a :class:`~aflw_occ.detection.protocol.DetectorBoxes` (a folder of ``aflw-occ detect``
            files of this store: only the detected faces are run and scored, plus the detection rate and the figures
            that count misses as failures; see :mod:`aflw_occ.detection.protocol`).
    """
    from ..detection.protocol import box_protocol_label, parse_boxes, split_boxes

    pred = as_predictor(predictor)
    name = model_name(pred)
    if batch_size < 1:
        raise EvaluationError(f"batch size must be ≥ 1, got {batch_size}")
    det_boxes = boxes if hasattr(boxes, "load") else parse_boxes(None if boxes is None else str(boxes))
    t0 = time.perf_counter()
    with open_data(data, threads=threads) as ds:
        names = resolve_splits(splits, list(ds.splits))
        result = EvaluationResult(
            model=name,
            data=str(getattr(ds, "path", data)),
            data_version=str(getattr(ds, "version", "")),
            manifest_sha256=str(getattr(ds, "manifest_sha256", "")),
            weights_sha256=str(getattr(pred, "weights_sha256", "") or ""),
        )
        if det_boxes is not None and isinstance(ds, SourceData):
            raise EvaluationError(
                f"{ds.path}: the detector box protocol needs a built store (detection files belong to one store: "
                "`aflw-occ detect STORE --detector NAME --out DIR`, then `evaluate --data STORE --boxes detector:DIR`)"
            )
        split_objs = [ds.split(s) for s in names]
        gts = [sp.ground_truth() for sp in split_objs]
        split_plans = [
            split_boxes(
                det_boxes, s, sp.ids, g.landmarks, getattr(sp, "roi_boxes", None),
                result.data_version, result.manifest_sha256,
            )
            for s, sp, g in zip(names, split_objs, gts, strict=True)
        ]  # fmt: skip
        result.box_protocol = box_protocol_label(det_boxes)
        result.detections = "" if det_boxes is None else det_boxes.describe()
        tasks = plan(split_objs, split_plans, batch_size)
        bar = _progress_bar(sum(len(b.rows) for b in split_plans), name, progress)
        try:
            outputs = run(pred, names, split_objs, tasks, threads, bar)
        finally:
            if bar is not None:
                bar.close()
        per_split = gather(outputs, split_objs, name)
    for s, sp, gt, b, (lms, ang, dense) in zip(names, split_objs, gts, split_plans, per_split, strict=True):
        res = SplitResult(s, np.asarray(sp.ids).astype(str), lms, ang, dense, gt)
        res.pose_decoding = stated_pose_decoding(pred) if ang is not None else None
        if det_boxes is not None:
            res.detected = np.zeros(len(res.ids), dtype=bool)
            res.detected[b.rows] = True
        result.splits[s] = score_split(res, name, protocols, seed=seed, n_boot=n_boot)
    result.seconds = time.perf_counter() - t0
    if out_dir is not None:
        write_results(result, Path(out_dir), model_spec=model_spec, seed=seed)
        result.out_dir = Path(out_dir)
    return result


def _progress_bar(total: int, name: str, progress: bool | None) -> Any:
    if progress is False:
        return None
    from tqdm.auto import tqdm

    off = None if progress is None else False  # None: tqdm shows the bar only on a terminal
    return tqdm(total=total, desc=f"evaluate {name}", unit="img", dynamic_ncols=True, disable=off)
