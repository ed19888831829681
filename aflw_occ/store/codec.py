"""Lossless pixel codec of the store: an occluded image = its base JPEG's decoded pixels + one PNG patch.

Pixels outside the occluder mask equal the source pixels (a checked invariant), so a sample is stored as the
bounding box of its mask (``patch_box`` = [x0, y0, x1, y1)), the PNG of the output pixels inside that box, and the
PNG of the mask inside that box. Decoding the base JPEG and pasting the patch gives the exact output pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..masks import EMPTY_BOX, mask_box

#: PNG settings (measured on the v1 patches, docs/benchmarks.md): zlib level 1, run-length strategy and the Paeth
#: filter on every row are 1.8× faster than OpenCV's default (level 3, adaptive filters) on NatOcc patches at the same
#: size; masks are written 1 bit per pixel (5× faster than 8-bit). Decoding does not depend on these settings: stores
#: written with others read back the same pixels and verify against the same manifest.
PNG_LEVEL = 1
PNG_RGB_PARAMS = (cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE) + (
    (cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH) if hasattr(cv2, "IMWRITE_PNG_FILTER_PAETH") else ()
)
PNG_MASK_PARAMS = (cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL, cv2.IMWRITE_PNG_BILEVEL, 1)


class InvariantError(ValueError):
    """A builder changed pixels outside its occluder mask."""


def encode_png(array: np.ndarray) -> np.ndarray:
    """PNG bytes of an RGB uint8 (H, W, 3), a gray uint8 (H, W) or a bool (H, W, 1 bit per pixel) array, as a uint8
    vector."""
    params: tuple[int, ...] = PNG_RGB_PARAMS
    if array.dtype == bool:
        array, params = array.astype(np.uint8), PNG_MASK_PARAMS
    elif array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array, list(params))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.reshape(-1)


#: OpenCV ≥ 4.10 decodes straight to RGB: the same pixels as decoding to BGR and swapping (checked on all 2000
#: AFLW2000-3D JPEGs), without the extra pass
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def imdecode_rgb(data: np.ndarray | bytes) -> np.ndarray | None:
    """RGB uint8 pixels of JPEG / PNG bytes (None when OpenCV cannot decode them)."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else np.asarray(data, dtype=np.uint8)
    if _IMREAD_RGB is not None:
        return cv2.imdecode(buf, _IMREAD_RGB)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_png(data: np.ndarray, *, color: bool) -> np.ndarray:
    """Inverse of :func:`encode_png`: RGB uint8 when ``color``, else bool."""
    if color:
        img = imdecode_rgb(data)
        if img is None:
            raise ValueError("PNG cannot be decoded")
        return img
    mask = cv2.imdecode(np.asarray(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2:
        raise ValueError("mask PNG cannot be decoded")
    return mask.astype(bool)


def decode_jpeg(data: np.ndarray | bytes) -> np.ndarray:
    """Decode JPEG bytes (the base images) to RGB uint8 with OpenCV's decoder."""
    img = imdecode_rgb(data)
    if img is None:
        raise ValueError("JPEG cannot be decoded")
    return img


@dataclass
class Patch:
    box: tuple[int, int, int, int]
    pixels_png: np.ndarray
    mask_png: np.ndarray


def _changed(image: np.ndarray, source: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels where two RGB uint8 images differ in any channel."""
    r, g, b = cv2.split(cv2.absdiff(image, source))
    return cv2.bitwise_or(cv2.bitwise_or(r, g), b) != 0  # channel planes: numpy reads diff[..., k] slowly


def _same_outside_box(image: np.ndarray, source: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether ``image`` equals ``source`` everywhere outside ``box`` (four byte-compared slabs; the caller has checked
    that both are uint8 of one shape)."""
    x0, y0, x1, y1 = box
    slabs = (np.s_[:y0], np.s_[y1:], np.s_[y0:y1, :x0], np.s_[y0:y1, x1:])
    return all(image[s].tobytes() == source[s].tobytes() for s in slabs)


def encode_patch(image: np.ndarray, source: np.ndarray, mask: np.ndarray, what: str) -> Patch:
    """Encode ``image`` against ``source``; raises :class:`InvariantError` (naming ``what``) if pixels outside
    ``mask`` differ.

    The check compares bytes outside the mask's bounding box, then pixels inside it; only when something differs is
    the whole image diffed, to report how many pixels and the first one."""
    if image.shape != source.shape or image.dtype != np.uint8 or source.dtype != np.uint8:
        raise InvariantError(f"{what}: output image {image.shape} {image.dtype} differs in shape/dtype from the source")
    box = mask_box(mask)
    x0, y0, x1, y1 = box
    inside_ok = True
    if box != EMPTY_BOX:
        inside_ok = not (_changed(image[y0:y1, x0:x1], source[y0:y1, x0:x1]) & ~mask[y0:y1, x0:x1]).any()
    if not (inside_ok and _same_outside_box(image, source, box)):
        outside = _changed(image, source) & ~mask
        r, c = np.argwhere(outside)[0]
        raise InvariantError(
            f"{what}: {int(outside.sum())} pixel(s) outside the occluder mask differ from the source (first at "
            f"row {r}, col {c})"
        )
    if box == EMPTY_BOX:
        empty = np.zeros(0, dtype=np.uint8)
        return Patch(box, empty, empty)
    return Patch(box, encode_png(image[y0:y1, x0:x1]), encode_png(mask[y0:y1, x0:x1]))


def apply_patch(base: np.ndarray, box: np.ndarray | tuple[int, ...], pixels_png: np.ndarray) -> np.ndarray:
    """The output image: a copy of the decoded ``base`` with the patch pasted into ``box``."""
    x0, y0, x1, y1 = (int(v) for v in box)
    out = base.copy()
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = decode_png(pixels_png, color=True)
    return out


def patch_mask(shape: tuple[int, int], box: np.ndarray | tuple[int, ...], mask_png: np.ndarray) -> np.ndarray:
    """The full (H, W) bool occluder mask from its stored crop."""
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = np.zeros(shape, dtype=bool)
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = decode_png(mask_png, color=False)
    return mask
