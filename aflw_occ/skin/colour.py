"""Colour helpers the segmenters and the NOD statistics share: YCbCr, the grey-image test and the ITA angle.

All three give the same bits on every machine (fixed-order float64 arithmetic, exact integer decisions, exact medians).
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import exactmath
from .exact import median_columns, q99_at_most, rgb_to_lab_lb

_YCBCR = ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
#: a JPEG is treated as grayscale when the 99th percentile of max(|R−G|, |G−B|) is at most this (0–255 scale)
GRAYSCALE_MAX_CHANNEL_DIFF = 8.0


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 studio-swing YCbCr of an RGB image (values 0–255), as float64 (..., 3) = (Y, Cb, Cr).

    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, Cb = 128 + (−37.797 R − 74.203 G + 112 B) / 255,
    Cr = 128 + (112 R − 93.786 G − 18.214 B) / 255, each evaluated element-wise in float64 as
    ((a·R + b·G) + c·B) / 255 + offset (a fixed order, no BLAS: the same bits on every machine).
    """
    x = np.asarray(image, dtype=np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    out = np.empty(x.shape[:-1] + (3,), dtype=np.float64)
    for k, ((cr, cg, cb), off) in enumerate(zip(_YCBCR, (16.0, 128.0, 128.0), strict=True)):
        out[..., k] = ((cr * r + cg * g) + cb * b) / 255.0 + off
    return out


def is_grayscale(image: np.ndarray, max_diff: float = GRAYSCALE_MAX_CHANNEL_DIFF) -> bool:
    """Whether an RGB image carries no usable colour: q99 of max(|R−G|, |G−B|) over every 2nd pixel ≤ ``max_diff``.

    Grey JPEGs stored as RGB keep a few units of chroma noise; the 99th percentile ignores stray coloured pixels
    (captions, logos). On AFLW2000-3D this marks 327 of the 2000 images. Decided exactly in integers: the
    percentile a + (b − a)·ρ/100 of the integer differences is compared as 100·a + (b − a)·ρ ≤ 100·max_diff
    (:func:`aflw_occ.skin.exact.q99_at_most`).
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 and img.size:
        # the differences of every pixel with OpenCV's saturating uint8 absdiff / max (exact: |a − b| ≤ 255) on the
        # channel planes, then every 2nd row and column of them: the same values, without numpy's slow strided
        # 3-byte reads
        r, g, b = cv2.split(np.ascontiguousarray(img))
        return q99_at_most(cv2.max(cv2.absdiff(r, g), cv2.absdiff(g, b))[::2, ::2], max_diff)
    sub = img[::2, ::2]
    if sub.ndim != 3 or sub.shape[2] != 3:
        return True
    if sub.dtype == np.uint8:  # |a − b| = max(a, b) − min(a, b): exact in uint8, no widening copy
        r, g, b = (sub[..., i] for i in range(3))
        diff = np.maximum(np.maximum(r, g) - np.minimum(r, g), np.maximum(g, b) - np.minimum(g, b))
    else:
        sub = sub.astype(np.int16)
        diff = np.maximum(np.abs(sub[..., 0] - sub[..., 1]), np.abs(sub[..., 1] - sub[..., 2]))
    return q99_at_most(diff, max_diff)


def ita_degrees(image: np.ndarray, mask: np.ndarray, check_grey: bool = True) -> float:
    """Individual typology angle of the pixels under ``mask``: ITA = atan2(L* − 50, b*) in degrees.

    L*, b*: CIELAB (D65, OpenCV's sRGB constants) medians over the masked pixels
    (:func:`aflw_occ.skin.exact.rgb_to_lab_lb`). Higher = lighter skin; the usual bands: > 55 very light,
    41–55 light, 28–41 intermediate, 10–28 tan, −30–10 brown, < −30 dark.
    NaN for an empty mask and (unless ``check_grey`` is False) for a grayscale image (b* means nothing there).
    The same bits on every machine: a decimal sRGB table, fixed-order float64 arithmetic, exact medians and
    :func:`aflw_occ.exactmath.atan2_deg`.
    """
    sel = np.asarray(mask, dtype=bool)
    if not sel.any() or (check_grey and is_grayscale(image)):
        return float("nan")
    lum, b = rgb_to_lab_lb(np.asarray(image)[sel])
    med = median_columns(np.stack([lum, b], axis=1))
    return exactmath.atan2_deg(float(med[0]) - 50.0, float(med[1]))
