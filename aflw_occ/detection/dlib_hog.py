"""dlib's frontal face detector (HOG features + linear SVM, ``dlib.get_frontal_face_detector()``).

Installed by ``pip install 'aflw-occ[detect]'`` (``dlib-bin``: a prebuilt wheel, ``import dlib``). The detector is
part of dlib itself (no model file). It runs single-threaded and is deterministic.

``detect(image)`` calls ``detector.run(image, upsample, threshold)``: the image is upsampled ``upsample`` times by 2
before the sliding-window search (the model's window is 80 × 80 pixels; ``upsample=1`` finds faces down to about
40 pixels), and every window with an SVM margin above ``threshold`` is kept after dlib's own non-maximum suppression.
dlib's rectangles (inclusive 0-based pixel indices) become boxes by :func:`aflw_occ.detection.boxes.from_dlib_ltrb`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Candidates, DetectorError, check_image
from .boxes import from_dlib_ltrb

#: no upsampling: the smallest face of AFLW2000-3D (68-point box √(w·h) = 129 px) is far above the 80-pixel window;
#: one upsampling (dlib's examples) finds no more faces on the clean split (1495 matched, against 1500) for 4.4× the CPU
DEFAULT_UPSAMPLE = 0


def import_dlib() -> Any:
    """``import dlib``, or :class:`DetectorError` saying what to install."""
    try:
        import dlib
    except ImportError:
        raise DetectorError(
            "the dlib-hog detector needs dlib: pip install 'aflw-occ[detect]' (installs the dlib-bin wheel)"
        ) from None
    return dlib


class DlibHogDetector:
    """``dlib.get_frontal_face_detector()`` as a :class:`~aflw_occ.detection.base.Detector`.

    Args:
        upsample: times the image is upsampled by 2 before the search (≥ 0).
        threshold: SVM margin a window must exceed (dlib's ``adjust_threshold``; 0 is dlib's default).
    """

    name = "dlib-hog"

    def __init__(self, upsample: int = DEFAULT_UPSAMPLE, threshold: float = 0.0) -> None:
        self._dlib = import_dlib()
        if int(upsample) != upsample or upsample < 0:
            raise DetectorError(f"dlib-hog: upsample must be a non-negative integer, got {upsample}")
        self.upsample = int(upsample)
        self.threshold = float(threshold)
        self._detector = self._dlib.get_frontal_face_detector()
        self.version = f"dlib {self._dlib.__version__} get_frontal_face_detector"
        self.settings: dict[str, Any] = {"upsample": self.upsample, "threshold": self.threshold}

    def detect(self, image: np.ndarray) -> Candidates:
        """Every face dlib finds in ``image`` ((H, W, 3) uint8 RGB), best score first."""
        img = check_image(image, "dlib-hog")
        rects, scores, _ = self._detector.run(img, self.upsample, self.threshold)
        if not len(rects):
            return Candidates.none()
        ltrb = np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in rects], dtype=np.float64)
        return Candidates(from_dlib_ltrb(ltrb), np.asarray(scores, dtype=np.float64))
