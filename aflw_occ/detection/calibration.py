"""From a detector's box to the box a model expects: each detector's box convention, measured once.

A landmark model is driven under the ground-truth protocol by boxes derived from the 68 ground-truth points (the tight
68-point box, or 3DDFA's roi box made from it). Under the detector protocol the same crop rule is applied to the
detector's box *translated into that frame*: the :class:`BoxConvention` of each detector maps its box to an estimate
of the tight 68-point box. This keeps the two protocols comparable — they differ by what a detector really adds (misses,
box jitter, pose-dependent drift), not by a constant difference of box conventions (dlib's HOG box is about 1.05 × the
68-point box wide, 1.1 × high, and sits 0.055 box sides higher; BlazeFace's is similar).

**The convention** (4 numbers per detector): with ``s = ((x1 − x0) + (y1 − y0))/2`` and centre ``(cx, cy)`` of the
detector's box, the estimated 68-point box has centre ``(cx + dx·s, cy + dy·s)``, width ``kw·s`` and height
``kh·s``. :func:`derive` computes ``dy, kw, kh`` as medians over the matched detections of the clean split of
AFLW2000-3D (data version 2.0.0) of ``(c_gt,y − cy)/s``, ``w_gt/s``, ``h_gt/s``; ``dx = 0`` by mirror symmetry (a
left/right-symmetric detector has no horizontal offset; the signed median only reflects the data set's share of
left- vs right-turned faces). Medians of box geometry only, never tuned on any landmark error.

**3DDFA's roi box** from a 68-point box (:func:`roi_from_face`): the square of side ``√2 · max(w, h)`` with the same
centre — the rule of 3DDFA's ``parse_roi_box_from_landmark``; from the 68 ground-truth points it reproduces the shipped
``AFLW2000-3D_crop.roi_box.npy``: IoU median 0.996, at least 0.95 for 1980 of the 2000 images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BoxConvention", "CONVENTIONS", "convention", "derive", "roi_from_face"]


@dataclass(frozen=True)
class BoxConvention:
    """How a detector's box relates to the tight 68-point box (see the module docstring).

    Attributes:
        dx, dy: centre offset of the 68-point box from the detector box's centre, in units of its mean side ``s``.
        kw, kh: width and height of the 68-point box in units of ``s``.
        source: how the numbers were measured.
    """

    dx: float
    dy: float
    kw: float
    kh: float
    source: str = ""

    def to_face(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) detector boxes → (N, 4) estimated tight 68-point boxes.

        ``s = ((x1 − x0) + (y1 − y0))/2``; centre ``(cx + dx·s, cy + dy·s)``; size ``(kw·s, kh·s)``.
        """
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        s = ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) / 2.0
        cx = (b[:, 0] + b[:, 2]) / 2.0 + self.dx * s
        cy = (b[:, 1] + b[:, 3]) / 2.0 + self.dy * s
        hw, hh = self.kw * s / 2.0, self.kh * s / 2.0
        return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)

    def from_face(self, faces: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_face`: (N, 4) 68-point boxes → (N, 4) boxes in this detector's convention.

        ``s = (w + h)/(kw + kh)``; centre ``(c_x − dx·s, c_y − dy·s)``; the detector's box side follows from its
        aspect ``(w/kw, h/kh)`` averaged to the square ``s × s`` (both shipped detectors return square boxes).
        """
        f = np.asarray(faces, dtype=np.float64).reshape(-1, 4)
        s = ((f[:, 2] - f[:, 0]) + (f[:, 3] - f[:, 1])) / (self.kw + self.kh)
        cx = (f[:, 0] + f[:, 2]) / 2.0 - self.dx * s
        cy = (f[:, 1] + f[:, 3]) / 2.0 - self.dy * s
        return np.stack([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], axis=1)


_MEASURED = "medians over the {} matched detections of the clean split (data 2.0.0, manifest a60646e046f1)"

#: measured conventions of the registered detectors (:func:`derive` on the clean split; docs/benchmarks.md; re-derived
#: from the detector's own output on the real data by tests/test_detection_real.py)
CONVENTIONS: dict[str, BoxConvention] = {
    "dlib-hog": BoxConvention(0.0, 0.0547, 0.9563, 0.9110, _MEASURED.format(1500)),
    "blazeface": BoxConvention(0.0, 0.0430, 0.9410, 0.9216, _MEASURED.format(1978)),
}


def convention(detector: str) -> BoxConvention:
    """The :class:`BoxConvention` of a registered detector."""
    from .base import DetectorError

    if detector not in CONVENTIONS:
        raise DetectorError(f"no box convention for detector '{detector}' (known: {', '.join(CONVENTIONS)})")
    return CONVENTIONS[detector]


def derive(detected: np.ndarray, faces: np.ndarray, source: str = "") -> BoxConvention:
    """Measure a detector's :class:`BoxConvention` from matched pairs.

    Args:
        detected: (N, 4) matched detector boxes. faces: (N, 4) tight 68-point boxes of the same images.

    Returns:
        ``dx = 0``, ``dy = median((c_gt,y − cy)/s)``, ``kw = median(w_gt/s)``, ``kh = median(h_gt/s)``.
    """
    d = np.asarray(detected, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(faces, dtype=np.float64).reshape(-1, 4)
    if len(d) != len(g) or not len(d):
        raise ValueError(f"need as many matched detections as faces (got {len(d)} and {len(g)}), at least one")
    s = ((d[:, 2] - d[:, 0]) + (d[:, 3] - d[:, 1])) / 2.0
    dy = ((g[:, 1] + g[:, 3]) - (d[:, 1] + d[:, 3])) / 2.0 / s
    return BoxConvention(
        0.0,
        float(np.median(dy)),
        float(np.median((g[:, 2] - g[:, 0]) / s)),
        float(np.median((g[:, 3] - g[:, 1]) / s)),
        source,
    )


def roi_from_face(faces: np.ndarray) -> np.ndarray:
    """3DDFA's roi box from (N, 4) 68-point boxes: the square of side ``√2·max(w, h)`` around the same centre."""
    f = np.asarray(faces, dtype=np.float64).reshape(-1, 4)
    cx, cy = (f[:, 0] + f[:, 2]) / 2.0, (f[:, 1] + f[:, 3]) / 2.0
    half = np.sqrt(2.0) * np.maximum(f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]) / 2.0
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)
