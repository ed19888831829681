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

import numpy as np

from aflw_occ import exactmath

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


def quant_table(base: np.ndarray, quality: int) -> np.ndarray:
    """IJG quality scaling of a base table: s = 5000/q (q < 50) or 200 − 2q, entries ⌊(b·s + 50)/100⌋ in [1, 255]."""
    q = min(max(int(quality), 1), 100)
    s = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((base * s + 50) // 100, 1, 255)


def _blocks(plane: np.ndarray) -> np.ndarray:
    """(n, 64): the row-major 8×8 blocks of a plane whose sides are multiples of 8."""
    h, w = plane.shape
    return plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64)


def _unblocks(blocks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return blocks.reshape(h // 8, w // 8, 8, 8).transpose(0, 2, 1, 3).reshape(h, w)


def _lossy_plane(plane: np.ndarray, table: np.ndarray) -> np.ndarray:
    """DCT, quantise, dequantise, inverse DCT of one plane (int, sides multiples of 8, values 0–255).

    Every product below holds integers: |X| ≤ 128 and the 64 terms of (C⊗C)·X stay below 64·2²⁶·128 = 2³⁹, the
    dequantised coefficients below 2¹¹ and (C⊗C)ᵀ·F below 2⁴⁴: exact in float64 whatever the BLAS kernel.
    """
    x = _blocks(plane.astype(np.float64) - 128.0)
    coef = x @ KRON.T  # 2^28 × the DCT coefficients (exact integers)
    step = (table.reshape(-1) << (2 * COS_BITS)).astype(np.float64)
    q = np.floor(np.abs(coef) / step + 0.5)  # rounded half away from zero (exact: |coef| < 2^50, see round_div)
    deq = np.copysign(q, coef) * table.reshape(-1)
    rec = deq @ KRON  # 2^28 × the reconstruction (exact integers)
    out = np.floor(rec * (1.0 / (1 << (2 * COS_BITS))) + 0.5) + 128.0
    return np.clip(_unblocks(out, plane.shape), 0, 255).astype(np.int64)


def _upsample2(plane: np.ndarray) -> np.ndarray:
    """2× triangle upsampling per axis: output 2i ← (3·p[i] + p[i−1]), 2i+1 ← (3·p[i] + p[i+1]), / 4 (edges repeat)."""
    out = plane
    for axis in (0, 1):
        p = np.pad(out, [(1, 1) if a == axis else (0, 0) for a in range(2)], mode="edge")
        n = out.shape[axis]
        mid = np.take(p, np.arange(1, n + 1), axis=axis)
        prev = np.take(p, np.arange(0, n), axis=axis)
        nxt = np.take(p, np.arange(2, n + 2), axis=axis)
        even, odd = 3 * mid + prev, 3 * mid + nxt
        out = np.stack([even, odd], axis=axis + 1).reshape(
            tuple(2 * s if a == axis else s for a, s in enumerate(out.shape))
        )
        out = (out + 2) >> 2
    return out


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The tile (H, W, 3) uint8 after JPEG compression at ``quality`` (module docstring), same shape."""
    h, w = rgb.shape[:2]
    ph, pw = -h % 16, -w % 16
    x = np.pad(rgb, [(0, ph), (0, pw), (0, 0)], mode="edge").astype(np.int64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    half = 1 << 15
    y = (19595 * r + 38470 * g + 7471 * b + half) >> 16
    cb = ((-11059 * r - 21709 * g + 32768 * b + half - 1) >> 16) + 128
    cr = ((32768 * r - 27439 * g - 5329 * b + half - 1) >> 16) + 128
    chroma = []
    for c in (cb, cr):
        sub = (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2] + 2) >> 2
        chroma.append(_upsample2(_lossy_plane(sub, quant_table(CHROMA_TABLE, quality))) - 128)
    y = _lossy_plane(y, quant_table(LUMA_TABLE, quality))
    cb, cr = chroma
    out = np.stack(
        [
            y + ((91881 * cr + half) >> 16),
            y - ((22554 * cb + 46802 * cr - half) >> 16),
            y + ((116130 * cb + half) >> 16),
        ],
        axis=-1,
    )
    return np.clip(out, 0, 255)[:h, :w].astype(np.uint8)
