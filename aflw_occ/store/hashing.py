"""Hashes that pin data: file bytes and decoded pixels."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def sha256_bytes(data: bytes | memoryview | np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(data)) if isinstance(data, np.ndarray) else data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pixel_hash(image: np.ndarray) -> str:
    """sha256 of a decoded uint8 image: ``"HxWxC:"`` header, then the C-ordered RGB bytes."""
    if image.dtype != np.uint8:
        raise ValueError(f"pixel_hash expects uint8 pixels, got {image.dtype}")
    h = hashlib.sha256("x".join(str(d) for d in image.shape).encode() + b":")
    h.update(memoryview(np.ascontiguousarray(image)).cast("B"))
    return h.hexdigest()
