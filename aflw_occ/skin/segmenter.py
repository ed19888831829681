"""The segmenter interface, its error type, and the declaration each segmenter module makes for the registry.

A segmenter is any object with a ``name`` and ``__call__(image, landmarks) -> mask``:

* ``image``: (H, W, 3) uint8 RGB;
* ``landmarks``: (68, 2) or (68, 3) float image pixels, iBUG order, in the AFLW2000-3D release convention
  (``pt3d_68``: the centre of ``img[r, c]`` is at (c + 1, r + 1));
* returns the (H, W) bool mask F of visible facial skin and facial parts (brows, eyes, nose, mouth, lips).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import AflwOccError


class SegmenterError(AflwOccError):
    """A segmenter spec is unknown, or its weights cannot be loaded."""


@runtime_checkable
class SkinSegmenter(Protocol):
    """Visible facial-skin / facial-parts segmenter: ``(image (H,W,3) uint8 RGB, landmarks (68,2|3)) -> (H,W) bool``."""

    name: str

    def __call__(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Segmenter:
    """What a segmenter module declares about its ``--skin`` spec kind (collected by :mod:`.registry`).

    Attributes:
        kind: the spec's prefix (``bisenet`` in ``bisenet:79999_iter.pth``).
        summary: what it segments with, one sentence (help, docs).
        factory: builds the segmenter from the text after ``:`` (None when the kind takes no path).
        path: how that text is written (``PATH.pth``), or None when the kind takes none.
    """

    kind: str
    summary: str
    factory: Callable[[str | None], SkinSegmenter]
    path: str | None = None

    @property
    def form(self) -> str:
        """The spec's form: ``adaptive``, ``bisenet:PATH.pth``."""
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

