"""Which detection is the ground-truth face: the matching rule of the detector protocol.

**Rule.** The reference box of an image is the tight box of its 68 ground-truth points (x/y extents,
:func:`aflw_occ.crops.landmark_box`). A candidate box *matches* when its IoU with the reference box is at least
:data:`IOU_THRESHOLD` (0.3); of several matching candidates the one with the highest IoU is the image's detection
(ties: the higher score, then the earlier candidate). At most one detection per image; an image without a matching
candidate is a *miss*, whatever else the detector found (a box on another face or on an occluder is not the face).

**Why 0.3, not the usual 0.5.** The detectors' boxes follow their own conventions, not the 68-point box: dlib's HOG
box covers the forehead rather than the chin and slides toward the nose on turned faces; on the clean split its IoU
with the 68-point box has median 0.68 and is below 0.5 for 147 of its 1500 matches, every one of them a box on the
face. The best candidates' IoUs are bimodal, with an almost empty valley below 0.35: dlib has 8 of its 1508 images
with a candidate below 0.2 and 1 between 0.2 and 0.35, BlazeFace 2 of 1980 below 0.2 and 1 between 0.2 and 0.35;
the boxes below the threshold lie on another face, or far off the face (checked by eye). The second-best candidate
of an image stays below 0.3 (BlazeFace at most 0.299, dlib 0.04). Numbers: docs/benchmarks.md, *Detector-in-the-loop*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import iou_matrix

__all__ = ["IOU_THRESHOLD", "RULE", "Match", "match_one", "match_all"]

IOU_THRESHOLD = 0.3
#: one-line statement of the rule, recorded in every detection file
RULE = (
    f"IoU with the tight box of the 68 ground-truth points >= {IOU_THRESHOLD}; "
    "highest IoU (then score) wins; at most one detection per image"
)


@dataclass(frozen=True)
class Match:
    """The outcome of matching one image's candidates.

    Attributes:
        index: position of the matched candidate, or -1 for a miss.
        iou: IoU of the best candidate with the reference box (0 when there is no candidate), matched or not.
    """

    index: int
    iou: float

    @property
    def detected(self) -> bool:
        return self.index >= 0


def match_one(
    boxes: np.ndarray, scores: np.ndarray, reference: np.ndarray, threshold: float = IOU_THRESHOLD
) -> Match:
    """Match an image's candidates to its reference box (see the module docstring).

    Args:
        boxes: (K, 4) candidate boxes. scores: (K,) their scores. reference: (4,) the 68-point box.
        threshold: minimum IoU of a match.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(b):
        return Match(-1, 0.0)
    ious = iou_matrix(b, reference)[:, 0]
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.lexsort((np.arange(len(b)), -s, -ious))  # IoU desc, then score desc, then index
    best = int(order[0])
    return Match(best if ious[best] >= threshold else -1, float(ious[best]))


def match_all(
    candidates: list[tuple[np.ndarray, np.ndarray]], references: np.ndarray, threshold: float = IOU_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """Match every image: ``candidates[i] = (boxes (K_i, 4), scores (K_i,))``, ``references`` (N, 4).

    Returns:
        ``(index (N,) int64, iou (N,) float64)``: the matched candidate of each image (-1: miss) and the best IoU.
    """
    refs = np.asarray(references, dtype=np.float64).reshape(-1, 4)
    if len(candidates) != len(refs):
        raise ValueError(f"{len(candidates)} candidate lists for {len(refs)} reference boxes")
    out = [match_one(b, s, r, threshold) for (b, s), r in zip(candidates, refs, strict=True)]
    return np.array([m.index for m in out], dtype=np.int64), np.array([m.iou for m in out], dtype=np.float64)
