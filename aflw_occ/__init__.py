"""aflw-occ: AFLW2000-3D-occlusion rebuilt deterministically, exact per-protocol scoring, DSFNet reference."""

from __future__ import annotations

from .errors import AflwOccError, PredictionError, SourceError, StoreError
from .groundtruth import GroundTruth
from .source import AFLW2000_3D, Sample

__version__ = "0.1.0"

__all__ = [
    "AFLW2000_3D",
    "AflwOccError",
    "GroundTruth",
    "PredictionError",
    "Sample",
    "SourceError",
    "StoreError",
    "__version__",
]
