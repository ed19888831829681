"""aflw-occ: AFLW2000-3D-occlusion rebuilt deterministically, exact per-protocol scoring, DSFNet reference."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import AflwOccError, PredictionError, SourceError, StoreError
from .groundtruth import GroundTruth
from .source import AFLW2000_3D, Sample
from .version import __version__

# heavier parts of the API, imported on first use so `import aflw_occ` (and every CLI command) stays fast
_LAZY: dict[str, str] = {
    "Predictions": "aflw_occ.predictions",
    "read_predictions": "aflw_occ.predictions",
    "write_predictions": "aflw_occ.predictions",
    "CropFrame": "aflw_occ.predictions",
    "Conventions": "aflw_occ.protocols",
    "REGISTRY": "aflw_occ.protocols",
    "ScoreResult": "aflw_occ.scoring",
    "compare": "aflw_occ.scoring",
    "score": "aflw_occ.scoring",
    "open_store": "aflw_occ.store",
    "read_ground_truth": "aflw_occ.store",
    "evaluate": "aflw_occ.evaluation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aflw_occ' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AFLW2000_3D",
    "AflwOccError",
    "GroundTruth",
    "PredictionError",
    "Sample",
    "SourceError",
    "StoreError",
    "__version__",
    *_LAZY,
]
