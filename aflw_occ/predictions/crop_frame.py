"""3DDFA crop coordinates → image pixels: :class:`CropFrame` (``aflw-occ score --crop-boxes``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..crops import crop_to_image
from ..errors import PredictionError
from .contract import Predictions


@dataclass(frozen=True)
class CropFrame:
    """3DDFA's crop boxes, to map landmarks from 120×120 crop coordinates to image pixels.

    3DDFA's ``_predict_vertices`` (``utils/inference.py``; SynergyNet's is the same) maps a crop-coordinate point
    (x_c, y_c, z_c) — as its ``reconstruct_vertex`` returns it, y already flipped — through the box
    [sx, sy, ex, ey]:  x = x_c·(ex − sx)/S + sx,  y = y_c·(ey − sy)/S + sy,  z = z_c·(s_x + s_y)/2, S = 120.
    Its outputs are then compared with ``pt3d_68`` as they are, so they are in the ground truth's 1-based pixels.

    Attributes:
        boxes: (M, 4) [sx, sy, ex, ey] per image (``AFLW2000-3D_crop.roi_box.npy``).
        names: (M,) the image id of each box (``AFLW2000-3D_crop.list`` without ``.jpg``), release sorted order.
        size: crop side S (120).
        source: the box file.
    """

    boxes: np.ndarray
    names: np.ndarray
    size: int = 120
    source: str = "<memory>"

    @classmethod
    def load(cls, roi_box_file: str | Path, list_file: str | Path | None = None, size: int = 120) -> CropFrame:
        """Read ``AFLW2000-3D_crop.roi_box.npy`` and its name list (default: ``AFLW2000-3D_crop.list`` beside it)."""
        p = Path(roi_box_file)
        names_p = Path(list_file) if list_file is not None else p.with_name("AFLW2000-3D_crop.list")
        for f, what in ((p, "crop-box file"), (names_p, "name list of the crop boxes")):
            if not f.is_file():
                raise PredictionError(f"{f}: {what} does not exist (3DDFA's AFLW2000-3D_crop.roi_box.npy + .list)")
        try:
            boxes = np.load(p, allow_pickle=False).astype(np.float64)
        except Exception as exc:
            raise PredictionError(f"{p}: not a readable crop-box .npy ({type(exc).__name__}: {exc})") from None
        names = np.array([Path(n.strip()).stem for n in names_p.read_text().splitlines() if n.strip()])
        if boxes.ndim != 2 or boxes.shape[1] < 4 or boxes.shape[0] != names.shape[0]:
            raise PredictionError(
                f"{p}: crop boxes have shape {boxes.shape}, expected ({names.shape[0]}, 4) (one per name in {names_p})"
            )
        return cls(boxes=boxes[:, :4], names=names, size=size, source=str(p))

    def to_image(self, pred: Predictions) -> Predictions:
        """The same predictions with landmarks (and dense points) mapped from crop coordinates to image pixels.

        Rows are matched to boxes by id, or row by row when the ids are implied (release sorted order).
        """
        src = pred.source
        if pred.landmarks is None and pred.dense is None:
            raise PredictionError(f"{src}: has no landmarks or dense points to map from crop coordinates")
        if pred.implied_ids:
            if len(pred) != len(self.names):
                raise PredictionError(
                    f"{src}: {len(pred)} rows in the release's order, but {self.source} has {len(self.names)} boxes"
                )
            rows = np.arange(len(pred))
        else:
            index = {n: i for i, n in enumerate(self.names.tolist())}
            rows = np.array([index.get(i, -1) for i in pred.ids.tolist()], dtype=np.int64)  # type: ignore[union-attr]
            if rows.size and rows.min() < 0:
                first = pred.ids[int(np.flatnonzero(rows < 0)[0])]  # type: ignore[index]
                raise PredictionError(
                    f"{src}: id {first} has no crop box in {self.source} (crop boxes are per AFLW2000-3D image)"
                )
        boxes = self.boxes[rows]
        lm = None if pred.landmarks is None else crop_to_image(pred.landmarks, boxes, self.size)
        dense = None if pred.dense is None else crop_to_image(pred.dense, boxes, self.size)
        note = f"landmarks converted from {self.size}×{self.size} crop coordinates with {self.source}"
        return replace(pred, landmarks=lm, dense=dense, notes=(*pred.notes, note))
