"""The compiled (numba) pixel kernels, imported by :func:`builders.kernels.compiled` when that backend runs: importing
this package imports numba. The kernels write into arrays the caller allocates; the callers are the numpy reference
functions themselves (each dispatches here when the backend is numba)."""

from __future__ import annotations

from ._numba import CPU_NAME, VERSION
from .fill import fill_polygon
from .jpeg import jpeg_roundtrip
from .pixel import (
    apply_colour_matrix,
    area_resize,
    blend,
    blur_premultiplied,
    moments,
    premultiply,
    separable_filter,
    straight_colour,
    warp_bilinear,
)

__all__ = [
    "CPU_NAME",
    "VERSION",
    "apply_colour_matrix",
    "area_resize",
    "blend",
    "blur_premultiplied",
    "fill_polygon",
    "jpeg_roundtrip",
    "moments",
    "premultiply",
    "separable_filter",
    "straight_colour",
    "warp_bilinear",
]
