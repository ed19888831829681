"""PixelHashes: the digests of edited images, continued from the source's kept SHA-256 states, equal pixel_hash."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from aflw_occ.hashing import PixelHashes, pixel_hash


def reference_hash(image: np.ndarray) -> str:
    """Independent definition: sha256 over the "HxWxC:" header and all bytes at once."""
    header = "x".join(str(d) for d in image.shape).encode() + b":"
    return hashlib.sha256(header + image.tobytes()).hexdigest()


@pytest.mark.parametrize("shape", [(450, 450, 3), (37, 5, 3), (16, 7, 3), (1, 3, 3), (31, 9)])
def test_edits_hash_like_pixel_hash(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape) * 1000 + shape[0])
    src = rng.integers(0, 256, shape, dtype=np.uint8)
    hashes = PixelHashes(src, step=16)
    assert hashes.digest == pixel_hash(src) == reference_hash(src)
    h = shape[0]
    for first in sorted({0, 1, 15, 16, 17, h // 2, h - 1, h, h + 5}):
        edit = src.copy()
        if first < h:
            edit[first:] = rng.integers(0, 256, edit[first:].shape, dtype=np.uint8)
        assert hashes.of_edit(edit, first) == reference_hash(edit), first
        # a changed row at or below first_row, first_row anywhere above it: still exact
        if 0 < first < h:
            assert hashes.of_edit(edit, first - 1) == reference_hash(edit)


def test_step_and_non_contiguous_images() -> None:
    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, (60, 40, 3), dtype=np.uint8)
    src = big[::2, ::2]  # a strided view hashes as its C-ordered copy
    for step in (1, 3, 64):
        hashes = PixelHashes(src, step=step)
        edit = src.copy()
        edit[20:, 5] = 0
        assert hashes.digest == reference_hash(np.ascontiguousarray(src))
        assert hashes.of_edit(edit, 20) == reference_hash(edit)


def test_bad_inputs() -> None:
    src = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="expects uint8"):
        PixelHashes(src.astype(np.float32))
    hashes = PixelHashes(src)
    with pytest.raises(ValueError, match=r"not an edit of a \(8, 8, 3\) uint8 source"):
        hashes.of_edit(np.zeros((8, 9, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="not an edit"):
        hashes.of_edit(np.zeros((8, 8, 3), np.int16), 0)
