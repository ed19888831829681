"""CSOD, the Color Synthetically Occluded Dataset: solid-colour occluders, three variants per image.

The paper never published sizes, colours or placement; these are this toolkit's definitions (``docs/csod.md``).
Let the face box be the extent of the 68 ground-truth landmarks, ``w × h``, and ``s = √(w·h)``.

* **single** — one square of side ``a ~ U(0.35, 0.60)·s`` whose centre is uniform in the central 80 % of the face
  box (so the square always lies on the face).
* **double** — two squares, sides ``a₁, a₂ ~ U(0.25, 0.45)·s``; the first centred as *single*; the second's centre
  is offset by ``(dx, dy)``, each uniform in ``±0.8·(a₁+a₂)/2``, so the two always intersect. The second is drawn
  over the first.
* **column** — a rectangle of the image's full height, width ``U(0.20, 0.40)·w``, centre x uniform in the central
  80 % of the face box.

Colours: each occluder gets one solid RGB colour, each channel uniform in {0, …, 255}. Rectangles are pixel-exact
(no anti-aliasing): a rectangle with centre ``c`` and side ``a`` covers the pixels
``round(c − a/2) ≤ i < round(c + a/2)`` clipped to the image. Every drawn value is recorded in the sample's ``params``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..landmark_patches import landmarks_under
from .base import (
    Builder,
    BuilderConfig,
    Example,
    Occluder,
    SourceSample,
    covered_fraction,
    hex_colour,
)
from .registry import Subset

SINGLE_SIDE = (0.35, 0.60)
DOUBLE_SIDE = (0.25, 0.45)
DOUBLE_OVERLAP = 0.8
COLUMN_WIDTH = (0.20, 0.40)
CENTRE_SPAN = 0.8


def _uniform_in_box(rng: np.random.Generator, box: np.ndarray, span: float) -> tuple[float, float]:
    """A point uniform in the central ``span`` fraction of box [x0, y0, x1, y1]."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = span * (box[2] - box[0]) / 2, span * (box[3] - box[1]) / 2
    return float(rng.uniform(cx - hw, cx + hw)), float(rng.uniform(cy - hh, cy + hh))


def _rect(cx: float, cy: float, width: float, height: float, shape: tuple[int, int]) -> list[int]:
    """Integer [x0, y0, x1, y1) of a centred rectangle, clipped to the image."""
    x0, x1 = round(cx - width / 2), round(cx + width / 2)
    y0, y1 = round(cy - height / 2), round(cy + height / 2)
    return [max(0, x0), max(0, y0), min(shape[1], x1), min(shape[0], y1)]


def _colour(rng: np.random.Generator) -> list[int]:
    return [int(c) for c in rng.integers(0, 256, size=3)]


class CSOD(Builder):
    """Solid-colour square, double square and full-height column occluders."""

    @classmethod
    def describe_occluder(cls, params: dict[str, Any]) -> Occluder:
        occ = params.get("occluders", [])
        kind = "column" if any("width" in o for o in occ) else "two squares" if len(occ) == 2 else "square"
        return Occluder("solid colour", kind, "+".join(hex_colour(o["color"]) for o in occ))

    name = "csod"
    VERSION = "2.0.0"
    CONFIGS: ClassVar[tuple[BuilderConfig, ...]] = (
        BuilderConfig("single", "one solid-colour square on the face"),
        BuilderConfig("double", "two intersecting solid-colour squares"),
        BuilderConfig("column", "a solid-colour rectangle of the image's full height"),
    )

    def draw(self, sample: SourceSample, variant: str, rng: np.random.Generator) -> list[dict[str, Any]]:
        """The occluder shapes of one sample: a list of ``{"rect": [x0, y0, x1, y1], "color": [r, g, b], ...}``."""
        box = sample.face_box
        w, h = float(box[2] - box[0]), float(box[3] - box[1])
        s = float(np.sqrt(w * h))
        shape = sample.shape
        if variant == "single":
            a = float(rng.uniform(*SINGLE_SIDE)) * s
            cx, cy = _uniform_in_box(rng, box, CENTRE_SPAN)
            return [{"side": a, "center": [cx, cy], "rect": _rect(cx, cy, a, a, shape), "color": _colour(rng)}]
        if variant == "double":
            a1 = float(rng.uniform(*DOUBLE_SIDE)) * s
            a2 = float(rng.uniform(*DOUBLE_SIDE)) * s
            cx, cy = _uniform_in_box(rng, box, CENTRE_SPAN)
            reach = DOUBLE_OVERLAP * (a1 + a2) / 2
            dx, dy = (float(v) for v in rng.uniform(-reach, reach, size=2))
            c1, c2 = _colour(rng), _colour(rng)
            return [
                {"side": a1, "center": [cx, cy], "rect": _rect(cx, cy, a1, a1, shape), "color": c1},
                {
                    "side": a2,
                    "center": [cx + dx, cy + dy],
                    "rect": _rect(cx + dx, cy + dy, a2, a2, shape),
                    "color": c2,
                },
            ]
        if variant == "column":
            width = float(rng.uniform(*COLUMN_WIDTH)) * w
            cx, _ = _uniform_in_box(rng, box, CENTRE_SPAN)
            cy = shape[0] / 2
            return [
                {
                    "width": width,
                    "center": [cx, cy],
                    "rect": _rect(cx, cy, width, shape[0], shape),
                    "color": _colour(rng),
                }
            ]
        raise ValueError(f"csod: unknown variant {variant!r}")

    def generate(self, sample: SourceSample, config: BuilderConfig, rng: np.random.Generator) -> Example:
        shapes = self.draw(sample, config.name, rng)
        image = sample.image.copy()
        mask = np.zeros(sample.shape, dtype=bool)
        for sh in shapes:
            x0, y0, x1, y1 = sh["rect"]
            image[y0:y1, x0:x1] = sh["color"]
            mask[y0:y1, x0:x1] = True
        box = sample.face_box
        params = {"face_box": [float(v) for v in box], "occluders": shapes}
        return Example(
            source_id=sample.id,
            image=image,
            mask=mask,
            occluded=landmarks_under(mask, sample.landmarks),
            covered_fraction=covered_fraction(mask, sample.face_region),
            params=params,
        )


SUBSET = Subset(
    name="csod",
    builder=CSOD,
    summary="solid-colour square / two intersecting squares / full-height column ([docs/csod.md](docs/csod.md))",
    rows="3 × 2000",
)
