"""numba kernel of RandOcc's anti-aliased polygon fill (``occluders.randocc.fill_polygon``): the same integer
crossings, parity signs and coverage sums, per sample row instead of one global sort. Integer arithmetic only."""

from __future__ import annotations

import numpy as np

from ._numba import kernel


@kernel
def _crossings(a: np.ndarray, b: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (sample row, column) where an upward edge a → b crosses a sample row: rows l with a_y ≤ 4l − 6 < b_y
    (clipped to [0, n_samples)), column c = ⌊(N + 6d)/(4d)⌋ + 1 clipped to [0, n_samples], N = a_x·d +
    (4l − 6 − a_y)(b_x − a_x), d = b_y − a_y; grouped by row (``start``: the offsets, row l at start[l]…start[l+1])."""
    count = np.zeros(n_samples + 1, np.int64)
    for e in range(a.shape[0]):
        first = min(max(-((-(a[e, 1] + 6)) // 4), 0), n_samples)
        last = min(max(-((-(b[e, 1] + 6)) // 4), 0), n_samples)
        for row in range(first, last):
            count[row + 1] += 1
    start = np.cumsum(count)
    cols = np.empty(start[-1], np.int64)
    fill = start[:-1].copy()
    for e in range(a.shape[0]):
        ax, ay, bx, by = a[e, 0], a[e, 1], b[e, 0], b[e, 1]
        d = by - ay
        first = min(max(-((-(ay + 6)) // 4), 0), n_samples)
        last = min(max(-((-(by + 6)) // 4), 0), n_samples)
        for row in range(first, last):
            num = ax * d + (4 * row - 6 - ay) * (bx - ax)
            cols[fill[row]] = min(max((num + 6 * d) // (4 * d) + 1, 0), n_samples)
            fill[row] += 1
    return cols, start


@kernel
def fill_polygon(a: np.ndarray, b: np.ndarray, size: int, out: np.ndarray) -> None:
    """The coverage of the polygon with upward edges a → b (int64 (n, 2) ends in 1/16 px, a_y < b_y) into ``out``
    (size, size) uint8: per pixel row, Σ over its 4 sample rows of the signed steps ±(4 − r) at column q and ±r at
    q + 1 of each crossing c = 4q + r (sign + for the 1st, 3rd, … crossing of the sample row in column order), summed
    along the row, then ⌊(255·cover + 8)/16⌋."""
    n_samples = 4 * size
    cols, start = _crossings(a, b, n_samples)
    steps = np.zeros((size, size + 2), np.int64)
    for row in range(n_samples):
        lo, hi = start[row], start[row + 1]
        for i in range(lo + 1, hi):  # insertion sort of the row's few crossings, in place
            c, j = cols[i], i
            while j > lo and cols[j - 1] > c:
                cols[j] = cols[j - 1]
                j -= 1
            cols[j] = c
        for i in range(hi - lo):
            sign = 1 - 2 * (i & 1)
            q, r = cols[lo + i] >> 2, cols[lo + i] & 3
            steps[row >> 2, q] += sign * (4 - r)
            steps[row >> 2, q + 1] += sign * r
    for y in range(size):
        cover = np.int64(0)
        for x in range(size):
            cover += steps[y, x]
            out[y, x] = (cover * 255 + 8) >> 4
