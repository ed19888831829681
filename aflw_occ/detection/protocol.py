"""The two box protocols of ``aflw-occ evaluate``, and how a detector's box drives a landmark model.

* ``ground-truth`` (the default, the field's protocol): every face is evaluated; the model gets boxes derived from
  the ground truth — the tight box of the 68 ground-truth points (``FaceBoxes.face``) and 3DDFA's roi box
  (``FaceBoxes.roi``) — and applies its own crop rule to them.
* ``detector`` (``--boxes detector:DIR``): a detection file per split (``aflw-occ detect``) says which faces the
  detector found and where. Only detected faces are run; a missed face has no landmarks. The model gets boxes made
  from the detector's box by the detector's measured box convention (:mod:`.calibration`): ``face`` = the estimated
  68-point box, ``roi`` = 3DDFA's roi rule applied to it, so every model applies **the same crop rule as with
  ground-truth boxes**; ``FaceBoxes.detected`` holds the detector's own box and ``FaceBoxes.detector`` its name, for
  a model that was trained on that detector's boxes (dlib's shape predictor with dlib-hog boxes uses them directly).

The two never share a number: every score of the detector protocol is reported with ``box_protocol=detector`` and
the detector named, NMEs over the detected faces only, plus the detection rate and the figures that count misses
as failures (:mod:`.scoring`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .boxes import to_dlib_ltrb
from .calibration import convention, roi_from_face
from .files import DetectionFileError, SplitDetections, check_store, read_detections, split_file

__all__ = [
    "BOX_PROTOCOLS",
    "DETECTOR",
    "GROUND_TRUTH",
    "DetectorBoxes",
    "DetectorFaceBoxes",
    "SplitBoxes",
    "box_protocol_label",
    "detector_face_boxes",
    "dlib_rectangles",
    "parse_boxes",
    "split_boxes",
]

GROUND_TRUTH = "ground-truth"
DETECTOR = "detector"
BOX_PROTOCOLS: tuple[str, ...] = (GROUND_TRUTH, DETECTOR)


@dataclass(frozen=True)
class DetectorFaceBoxes:
    """The boxes a model gets for detected faces (row-aligned, (N, 4) each).

    Attributes:
        face: the estimated tight 68-point box (the detector's box through its :class:`~.calibration.BoxConvention`).
        roi: 3DDFA's roi box of ``face`` (:func:`~.calibration.roi_from_face`).
        detected: the detector's own box.
    """

    face: np.ndarray
    roi: np.ndarray
    detected: np.ndarray


class DetectorBoxes:
    """The detections of ``--boxes detector:PATH``: a folder of ``<split>.npz`` files or one file (one split).

    Every file is checked against the store being evaluated (data version, manifest, split, ids) and all of them must
    come from one detector run (same detector, version, settings and match rule).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DetectionFileError(
                f"{self.path}: no such detection folder or file (make it with `aflw-occ detect STORE --detector "
                "dlib-hog|blazeface --out DIR`)"
            )
        self._loaded: dict[str, SplitDetections] = {}

    def file_for(self, split: str) -> Path:
        if self.path.is_dir():
            return split_file(self.path, split)
        return self.path

    def load(self, split: str, data_version: str, manifest_sha256: str, ids: np.ndarray) -> SplitDetections:
        """The checked detections of ``split`` (:class:`DetectionFileError` naming the file and what to do)."""
        if split in self._loaded:
            return self._loaded[split]
        f = self.file_for(split)
        if not f.is_file():
            raise DetectionFileError(
                f"{f}: no detections of split {split!r}; run `aflw-occ detect STORE --detector NAME --out "
                f"{self.path if self.path.is_dir() else self.path.parent}` (or evaluate only the splits it holds)"
            )
        det = read_detections(f)
        check_store(det, data_version, manifest_sha256, split, ids)
        for other in self._loaded.values():
            if other.identity() != det.identity():
                raise DetectionFileError(
                    f"{f}: made by another detector run than {other.path} ({det.describe()} vs {other.describe()}); "
                    "one evaluation uses one detector run"
                )
        convention(det.detector)  # a detector without a measured box convention cannot drive a model
        self._loaded[split] = det
        return det

    @property
    def detector(self) -> str | None:
        first = next(iter(self._loaded.values()), None)
        return None if first is None else first.detector

    def describe(self) -> str:
        first = next(iter(self._loaded.values()), None)
        return "detections not loaded yet" if first is None else first.describe()


def parse_boxes(spec: str | None) -> DetectorBoxes | None:
    """``--boxes`` → None for the ground-truth protocol (``None``, ``ground-truth``, ``gt``), or
    :class:`DetectorBoxes` for ``detector:PATH``; :class:`DetectionFileError` for anything else."""
    if spec is None or spec.strip().lower() in (GROUND_TRUTH, "gt"):
        return None
    kind, sep, rest = spec.partition(":")
    if kind.strip().lower() != DETECTOR or not sep or not rest.strip():
        raise DetectionFileError(
            f"--boxes {spec!r}: give 'ground-truth' (default) or 'detector:DIR' (a folder of `aflw-occ detect`)"
        )
    return DetectorBoxes(rest.strip())


def detector_face_boxes(det: SplitDetections, rows: np.ndarray) -> DetectorFaceBoxes:
    """The model's boxes for the detected ``rows`` of a split (see the module docstring)."""
    idx = np.asarray(rows, dtype=np.int64)
    raw = det.box[idx]
    if not np.isfinite(raw).all():
        raise DetectionFileError(f"{det.path}: a requested row has no detection")
    face = convention(det.detector).to_face(raw)
    return DetectorFaceBoxes(face=face, roi=roi_from_face(face), detected=raw)


@dataclass(frozen=True)
class SplitBoxes:
    """What one split contributes to an evaluation under a box protocol: the rows the model runs on and, row-aligned
    with the whole split, the boxes it gets (NaN rows for faces the detector missed).

    Attributes:
        rows: (M,) the split rows to run (every row under the ground-truth protocol, the detected ones otherwise).
        face: (N, 4) the face boxes (tight 68-point box, or its estimate from the detector's box).
        roi: (N, 4) 3DDFA roi boxes, or None (no finite roi box: a store built without 3DDFA's files).
        detected: (N, 4) the detector's own boxes, or None under the ground-truth protocol.
        detector: the detector's name, or None.
        detections: the split's :class:`SplitDetections`, or None.
        inner: (N, 4) tight box of the 51 inner ground-truth points (17–67, no jaw line) under the ground-truth
            protocol, else None (a detector gives no such box).
    """

    rows: np.ndarray
    face: np.ndarray
    roi: np.ndarray | None
    detected: np.ndarray | None = None
    detector: str | None = None
    detections: SplitDetections | None = None
    inner: np.ndarray | None = None


def split_boxes(
    boxes: DetectorBoxes | None,
    split: str,
    ids: np.ndarray,
    landmarks: np.ndarray,
    roi_boxes: np.ndarray | None,
    data_version: str,
    manifest_sha256: str,
) -> SplitBoxes:
    """The :class:`SplitBoxes` of one split (``landmarks``: (N, 68, 2|3) ground truth; ``roi_boxes``: (N, 4) or
    None)."""
    from ..crops import landmark_box

    n = len(ids)
    if boxes is None:
        roi = None if roi_boxes is None else np.asarray(roi_boxes, dtype=np.float64)
        if roi is not None and not np.isfinite(roi).all():
            roi = None
        return SplitBoxes(np.arange(n), landmark_box(landmarks), roi, inner=landmark_box(landmarks[:, 17:]))
    det = boxes.load(split, data_version, manifest_sha256, np.asarray(ids).astype(str))
    rows = np.flatnonzero(det.detected)
    face = np.full((n, 4), np.nan)
    roi = np.full((n, 4), np.nan)
    if len(rows):
        made = detector_face_boxes(det, rows)
        face[rows], roi[rows] = made.face, made.roi
    return SplitBoxes(rows, face, roi, det.box.copy(), det.detector, det)


def box_protocol_label(boxes: DetectorBoxes | None) -> str:
    """``ground-truth``, or ``detector:<name>`` once the detections are loaded."""
    if boxes is None:
        return GROUND_TRUTH
    return f"{DETECTOR}:{boxes.detector or '?'}"


def dlib_rectangles(boxes: Any) -> np.ndarray | None:
    """dlib's rectangles for a batch under the detector box protocol, None under the ground-truth protocol.

    dlib's shape predictor was trained on its HOG detector's boxes: with ``dlib-hog`` detections it gets the
    detector's own boxes exactly (:func:`~.boxes.to_dlib_ltrb`); with another detector, the box dlib's detector would
    give around the estimated 68-point box (the ``dlib-hog`` box convention, inverted:
    :meth:`~.calibration.BoxConvention.from_face`).

    Returns:
        (N, 4) int64 ``(left, top, right, bottom)`` (0-based inclusive pixel indices), or None.
    """
    detector = getattr(boxes, "detector", None)
    if detector is None:
        return None
    if detector == "dlib-hog":
        return to_dlib_ltrb(boxes.detected)
    return to_dlib_ltrb(convention("dlib-hog").from_face(boxes.face))
