"""The detector-in-the-loop protocol: real face detectors, matching to the ground-truth face, detection files.

The field's benchmarks drive every landmark model with boxes derived from the ground truth. Under the *detector*
protocol a real detector that ships offline finds the face first; a face it misses has no landmarks.

* :mod:`.base` — :class:`~.base.Candidates`, the :class:`~.base.Detector` protocol, the registry
  :data:`~.base.DETECTORS` (``dlib-hog``: :mod:`.dlib_hog`; ``blazeface``: :mod:`.blazeface`);
* :mod:`.boxes` — the box frame (1-based image pixels, like the ground truth), IoU, dlib conversions;
* :mod:`.match` — which candidate is the ground-truth face (IoU ≥ 0.3 with the 68-point box, at most one);
* :mod:`.calibration` — each detector's box convention, to drive a model with the crop rule it uses on ground truth;
* :mod:`.files` — the detection file of one split; :mod:`.run` — a detector over every split of a store
  (``aflw-occ detect``); :mod:`.rates` — its detection-rate table;
* :mod:`.protocol` — the two box protocols of ``aflw-occ evaluate`` (``--boxes ground-truth|detector:DIR``) and the
  boxes a model gets under each;
* :mod:`.scoring` — detection rate and the figures that count misses as failures (:mod:`aflw_occ.metrics.detection`).
"""

from __future__ import annotations

from .base import DETECTORS, Candidates, Detector, DetectorError, make_detector
from .files import DetectionFileError, SplitDetections, read_detections, write_detections
from .match import IOU_THRESHOLD, match_all, match_one

__all__ = [
    "DETECTORS",
    "IOU_THRESHOLD",
    "Candidates",
    "DetectionFileError",
    "Detector",
    "DetectorError",
    "SplitDetections",
    "make_detector",
    "match_all",
    "match_one",
    "read_detections",
    "write_detections",
]
