"""The store's pixel codec: PNG patch over the base image, and the outside-the-mask invariant."""

from __future__ import annotations

import numpy as np
import pytest

from aflw_occ.store.codec import EMPTY_BOX, InvariantError, apply_patch, encode_patch, patch_mask


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    source = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[10:30, 20:45] = True
    mask[12, 20] = False  # a hole inside the box
    image = source.copy()
    image[mask] = rng.integers(0, 256, (int(mask.sum()), 3), dtype=np.uint8)
    return source, image, mask


def test_patch_round_trip(pair) -> None:
    source, image, mask = pair
    p = encode_patch(image, source, mask, "t/1")
    assert p.box == (20, 10, 45, 30)
    np.testing.assert_array_equal(apply_patch(source, p.box, p.pixels_png), image)
    np.testing.assert_array_equal(patch_mask(mask.shape, p.box, p.mask_png), mask)


@pytest.mark.parametrize(("row", "col"), [(50, 70), (0, 0), (20, 5), (20, 60), (12, 20)])
def test_change_outside_the_mask_is_refused(pair, row: int, col: int) -> None:
    """Far outside the box, in each slab around it, and inside the box in a hole of the mask."""
    source, image, mask = pair
    image[row, col, 1] ^= 1
    with pytest.raises(InvariantError, match=rf"^t/2: 1 pixel\(s\) outside .* \(first at row {row}, col {col}\)$"):
        encode_patch(image, source, mask, "t/2")


def test_empty_mask(pair) -> None:
    source, _, _ = pair
    empty = np.zeros(source.shape[:2], bool)
    p = encode_patch(source.copy(), source, empty, "t/3")
    assert p.box == EMPTY_BOX and p.pixels_png.size == 0
    changed = source.copy()
    changed[5, 5, 0] ^= 7
    with pytest.raises(InvariantError, match="first at row 5, col 5"):
        encode_patch(changed, source, empty, "t/3")
    with pytest.raises(InvariantError, match="differs in shape/dtype"):
        encode_patch(source[:10], source, empty, "t/3")
