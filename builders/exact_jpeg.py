"""JPEG compression artefacts in integer arithmetic: the lossy half of a baseline JPEG encode + decode, bit-exact on
every machine (a JPEG library's output depends on its release and SIMD paths; entropy coding is lossless and skipped).

For an RGB tile and a quality q ∈ [1, 100]:

1. RGB → YCbCr with JPEG's 16-bit fixed-point coefficients (Y = 0.299R + 0.587G + 0.114B, Cb/Cr + 128);
2. chroma subsampled 2×2 (4:2:0, mean of each 2×2 block rounded half up; the tile is padded by edge replication to a
   multiple of 16 first);
3. each 8×8 block of each plane, level-shifted by −128, goes through the orthonormal 2-D DCT-II with a 14-bit
   fixed-point cosine table (F = C·X·Cᵀ as one 64×64 integer matrix; float64 holding integers below 2⁵³, so the
   product is exact in any order), is divided by the quality-scaled IJG table
   (q < 50: 5000/q %, else 200 − 2q %; entries clipped to [1, 255]) and rounded half away from zero;
4. dequantised, inverse DCT (X = Cᵀ·F·C, rounded), + 128, clipped to [0, 255];
5. chroma upsampled 2× with the triangle filter (¾·near + ¼·far per axis, JPEG's "fancy" upsampling);
6. YCbCr → RGB with JPEG's fixed-point coefficients, clipped.
"""

from __future__ import annotations

import cv2
import numpy as np

from aflw_occ import exactmath

from . import kernels

COS_BITS = 14
LUMA_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    np.int64,
)
CHROMA_TABLE = np.array(
    [
        [17, 18, 24, 47, 99, 99, 99, 99], [18, 21, 26, 66, 99, 99, 99, 99], [24, 26, 56, 99, 99, 99, 99, 99],
        [47, 66, 99, 99, 99, 99, 99, 99], [99, 99, 99, 99, 99, 99, 99, 99], [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99], [99, 99, 99, 99, 99, 99, 99, 99],
    ],
    np.int64,
)


def _cosine_table() -> np.ndarray:
    """(8, 8) int64: round(2^14 · c(u)·cos((2x + 1)uπ/16)), c(0) = √(1/8), c(u) = √(2/8) (orthonormal DCT-II)."""
    out = np.empty((8, 8), np.int64)
    for u in range(8):
        cu = (0.125**0.5) if u == 0 else 0.5
        for x in range(8):
            out[u, x] = int(round((1 << COS_BITS) * cu * exactmath.cos((2 * x + 1) * u * exactmath.PI / 16.0)))
    return out


COS = _cosine_table()
#: the 2-D DCT of a row-major 8×8 block as one 64×64 integer matrix: vec(C·X·Cᵀ) = (C ⊗ C)·vec(X), entries < 2²⁶
KRON = np.kron(COS, COS).astype(np.float64)
#: C and Cᵀ as float64 (exact integers) for the separable form C·X·Cᵀ of the same product
_C = COS.astype(np.float64)
_CT = np.ascontiguousarray(_C.T)


def quant_table(base: np.ndarray, quality: int) -> np.ndarray:
    """IJG quality scaling of a base table: s = 5000/q (q < 50) or 200 − 2q, entries ⌊(b·s + 50)/100⌋ in [1, 255]."""
    q = min(max(int(quality), 1), 100)
    s = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((base * s + 50) // 100, 1, 255)


def _lossy_blocks(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """DCT, quantise, dequantise, inverse DCT of (n, 64) row-major 8×8 blocks (float64 integers, level-shifted by
    −128), returned as (n, 64) float64 integers in [0, 255].

    Computed separably, (C⊗C)·vec(X) = vec(C·(X·Cᵀ)) and (C⊗C)ᵀ·vec(F) = vec(Cᵀ·(F·C)): the same integers (every
    partial sum is exact), a quarter of the multiplications. Every product below holds integers: |X| ≤ 128, X·Cᵀ
    below 8·2¹⁴·128 = 2²⁴ and C·X·Cᵀ below 2⁴¹; the dequantised coefficients below 2¹¹, F·C below 2²⁸ and Cᵀ·F·C
    below 2⁴⁵: exact in float64 whatever the BLAS kernel or the order of the sums.
    """
    n = len(x)
    coef = (_C @ (x.reshape(n, 8, 8) @ _CT)).reshape(n, 64)  # 2^28 × the DCT coefficients (exact integers)
    step = (table.reshape(-1) << (2 * COS_BITS)).astype(np.float64)
    q = np.abs(coef)
    q /= step
    q += 0.5
    np.floor(q, out=q)  # rounded half away from zero (exact: |coef| < 2^50, see exact_image.round_div)
    np.copysign(q, coef, out=q)
    q *= table.reshape(-1)
    rec = (_CT @ (q.reshape(n, 8, 8) @ _C)).reshape(n, 64)  # 2^28 × the reconstruction (exact integers)
    rec *= 1.0 / (1 << (2 * COS_BITS))
    rec += 0.5
    np.floor(rec, out=rec)
    rec += 128.0
    return np.clip(rec, 0.0, 255.0, out=rec)


def _lossy_plane(plane: np.ndarray, table: np.ndarray, sel: np.ndarray | None = None) -> np.ndarray:
    """:func:`_lossy_blocks` of the 8×8 blocks of a plane (int, sides multiples of 8, values 0–255) as an int32
    plane; with ``sel`` ((h/8, w/8) bool), only the selected blocks (the others are 0)."""
    h, w = plane.shape
    blocks = plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    picked = blocks.reshape(-1, 8, 8) if sel is None else blocks[sel]
    x = picked.reshape(-1, 64).astype(np.float64)
    x -= 128.0
    rec = _lossy_blocks(x, table).astype(np.int32).reshape(-1, 8, 8)
    out = np.zeros((h, w), np.int32)
    view = out.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    if sel is None:
        view[...] = rec.reshape(h // 8, w // 8, 8, 8)
    else:
        view[sel] = rec
    return out


def _upsample2(plane: np.ndarray) -> np.ndarray:
    """2× triangle upsampling per axis: output 2i ← (3·p[i] + p[i−1]), 2i+1 ← (3·p[i] + p[i+1]), / 4 rounded half
    up after each axis (edges repeat); int16 (values 0–255 in, every sum ≤ 4·255 + 2)."""
    out = plane.astype(np.int16)
    for axis in (0, 1):
        p = np.moveaxis(out, axis, 0)
        n = p.shape[0]
        up = np.empty((2 * n,) + p.shape[1:], np.int16)
        even, odd = up[0::2], up[1::2]
        p3 = p * np.int16(3)
        np.add(p3[1:], p[:-1], out=even[1:])
        np.add(p3[0], p[0], out=even[0])
        np.add(p3[:-1], p[1:], out=odd[:-1])
        np.add(p3[-1], p[-1], out=odd[-1])
        up += np.int16(2)
        up >>= 2
        out = np.moveaxis(up, 0, axis)
    return out


def _pad_edge(rgb: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """``rgb`` extended by ``ph`` rows and ``pw`` columns repeating its last row/column (np.pad's "edge")."""
    h, w = rgb.shape[:2]
    x = np.empty((h + ph, w + pw) + rgb.shape[2:], rgb.dtype)
    x[:h, :w] = rgb
    if ph:
        x[h:, :w] = rgb[h - 1]
    if pw:
        x[:, w:] = x[:, w - 1 : w]
    return x


def jpeg_roundtrip(rgb: np.ndarray, quality: int, where: np.ndarray | None = None) -> np.ndarray:
    """The tile (H, W, 3) uint8 after JPEG compression at ``quality`` (module docstring), same shape.

    With ``where`` ((H, W) bool), only what the pixels of ``where`` depend on is computed: the 8×8 luma blocks that
    contain one, and the chroma blocks of the 16×16 MCUs around them (3×3 MCUs: the upsampling filter reaches one
    chroma sample into the neighbouring MCUs). The result equals the full one at every pixel of ``where``; every other
    pixel keeps its input value. The colour conversions are done in int32 (|Σ coefficient·value| < 2¹⁶·255 + 2¹⁵).
    With ``where`` and the numba backend (:mod:`.kernels`), the compiled kernel computes the same integers.
    """
    jit = kernels.compiled() if where is not None else None
    if jit is not None:
        out = np.array(rgb, np.uint8, order="C")
        qy, qc = (np.ascontiguousarray(quant_table(t, quality), np.int64) for t in (LUMA_TABLE, CHROMA_TABLE))
        jit.jpeg_roundtrip(np.ascontiguousarray(rgb), np.ascontiguousarray(where), qy, qc, COS, out)
        return out
    h, w = rgb.shape[:2]
    ph, pw = -h % 16, -w % 16
    x = _pad_edge(rgb, ph, pw)
    r, g, b = (p.astype(np.int32) for p in cv2.split(x))  # cv2.split: contiguous planes by byte copy
    half = 1 << 15
    y = 19595 * r
    y += 38470 * g
    y += 7471 * b
    y += half
    y >>= 16
    sel_y = sel_c = None
    if where is not None:
        hh, ww = h + ph, w + pw
        wp = np.zeros((hh, ww), bool)
        wp[:h, :w] = where
        # a row's 8 flags of a block as one 64-bit word (nonzero ⟺ any), then any of the block's 8 rows
        sel_y = (wp.view(np.uint64) != 0).reshape(hh // 8, 8, ww // 8).any(axis=1)
        mcu = sel_y.reshape(hh // 16, 2, ww // 16, 2).any(axis=(1, 3)).view(np.uint8)
        # cv2.dilate is a 3×3 maximum of uint8 (exact on every machine and release); outside counts as 0
        sel_c = cv2.dilate(mcu, np.ones((3, 3), np.uint8)).view(bool)
    chroma = []
    for coefs in ((-11059, -21709, 32768), (32768, -27439, -5329)):
        c = coefs[0] * r
        c += coefs[1] * g
        c += coefs[2] * b
        c += half - 1
        c >>= 16
        c += 128
        sub = c[0::2, 0::2] + c[1::2, 0::2]
        sub += c[0::2, 1::2]
        sub += c[1::2, 1::2]
        sub += 2
        sub >>= 2
        up = _upsample2(_lossy_plane(sub, quant_table(CHROMA_TABLE, quality), sel_c))
        up -= 128
        chroma.append(up)
    y = _lossy_plane(y, quant_table(LUMA_TABLE, quality), sel_y)
    cb, cr = (c[:h, :w].astype(np.int32) for c in chroma)
    y = y[:h, :w]
    planes = []
    for term in (
        (91881 * cr + half) >> 16,
        -((22554 * cb + 46802 * cr - half) >> 16),
        (116130 * cb + half) >> 16,
    ):
        term += y
        planes.append(np.clip(term, 0, 255, out=term).astype(np.uint8))
    # cv2.merge interleaves the three uint8 planes and cv2.copyTo is a masked memory copy: byte copies, no
    # arithmetic, the same bytes on every machine and release
    out = cv2.merge(planes)
    if where is None:
        return out
    return cv2.copyTo(out, where.view(np.uint8), rgb.copy())
