"""Occluder descriptors the report breaks errors down by, read from each stored row's drawn parameters.

A :class:`Factor` names the splits it describes (pooled into one table) and turns a row's ``params`` into a label.
Adding a descriptor is one :func:`factor` entry; the report's occluder section reads :data:`FACTORS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .stats import hue_family, luma

__all__ = ["Factor", "FACTORS", "factor", "factor_label", "dominant_colour", "CSOD_SPLITS"]

CSOD_SPLITS: tuple[str, ...] = ("csod-single", "csod-double", "csod-column")
CSOD_TYPES: dict[str, str] = {"csod-single": "square", "csod-double": "double square", "csod-column": "column"}
LUMA_BINS: tuple[tuple[str, float], ...] = (("dark (Y < 85)", 85.0), ("mid (85 ≤ Y < 170)", 170.0))
LUMA_TOP = "bright (Y ≥ 170)"


@dataclass(frozen=True)
class Factor:
    """A descriptor of occluded samples: ``label(split, params)`` for rows of ``splits``; ``order`` lists the labels
    in display order (others follow, sorted); ``doc`` says how the label is derived."""

    key: str
    title: str
    splits: tuple[str, ...]
    label: Callable[[str, Mapping[str, Any]], str]
    doc: str
    order: tuple[str, ...] = ()


FACTORS: list[Factor] = []


def factor(f: Factor) -> Factor:
    """Register a descriptor (keys are unique)."""
    if any(g.key == f.key for g in FACTORS):
        raise ValueError(f"factor {f.key} is registered twice")
    FACTORS.append(f)
    return f


def factor_label(f: Factor, split: str, params: Mapping[str, Any]) -> str:
    """A row's label, or ``n/a`` when its parameters lack what the descriptor reads (another builder version)."""
    try:
        return f.label(split, params)
    except (KeyError, TypeError, ValueError, IndexError):
        return "n/a"


def dominant_colour(params: Mapping[str, Any]) -> list[int]:
    """A CSOD row's colour: the colour of its occluder rectangle with the largest area (clipped ``rect``; the first
    one on a tie). A ``double`` row has two."""
    occluders = list(params.get("occluders") or [])
    if not occluders:
        raise ValueError("CSOD params hold no occluders")

    def area(o: Mapping[str, Any]) -> int:
        x0, y0, x1, y1 = (int(v) for v in o["rect"])
        return max(0, x1 - x0) * max(0, y1 - y0)

    best = max(range(len(occluders)), key=lambda k: (area(occluders[k]), -k))
    return [int(c) for c in occluders[best]["color"]]


def _luma_label(params: Mapping[str, Any]) -> str:
    y = luma(dominant_colour(params))
    return next((name for name, top in LUMA_BINS if y < top), LUMA_TOP)


factor(
    Factor(
        "nsod-category",
        "NSOD occluder category",
        ("nsod",),
        lambda split, p: str(p["occluder"]["category"]),
        "the pasted object's category in its library (params.occluder.category)",
    )
)
factor(
    Factor(
        "csod-type",
        "CSOD occluder type",
        CSOD_SPLITS,
        lambda split, p: CSOD_TYPES.get(split, split),
        "the CSOD variant: one square, two intersecting squares, a full-height column",
        tuple(CSOD_TYPES.values()),
    )
)
factor(
    Factor(
        "csod-colour",
        "CSOD occluder colour",
        CSOD_SPLITS,
        lambda split, p: hue_family(dominant_colour(p)),
        "hue family of the largest rectangle's colour (achromatic when max − min of R, G, B < 48: dark / grey / "
        "light; else the HSV hue sector)",
        ("dark", "grey", "light", "red", "yellow", "green", "cyan", "blue", "magenta"),
    )
)
factor(
    Factor(
        "csod-luma",
        "CSOD occluder brightness",
        CSOD_SPLITS,
        lambda split, p: _luma_label(p),
        "Rec. 601 luma Y = 0.299 R + 0.587 G + 0.114 B of the largest rectangle's colour",
        (*(name for name, _ in LUMA_BINS), LUMA_TOP),
    )
)
