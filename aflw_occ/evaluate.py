"""Evaluate any model: the :class:`Predictor` protocol and :func:`evaluate`.

A predictor gets a batch of RGB uint8 images (original image pixels, any size) plus ground-truth-derived boxes
(:class:`FaceBoxes`: 3DDFA's crop box and the tight boxes of the 68 and of the 51 inner ground-truth points — boxes
come from ground truth as in the field's benchmarks) and returns (N, 68, 2|3) landmarks in original image pixels,
either as an array or as a :class:`Prediction` (optionally with dense points and head pose). A predictor may also
be *staged*: ``prepare(images, boxes)`` (thread-safe pre-processing) and ``infer(prepared, boxes)``; a staged
predictor that also has ``infer_concurrent(prepared, boxes)`` (thread-safe, one core per call) lets :func:`evaluate`
run whole batches in its worker threads; its ``prepare`` must not keep references to the images (the worker reuses
their memory for its next batch).

:func:`evaluate` runs a predictor over the splits of a built HDF5 store (or the clean split of an AFLW2000-3D
folder), validates every output (shape, dtype, finiteness: errors name the sample), scores every split and, with
``out_dir``, writes one prediction file per split, the scores and a ``meta.json`` — all or nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .crops import landmark_box
from .errors import AflwOccError, PredictionError
from .groundtruth import GroundTruth

ALL_SPLITS: tuple[str, ...] = ("clean", "nod", "csod-single", "csod-double", "csod-column", "nsod")
RESULT_FILES = ("meta.json", "scores.csv", "per_sample.csv")


class EvaluationError(AflwOccError):
    """The data or the requested splits cannot be evaluated (unknown split, no roi boxes, ...)."""


@dataclass(frozen=True)
class FaceBoxes:
    """Ground-truth-derived boxes of one batch, row-aligned with the images.

    Attributes:
        ids: (N,) sample ids (for error messages).
        roi: (N, 4) 3DDFA crop boxes ``[sx, sy, ex, ey]`` (same box for every variant of a source image) or None.
        face: (N, 4) tight box ``[l, t, r, b]`` of the 68 ground-truth points' x/y.
        inner: (N, 4) tight box of the 51 inner ground-truth points (17–67: no jaw line), or None.

    Boxes are in the ground truth's pixel frame (1-based, like ``pt3d_68``).
    """

    ids: np.ndarray
    roi: np.ndarray | None
    face: np.ndarray
    inner: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Prediction:
    """What a predictor returns for a batch.

    Attributes:
        landmarks: (N, 68, 2|3) image pixels.
        dense: optional (N, P, 3) dense points, image pixels.
        angles_deg: optional (N, 3) (pitch, yaw, roll) in degrees.
    """

    landmarks: np.ndarray
    dense: np.ndarray | None = None
    angles_deg: np.ndarray | None = None


@runtime_checkable
class Predictor(Protocol):
    """Anything with a ``name`` and ``predict(images, boxes) -> Prediction | ndarray``."""

    name: str

    def predict(self, images: Sequence[np.ndarray], boxes: FaceBoxes) -> Prediction | np.ndarray: ...


PredictFn = Callable[[Sequence[np.ndarray], FaceBoxes], "Prediction | np.ndarray"]


def as_predictor(obj: Any, name: str | None = None) -> Predictor:
    """A :class:`Predictor` from a predictor, or from any callable ``f(images, boxes)`` (wrapped)."""
    if hasattr(obj, "predict") and callable(obj.predict):
        if name is not None or not hasattr(obj, "name"):
            with contextlib.suppress(AttributeError):
                obj.name = name or type(obj).__name__
        return obj  # type: ignore[no-any-return]
    if callable(obj):
        from .adapters.callable import CallablePredictor

        return CallablePredictor(obj, name=name)
    raise EvaluationError(f"{obj!r} is neither a predictor (with .predict) nor a callable")


def check_output(
    out: Prediction | np.ndarray, ids: Sequence[str], model: str, split: str | Sequence[str]
) -> Prediction:
    """Validate one batch of model output; :class:`PredictionError` naming the sample and the problem.

    Landmarks must be a floating (N, 68, 2|3) array with every value finite; ``dense`` (N, P, 3) and
    ``angles_deg`` (N, 3) likewise when present. ``split`` is the split name, or one name per sample.
    """
    n = len(ids)
    splits = [split] * n if isinstance(split, str) else list(split)

    def where(i: int) -> str:
        return f"model {model}, split {splits[i]}, sample {ids[i]}" if n else f"model {model}, empty batch"

    pred = out if isinstance(out, Prediction) else Prediction(landmarks=out)  # type: ignore[arg-type]
    arrays: dict[str, tuple[Any, tuple[int | None, ...], str]] = {
        "landmarks": (pred.landmarks, (n, 68, None), f"({n}, 68, 2|3)")
    }
    if pred.dense is not None:
        arrays["dense"] = (pred.dense, (n, None, 3), f"({n}, P, 3)")
    if pred.angles_deg is not None:
        arrays["angles_deg"] = (pred.angles_deg, (n, 3), f"({n}, 3)")
    checked: dict[str, np.ndarray] = {}
    for key, (arr, want, text) in arrays.items():
        first = f"{where(0)} (first of a batch of {n})"
        if not isinstance(arr, np.ndarray):
            raise PredictionError(f"{first}: {key} is a {type(arr).__name__}, not a numpy array")
        if not np.issubdtype(arr.dtype, np.floating):
            raise PredictionError(f"{first}: {key} has dtype {arr.dtype}, expected a float dtype")
        ok = arr.ndim == len(want) and all(w is None or s == w for s, w in zip(arr.shape, want, strict=False))
        if key == "landmarks" and ok:
            ok = arr.shape[2] in (2, 3)
        if not ok:
            raise PredictionError(f"{first}: {key} has shape {tuple(arr.shape)}, expected {text}")
        bad = ~np.isfinite(arr.reshape(n, -1)).all(axis=1)
        if bad.any():
            raise PredictionError(f"{where(int(np.argmax(bad)))}: {key} contains NaN or inf")
        checked[key] = arr.astype(np.float64)
    return Prediction(checked["landmarks"], checked.get("dense"), checked.get("angles_deg"))


# ----------------------------------------------------------------------------------------------------
# Data access: a built HDF5 store, or the clean split of an AFLW2000-3D folder
# ----------------------------------------------------------------------------------------------------


class SourceSplit:
    """The clean split read from an AFLW2000-3D folder, with the interface of a store split."""

    def __init__(self, dataset: Any, threads: int = 2) -> None:
        self._ds = dataset
        self.ids = np.array(dataset.ids)
        self.source_ids = self.ids.copy()
        self.roi_boxes = dataset.roi_boxes()
        self._threads = max(1, int(threads))
        self._gt: GroundTruth | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def image(self, i: int) -> np.ndarray:
        return self._ds[int(i)].read_image()

    def iter_images(self, batch_size: int) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        with ThreadPoolExecutor(self._threads) as pool:
            for start in range(0, len(self), batch_size):
                idx = np.arange(start, min(start + batch_size, len(self)))
                yield idx, list(pool.map(self.image, idx))

    def ground_truth(self) -> GroundTruth:
        if self._gt is None:
            self._gt = GroundTruth.from_source(self._ds)
        return self._gt


class SourceData:
    """An AFLW2000-3D folder seen as a data set with the single split ``clean``."""

    version = "source"
    manifest_sha256 = ""
    splits = ["clean"]

    def __init__(self, root: str | Path | Any, eval_dir: str | Path | None = None, threads: int = 2) -> None:
        from .source import AFLW2000_3D

        if isinstance(root, AFLW2000_3D):
            ds = root
        else:
            root = Path(root)
            if eval_dir is None:  # the one discovery rule (aflw_occ.paths)
                from .paths import find_data

                eval_dir = find_data("eval_dir", source=root)
            ds = AFLW2000_3D(root, eval_dir)
        self.path = str(ds.root)
        self._split = SourceSplit(ds, threads)

    def split(self, name: str) -> SourceSplit:
        if name != "clean":
            raise EvaluationError(f"{self.path}: a source folder has only the clean split, not '{name}'")
        return self._split


@contextlib.contextmanager
def open_data(data: Any, threads: int = 2) -> Iterator[Any]:
    """Open what :func:`evaluate` accepts: ``.h5`` store path, open store, AFLW2000-3D folder or reader."""
    from .source import AFLW2000_3D

    if isinstance(data, (AFLW2000_3D, SourceData)):
        yield data if isinstance(data, SourceData) else SourceData(data, threads=threads)
        return
    if isinstance(data, (str, Path)):
        p = Path(data)
        if p.is_dir() and not any(p.glob("aflw-occ-*.h5")):  # an AFLW2000-3D folder, not a build folder
            yield SourceData(p, threads=threads)
            return
        if not p.exists():
            raise EvaluationError(f"{p}: data file does not exist (give a built .h5 store or an AFLW2000-3D folder)")
        from .store import open_store

        with open_store(p) as st:
            yield st
        return
    if hasattr(data, "split") and hasattr(data, "splits"):
        yield data
        return
    raise EvaluationError(f"cannot evaluate on {data!r}: give a .h5 store path, an open store or a source folder")


def resolve_splits(requested: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """``"all"``/None → every available split in canonical order; else the named ones (comma list allowed)."""
    avail = list(available)
    if requested is None or requested == "all":
        order = [s for s in ALL_SPLITS if s in avail] + [s for s in avail if s not in ALL_SPLITS]
        return order
    names = [s.strip() for s in requested.split(",")] if isinstance(requested, str) else list(requested)
    if "all" in names:
        return resolve_splits("all", avail)
    out: list[str] = []
    for s in names:
        if s not in avail:
            raise EvaluationError(f"split '{s}' is not in the data (available: {', '.join(avail)})")
        if s not in out:
            out.append(s)
    return out


# ----------------------------------------------------------------------------------------------------
# Running and scoring
# ----------------------------------------------------------------------------------------------------


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
    """Everything :func:`evaluate` produced, split by split."""

    model: str
    data: str
    data_version: str
    manifest_sha256: str
    splits: dict[str, SplitResult] = field(default_factory=dict)
    seconds: float = 0.0
    out_dir: Path | None = None

    def _frames(self, what: str) -> Any:
        import pandas as pd

        frames = []
        for name, res in self.splits.items():
            for sc in res.scores.values():
                df = getattr(sc, what)().copy()
                df = df.drop(columns=[c for c in ("split", "protocol", "points") if c in df.columns])
                df.insert(0, "points", sc.conventions.get("points", ""))
                df.insert(0, "protocol", sc.protocol)
                df.insert(0, "split", name)
                frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> Any:
        """Every split × protocol × point set's reported numbers in one DataFrame (``split``, ``protocol``,
        ``points`` first; ``points`` is empty for protocols without that convention)."""
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


class _Task:
    """One batch of work: rows of (possibly several) splits, ordered by source image."""

    __slots__ = ("ids", "items", "roi", "face", "inner")

    def __init__(
        self, items: list[tuple[int, int]], ids: np.ndarray, roi: np.ndarray | None, face: np.ndarray, inner: np.ndarray
    ):
        self.items = items
        self.ids = ids
        self.roi = roi
        self.face = face
        self.inner = inner

    def boxes(self) -> FaceBoxes:
        return FaceBoxes(ids=self.ids, roi=self.roi, face=self.face, inner=self.inner)


def _plan(split_objs: list[Any], gts: list[GroundTruth], batch_size: int) -> list[_Task]:
    """Batches over all requested splits, ordered by (source image, split) so a source is decoded once."""
    rows: list[tuple[str, int, int]] = []
    for k, sp in enumerate(split_objs):
        src = getattr(sp, "source_ids", None)
        src = np.asarray(sp.ids if src is None else src).astype(str)
        rows.extend((s, k, i) for i, s in enumerate(src.tolist()))
    rows.sort()
    ids = [np.asarray(sp.ids).astype(str) for sp in split_objs]
    faces = [landmark_box(g.landmarks) for g in gts]
    inners = [landmark_box(g.landmarks[:, 17:]) for g in gts]
    rois = []
    for sp in split_objs:
        r = getattr(sp, "roi_boxes", None)
        r = None if r is None else np.asarray(r, dtype=np.float64)
        rois.append(None if r is None or not np.isfinite(r).all() else r)
    tasks = []
    for start in range(0, len(rows), batch_size):
        chunk = [(k, i) for _, k, i in rows[start : start + batch_size]]
        t_ids = np.array([ids[k][i] for k, i in chunk])
        face = np.stack([faces[k][i] for k, i in chunk])
        inner = np.stack([inners[k][i] for k, i in chunk])
        roi = None
        if all(rois[k] is not None for k, _ in chunk):
            roi = np.stack([rois[k][i] for k, i in chunk])  # type: ignore[index]
        tasks.append(_Task(chunk, t_ids, roi, face, inner))
    return tasks


def _is_store_split(sp: Any) -> bool:
    """The HDF5 store's split (rows, source_index, group, store.file): bulk reading applies."""
    return all(hasattr(sp, a) for a in ("group", "rows", "source_index", "store")) and hasattr(sp.store, "file")


class _BulkReader:
    """Reads store rows of several splits in bulk: h5py datasets and patch boxes looked up once, one contiguous
    h5py read per dataset and batch, each base JPEG decoded once per batch, each row's PNG patch pasted on a copy.

    Gives exactly ``split.image(i)`` (``codec.decode_jpeg`` + ``codec.apply_patch``); :func:`bulk_readable` checks
    it on every split before use, and the tests compare it with ``Split.image``.
    """

    def __init__(self, splits: list[Any]) -> None:
        self.splits = splits
        self._patch: dict[int, tuple[np.ndarray, Any]] = {}
        self._local = threading.local()

    def _buffers(self, shape: tuple[int, ...], count: int) -> np.ndarray:
        """This thread's reusable (≥ count, *shape) uint8 block (fresh pages cost more than the copy itself)."""
        bufs: dict[tuple[int, ...], np.ndarray] = self._local.__dict__.setdefault("bufs", {})
        buf = bufs.get(shape)
        if buf is None or len(buf) < count:
            buf = bufs[shape] = np.empty((count, *shape), dtype=np.uint8)
        return buf

    def _patches(self, k: int) -> tuple[np.ndarray, Any]:
        if k not in self._patch:
            g = self.splits[k].store.file[self.splits[k].group]
            self._patch[k] = (np.asarray(g["patch_box"][()]), g["patch_png"])
        return self._patch[k]

    def images(self, items: list[tuple[int, int]], reuse: bool = False) -> list[np.ndarray]:
        """Pixels of (split position, row) items. With ``reuse``, occluded images are written into memory this
        thread reuses at its next call: only for callers done with them by then."""
        from .store import codec

        splits = self.splits
        src = sorted({int(splits[k].source_index[i]) for k, i in items})
        lo, hi = src[0], src[-1] + 1
        f = splits[items[0][0]].store.file
        jpeg = f["base/jpeg"][lo:hi] if hi - lo <= 2 * len(src) else {j: f["base/jpeg"][j] for j in src}
        base = {}
        for j in src:
            img = codec.imdecode_rgb(jpeg[j - lo] if isinstance(jpeg, np.ndarray) else jpeg[j])
            if img is None:
                raise ValueError(f"base image {j}: JPEG cannot be decoded")
            base[j] = img
        pngs: dict[tuple[int, int], Any] = {}
        for k in sorted({k for k, _ in items}):
            sp = splits[k]
            if sp.group == "base":
                continue
            boxes, ds = self._patches(k)
            rows = sorted({int(sp.rows[i]) for kk, i in items if kk == k})
            need = [r for r in rows if boxes[r][2] > boxes[r][0] and boxes[r][3] > boxes[r][1]]
            if not need:
                continue
            r0, r1 = need[0], need[-1] + 1
            if r1 - r0 <= 2 * len(need):
                block = ds[r0:r1]
                pngs.update({(k, r): block[r - r0] for r in need})
            else:
                pngs.update({(k, r): ds[r] for r in need})
        slots: dict[tuple[int, ...], int] = {}
        if reuse:
            for k, i in items:
                if splits[k].group != "base":
                    shape = base[int(splits[k].source_index[i])].shape
                    slots[shape] = slots.get(shape, 0) + 1
        blocks = {shape: self._buffers(shape, c) for shape, c in slots.items()}
        used = dict.fromkeys(blocks, 0)
        out = []
        for k, i in items:
            sp = splits[k]
            img = base[int(sp.source_index[i])]
            if sp.group != "base":
                r = int(sp.rows[i])
                x0, y0, x1, y1 = (int(v) for v in self._patches(k)[0][r])
                if reuse and img.dtype == np.uint8:
                    dst = blocks[img.shape][used[img.shape]]
                    used[img.shape] += 1
                    np.copyto(dst, img)
                    img = dst
                else:
                    img = img.copy()
                if x1 > x0 and y1 > y0:
                    patch = codec.imdecode_rgb(pngs[(k, r)])
                    if patch is None:
                        raise ValueError(f"{sp.group} row {r}: PNG patch cannot be decoded")
                    img[y0:y1, x0:x1] = patch
            out.append(img)
        return out


def _bulk_store_images(splits: list[Any], items: list[tuple[int, int]]) -> list[np.ndarray]:
    """Pixels of many store rows (:class:`_BulkReader`); checked against ``Split.image`` in the tests."""
    return _BulkReader(splits).images(items)


def bulk_readable(splits: list[Any]) -> set[int]:
    """Positions of the splits whose rows the bulk reader decodes exactly like ``split.image``.

    Checked on each split's first and last row (read one by one), so a store layout the bulk reader does not know
    falls back to ``split.image`` instead of giving different pixels.
    """
    ok: set[int] = set()
    for k, sp in enumerate(splits):
        if not _is_store_split(sp) or len(sp) == 0:
            continue
        try:
            reader = _BulkReader([sp])
            same = all(np.array_equal(reader.images([(0, i)])[0], sp.image(i)) for i in sorted({0, len(sp) - 1}))
        except (KeyError, ValueError, TypeError, AttributeError, IndexError):
            same = False
        if same:
            ok.add(k)
    return ok


def _load_images(
    splits: list[Any],
    items: list[tuple[int, int]],
    bulk: set[int] | None = None,
    reader: _BulkReader | None = None,
    reuse: bool = False,
) -> list[np.ndarray]:
    """Images of (split position, row) items: bulk store reads for the ``bulk`` splits, else ``split.image(row)``
    (``reuse``: see :meth:`_BulkReader.images`)."""
    if bulk is None:
        bulk = bulk_readable(splits)
    fast = [(k, i) for k, i in items if k in bulk]
    if fast and reader is None:
        reader = _BulkReader(splits)
    got = dict(zip(fast, reader.images(fast, reuse), strict=True)) if fast else {}  # type: ignore[union-attr]
    return [got[(k, i)] if (k, i) in got else splits[k].image(i) for k, i in items]


def _run(
    predictor: Any,
    names: list[str],
    split_objs: list[Any],
    tasks: list[_Task],
    threads: int,
    bar: Any,
) -> list[tuple[_Task, Prediction]]:
    """Run every batch; outputs are checked and collected here, in task order.

    A staged predictor with ``infer_concurrent`` (thread-safe, single-threaded inference) gets ``threads`` whole
    load → prepare → infer chains at once, one per worker thread, so each core runs one chain and no loader thread
    competes with inference threads. Otherwise batches are loaded (and prepared, for staged predictors) in
    ``threads`` threads and inferred here, one after the other.
    """
    staged = hasattr(predictor, "prepare") and hasattr(predictor, "infer")
    concurrent = staged and callable(getattr(predictor, "infer_concurrent", None))
    name = getattr(predictor, "name", type(predictor).__name__)

    bulk = bulk_readable(split_objs)
    reader = _BulkReader(split_objs) if bulk else None

    def load(task: _Task) -> tuple[_Task, Any]:
        # concurrent: prepare + infer_concurrent are done with the images when this returns, so this thread may
        # reuse their memory for its next batch
        images = _load_images(split_objs, task.items, bulk, reader, reuse=concurrent)
        boxes = task.boxes()
        if not staged:
            return task, images
        prepared = predictor.prepare(images, boxes)
        del images
        return task, (predictor.infer_concurrent(prepared, boxes) if concurrent else prepared)

    out: list[tuple[_Task, Prediction]] = []
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
                boxes = task.boxes()
                if concurrent:
                    raw = payload
                else:
                    raw = predictor.infer(payload, boxes) if staged else predictor.predict(payload, boxes)
                labels = [names[k] for k, _ in task.items]
                out.append((task, check_output(raw, task.ids.tolist(), name, labels)))
                if bar is not None:
                    bar.update(len(task.items))
        finally:
            for f in pending:
                f.cancel()
    return out


def _gather(
    results: list[tuple[_Task, Prediction]], split_objs: list[Any], names: list[str], model: str
) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Scatter batch outputs back into per-split arrays; 2D/3D, pose and dense must be consistent."""
    n = [len(sp) for sp in split_objs]
    dims = {p.landmarks.shape[2] for _, p in results}
    if len(dims) > 1:
        raise PredictionError(f"model {model}: landmarks switch between 2D and 3D from one batch to another")
    d = dims.pop() if dims else 2
    lms = [np.full((m, 68, d), np.nan) for m in n]
    has_ang = {p.angles_deg is not None for _, p in results}
    has_dense = {p.dense is not None for _, p in results}
    if len(has_ang) > 1 or len(has_dense) > 1:
        raise PredictionError(f"model {model}: some batches return pose or dense points and others do not")
    angs = [np.full((m, 3), np.nan) for m in n] if True in has_ang else None
    dense_p = {p.dense.shape[1] for _, p in results if p.dense is not None}
    if len(dense_p) > 1:
        raise PredictionError(f"model {model}: the number of dense points changes between batches")
    dense = [np.full((m, dense_p.copy().pop(), 3), np.nan) for m in n] if dense_p else None
    for task, p in results:
        for j, (k, i) in enumerate(task.items):
            lms[k][i] = p.landmarks[j]
            if angs is not None:
                angs[k][i] = p.angles_deg[j]  # type: ignore[index]
            if dense is not None:
                dense[k][i] = p.dense[j]  # type: ignore[index]
    return [(lms[k], None if angs is None else angs[k], None if dense is None else dense[k]) for k in range(len(n))]


def _pose_decoding(predictor: Any) -> str | None:
    """The named Euler decoding a predictor states for its angles (``pose_decoding`` attribute), if any."""
    from .metrics.rotation import POSE_DECODINGS

    value = getattr(predictor, "pose_decoding", None)
    return value if isinstance(value, str) and value in POSE_DECODINGS else None


def score_variants(protocol: str) -> list[tuple[str, Any]]:
    """(key, conventions) of every scoring of one protocol: the default conventions under the protocol's name, and
    for the sparse protocols the ``inner-51`` point set too, under ``"<protocol> points=inner-51"``."""
    from .protocols import Conventions, get_protocol

    out: list[tuple[str, Any]] = [(protocol, Conventions())]
    if "points" in get_protocol(protocol).uses:
        out.append((f"{protocol} points=inner-51", Conventions(points="inner-51")))
    return out


def _protocols_for(requested: str | Sequence[str] | None, dims: int, has_pose: bool) -> list[str]:
    if requested is not None:
        return [requested] if isinstance(requested, str) else list(requested)
    from .protocols import REGISTRY

    return [p.name for p in REGISTRY.values() if p.evaluated_by_default and p.applies(dims, has_pose, False)]


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
    progress: bool = True,
    model_spec: str | None = None,
) -> EvaluationResult:
    """Run ``predictor`` on every requested split of ``data``, score each, and optionally write the results.

    Work is ordered by source image across splits (every occluded variant of an image is decoded next to its
    clean image). A staged predictor with ``infer_concurrent`` (the ONNX adapters) runs ``threads`` whole
    load → prepare → infer chains at once, one per thread; other predictors are loaded and pre-processed in
    ``threads`` threads and inferred in the calling thread. Either way outputs are checked and gathered in order.

    Args:
        predictor: a :class:`Predictor` or a callable ``f(images, boxes)``.
        data: a built ``.h5`` store (path or open store), an AFLW2000-3D folder (clean split) or reader.
        splits: ``"all"``, one name, a comma list or a sequence of names.
        out_dir: when given, writes ``predictions/<split>.npz``, ``scores.csv``, ``per_sample.csv``,
            ``meta.json`` (into a temporary folder first, moved in place only when every split succeeded).
        batch_size: images per predictor call.
        threads: worker threads (loading, pre-processing and, for ``infer_concurrent`` predictors, inference).
        protocols: scoring protocols; default sparse-2d, plus sparse-3d for 3D landmarks and pose when
            the model predicts angles. The sparse protocols are scored under both point sets (``points=68`` and
            ``points=inner-51``; see :func:`score_variants`).
        seed: bootstrap seed of the scorer. n_boot: bootstrap resamples.
        progress: show a tqdm progress bar.
        model_spec: the model spec string, recorded in ``meta.json``.
    """
    pred = as_predictor(predictor)
    name = getattr(pred, "name", type(pred).__name__)
    if batch_size < 1:
        raise EvaluationError(f"batch size must be ≥ 1, got {batch_size}")
    t0 = time.perf_counter()
    with open_data(data, threads=threads) as ds:
        names = resolve_splits(splits, list(ds.splits))
        result = EvaluationResult(
            model=name,
            data=str(getattr(ds, "path", data)),
            data_version=str(getattr(ds, "version", "")),
            manifest_sha256=str(getattr(ds, "manifest_sha256", "")),
        )
        split_objs = [ds.split(s) for s in names]
        gts = [sp.ground_truth() for sp in split_objs]
        tasks = _plan(split_objs, gts, batch_size)
        bar = _progress_bar(sum(len(sp) for sp in split_objs), name, progress)
        try:
            outputs = _run(pred, names, split_objs, tasks, threads, bar)
        finally:
            if bar is not None:
                bar.close()
        per_split = _gather(outputs, split_objs, names, name)
    from .predictions import Predictions
    from .scoring import score

    for s, sp, gt, (lms, ang, dense) in zip(names, split_objs, gts, per_split, strict=True):
        ids = np.asarray(sp.ids).astype(str)
        res = SplitResult(s, ids, lms, ang, dense, gt)
        decoding = _pose_decoding(pred) if ang is not None else None
        preds = Predictions(
            ids=ids, landmarks=lms, angles_deg=ang, dense=dense, source=f"<{name}:{s}>", pose_decoding=decoding
        )
        for proto in _protocols_for(protocols, lms.shape[2], ang is not None):
            for key, conv in score_variants(proto):
                res.scores[key] = score(preds, gt, protocol=proto, seed=seed, n_boot=n_boot, conventions=conv)
        res.pose_decoding = decoding
        result.splits[s] = res
    result.seconds = time.perf_counter() - t0
    if out_dir is not None:
        write_results(result, Path(out_dir), model_spec=model_spec, seed=seed)
        result.out_dir = Path(out_dir)
    return result


def _progress_bar(total: int, name: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"evaluate {name}", unit="img", dynamic_ncols=True)


def write_results(result: EvaluationResult, out_dir: Path, *, model_spec: str | None, seed: int) -> None:
    """Write a results folder all-or-nothing: everything goes to a temporary sibling first, then moved in."""
    from .predictions import write_predictions

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
        meta = {
            "model": result.model,
            "model_spec": model_spec,
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
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
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
