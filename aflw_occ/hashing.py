"""Hashes that pin data: bytes, files and decoded pixels (sha256, hex digests). The one hashing module of the
package (core layer: no store, no builders)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np


def sha256_bytes(data: bytes | memoryview | np.ndarray) -> str:
    """sha256 hex digest of bytes (an array: of its C-ordered bytes)."""
    return hashlib.sha256(memoryview(np.ascontiguousarray(data)) if isinstance(data, np.ndarray) else data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pixel_stream(image: np.ndarray) -> tuple[Any, memoryview]:
    """The pixel hash's sha256 after its ``"HxWxC:"`` header, and the image's C-ordered bytes to feed it."""
    if image.dtype != np.uint8:
        raise ValueError(f"pixel_hash expects uint8 pixels, got {image.dtype}")
    h = hashlib.sha256("x".join(str(d) for d in image.shape).encode() + b":")
    return h, memoryview(np.ascontiguousarray(image)).cast("B")


def pixel_hash(image: np.ndarray) -> str:
    """sha256 of a decoded uint8 image: ``"HxWxC:"`` header, then the C-ordered RGB bytes."""
    h, data = _pixel_stream(image)
    h.update(data)
    return h.hexdigest()


class PixelHashes:
    """:func:`pixel_hash` of a source image, and of images made from it, without rehashing the rows they share.

    SHA-256 reads its input as a stream, so every image with the source's shape and the same first ``y`` rows
    shares the hash state after the header and those rows. The states after every ``step`` rows are kept (a state
    copy costs about a microsecond); :meth:`of_edit` continues from the last state at or above the first changed
    row. The digests are exactly :func:`pixel_hash`'s.
    """

    def __init__(self, image: np.ndarray, step: int = 16) -> None:
        h, data = _pixel_stream(image)
        self.shape = image.shape
        self.step = step
        self._row_bytes = int(np.prod(image.shape[1:], dtype=np.int64))
        self._states: list[Any] = []
        for y in range(0, image.shape[0], step):
            self._states.append(h.copy())
            h.update(data[y * self._row_bytes : (y + step) * self._row_bytes])
        self.digest = h.hexdigest()

    def of_edit(self, image: np.ndarray, first_row: int) -> str:
        """``pixel_hash(image)`` of an image of the same shape whose rows above ``first_row`` equal the source's (the
        caller has checked that; ``first_row`` ≥ the height means the whole image equals the source)."""
        if image.shape != self.shape or image.dtype != np.uint8:
            raise ValueError(f"image {image.shape} {image.dtype} is not an edit of a {self.shape} uint8 source")
        if first_row >= self.shape[0]:
            return self.digest
        k = max(first_row, 0) // self.step
        h = self._states[k].copy()
        data = memoryview(np.ascontiguousarray(image)).cast("B")
        h.update(data[k * self.step * self._row_bytes :])
        return h.hexdigest()
