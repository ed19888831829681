"""Bool pixel masks: their bounding box (the store's patch box, a builder's region box)."""

from __future__ import annotations

import numpy as np

#: the box of an empty mask
EMPTY_BOX = (0, 0, 0, 0)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """[x0, y0, x1, y1) bounding box of an (H, W) bool mask, or :data:`EMPTY_BOX` when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return EMPTY_BOX
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
