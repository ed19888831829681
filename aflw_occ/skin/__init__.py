"""Skin and face-parsing segmenters behind one small interface (this package only re-exports its modules).

* :mod:`.segmenter`: the interface (``name``, ``__call__(image, landmarks) -> mask``), :class:`SegmenterError` and the
  :class:`Segmenter` declaration each segmenter module makes;
* :mod:`.registry`: :func:`get_segmenter` builds one from a spec string: ``"adaptive"`` (default, no learned
  weights, :mod:`.adaptive`), ``"gmm"`` (the plain YCbCr Gaussian-mixture classifier, :mod:`.gmm`),
  ``"bisenet:PATH"`` (BiSeNet face parser, torch, :mod:`.bisenet`) or ``"bisenet-onnx:PATH"`` (:mod:`.bisenet_onnx`);
* :mod:`.colour`: YCbCr, the grey-image test and the ITA angle; :mod:`.exact`: the exact arithmetic behind them.
"""

from __future__ import annotations

from .colour import GRAYSCALE_MAX_CHANNEL_DIFF, is_grayscale, ita_degrees, rgb_to_ycbcr
from .registry import DEFAULT_SEGMENTER, SEGMENTERS, get_segmenter
from .segmenter import Segmenter, SegmenterError, SkinSegmenter

__all__ = [
    "DEFAULT_SEGMENTER",
    "GRAYSCALE_MAX_CHANNEL_DIFF",
    "SEGMENTERS",
    "Segmenter",
    "SegmenterError",
    "SkinSegmenter",
    "get_segmenter",
    "is_grayscale",
    "ita_degrees",
    "rgb_to_ycbcr",
]
