"""What a face detector is to aflw-occ: :class:`Candidates` per image, the :class:`Detector` protocol, the registry.

A detector turns one RGB uint8 image (H, W, 3) into every face it finds, as :class:`Candidates` in the box frame of
:mod:`aflw_occ.detection.boxes` (1-based image pixels, like the ground truth). It is deterministic: the same pixels
give the same boxes (both shipped detectors run single-threaded on the CPU). Its ``name`` is the registry key, its
``version`` names the library and model file, and ``settings`` every option that changes its output; all three are
recorded in each detection file.

Detectors are made by name through :data:`DETECTORS` (lazily: dlib and ai-edge-litert are optional extras).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import AflwOccError
from ..registries import load_target

__all__ = ["Candidates", "Detector", "DetectorError", "DetectorInfo", "DETECTORS", "make_detector"]


class DetectorError(AflwOccError):
    """A detector cannot be made or run (library or model file missing, bad option, bad image)."""


@dataclass(frozen=True)
class Candidates:
    """Every face a detector found in one image, best first.

    Attributes:
        boxes: (K, 4) float64 ``[x0, y0, x1, y1]``, 1-based image pixels (:mod:`aflw_occ.detection.boxes`).
        scores: (K,) float64 detector confidences (dlib: SVM margin; BlazeFace: sigmoid probability).
    """

    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        b = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        s = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if len(b) != len(s):
            raise DetectorError(f"{len(b)} boxes but {len(s)} scores")
        order = np.argsort(-s, kind="stable")
        object.__setattr__(self, "boxes", b[order])
        object.__setattr__(self, "scores", s[order])

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def none(cls) -> Candidates:
        return cls(np.zeros((0, 4)), np.zeros(0))


@runtime_checkable
class Detector(Protocol):
    """A face detector: ``detect(image) -> Candidates``; ``name``, ``version`` and ``settings`` describe it."""

    name: str
    version: str
    settings: dict[str, Any]

    def detect(self, image: np.ndarray) -> Candidates: ...


@dataclass(frozen=True)
class DetectorInfo:
    """A registered detector: how to make it (``"module:attr"``, imported on use) and what it needs."""

    name: str
    factory: str
    description: str
    needs: str  #: what to install / fetch (shown in errors and ``aflw-occ detect --help``)

    def make(self, **options: Any) -> Detector:
        cls: Callable[..., Detector] = load_target(self.factory)
        return cls(**options)


#: every detector of the detector-in-the-loop protocol, by name
DETECTORS: dict[str, DetectorInfo] = {
    d.name: d
    for d in (
        DetectorInfo(
            "dlib-hog",
            "aflw_occ.detection.dlib_hog:DlibHogDetector",
            "dlib's HOG + linear SVM frontal face detector (get_frontal_face_detector)",
            "pip install 'aflw-occ[detect]' (dlib-bin)",
        ),
        DetectorInfo(
            "blazeface",
            "aflw_occ.detection.blazeface:BlazeFaceDetector",
            "MediaPipe BlazeFace short-range (face_detection_short_range.tflite, 128x128) on ai-edge-litert",
            "pip install 'aflw-occ[detect]' (ai-edge-litert) and `aflw-occ models fetch mediapipe-blazeface`",
        ),
    )
}


def make_detector(name: str, **options: Any) -> Detector:
    """The detector registered as ``name``; :class:`DetectorError` naming the known ones otherwise."""
    info = DETECTORS.get(name)
    if info is None:
        raise DetectorError(f"unknown detector '{name}' (choose from {', '.join(DETECTORS)})")
    return info.make(**options)


def check_image(image: np.ndarray, what: str) -> np.ndarray:
    """A C-contiguous (H, W, 3) uint8 image; :class:`DetectorError` naming ``what`` otherwise."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise DetectorError(f"{what}: expected an (H, W, 3) uint8 RGB image, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)
