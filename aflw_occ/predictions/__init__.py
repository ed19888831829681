"""The prediction-file contract (format version 1): read, validate, write.

A prediction file holds, for a set of sample ids, the predicted 68 landmarks in *original image pixels*
(x right, y down, **1-based like** ``pt3d_68``: the centre of the top-left pixel is (1, 1)), optionally the
predicted head pose (angles, or the rotation matrix to decode under a named convention) and dense points.
Formats (by suffix):

* ``.npz`` — arrays ``ids`` (N,) str, ``landmarks`` (N, 68, 2|3) or (N, 2|3, 68), optional ``angles_deg``
  (N, 3), ``rotation`` (N, 3, 3), ``pose_decoding`` (0-d str), ``dense`` (N, P, 3), and a scalar
  ``format_version`` (= 1; absent → 1 implied). Without ``ids`` the rows are in the release's sorted order;
* ``.npy`` — one landmark array (N, 68, 2|3) or (N, 2|3, 68) in the release's sorted order (ids implied), as
  3DDFA / SynergyNet users hold it;
* ``.h5`` / ``.hdf5`` — the same names as datasets at the root, ``format_version`` as a root attribute;
* ``.csv`` — one row per id, header ``id,x0,y0[,z0],...,x67,y67[,z67]`` with optional ``pitch,yaw,roll``
  columns (degrees) at the end; the header defines the version (1).

At least one of ``landmarks``, ``angles_deg``, ``rotation``, ``dense`` must be present; each protocol says what
it needs. Landmarks in 3DDFA's 120×120 crop coordinates are mapped to image pixels explicitly with
:class:`CropFrame` (``aflw-occ score --crop-boxes``). See ``docs/predictions.md`` for the full contract. Every
violation raises :class:`PredictionError` with one line naming the file and, where it applies, the first offending
id.

Modules: :mod:`.contract` (:class:`Predictions`, the shared names and limits), :mod:`.read` (one reader per
suffix, :func:`read_predictions`), :mod:`.write` (:func:`write_predictions`, one writer per suffix),
:mod:`.crop_frame` (:class:`CropFrame`).
"""

from __future__ import annotations

from ..matching import IdMatch, match_ids  # re-exported: matching used to live here
from .contract import FORMAT_VERSION, PIXEL_ORIGIN, Predictions
from .crop_frame import CropFrame
from .read import read_predictions
from .write import write_predictions

__all__ = [
    "FORMAT_VERSION",
    "PIXEL_ORIGIN",
    "Predictions",
    "CropFrame",
    "IdMatch",
    "read_predictions",
    "write_predictions",
    "match_ids",
]
