"""DSFNet (``dsfnet_model``) as a predictor: the tight ground-truth landmark box in, 1.5× crop done by DSFNet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.predictor import BatchPrediction
from .options import Option
from .registry import Adapter


class DSFNetAdapter:
    """Wrap :class:`dsfnet_model.predictor.DSFNetPredictor` (torch) for :func:`aflw_occ.evaluation.evaluate`.

    DSFNet takes landmark-style boxes and crops at 1.5× itself (the SADRNet/DSFNet protocol), so it is given the
    tight box of the 68 ground-truth points. Returns 3D landmarks and head pose; dense points only with
    ``dense=True`` (43,867 points per image: memory grows fast).
    """

    def __init__(
        self, weights: str | Path, *, basis: str | Path | None = None, dense: bool = False, threads: int | None = None
    ) -> None:
        from dsfnet_model.predictor import DSFNetPredictor

        self.model = DSFNetPredictor(weights, basis=basis, deterministic=True, num_threads=threads)
        self.dense = dense
        self.name = f"dsfnet-{Path(weights).stem}"

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> Any:
        out = self.model.predict_full(list(images), np.asarray(boxes.face, dtype=np.float64), dense=self.dense)
        return BatchPrediction(
            landmarks=out["landmarks"], dense=out.get("dense") if self.dense else None, angles_deg=out["pose"]
        )


def load(path: str | None, options: dict[str, Any], threads: int) -> DSFNetAdapter:
    """The ``dsfnet`` factory."""
    return DSFNetAdapter(str(path), basis=options.get("basis"), threads=threads)


ADAPTER = Adapter(
    kind="dsfnet",
    summary="The DSFNet reference implementation (torch): 3D landmarks and head pose from the tight ground-truth "
    "landmark box, cropped at 1.5× by DSFNet.",
    factory=load,
    options=(
        Option("basis", "DSFNet's UV-space basis file (default: $AFLW_OCC_DSFNET_BASIS or beside the weights)",
               metavar="FILE"),
    ),
    extra="torch",
)  # fmt: skip
