"""The integer pixel operations of NSOD/RandOcc against independent references: exact ones against straightforward
loops (Fractions, per-pixel code), approximate ones against OpenCV within the rounding the definitions differ by."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from aflw_occ.builders import exact_filter as xf
from aflw_occ.builders import exact_image as xi
from aflw_occ.builders import exact_warp as xw
from aflw_occ.builders.exact_jpeg import jpeg_roundtrip, quant_table
from aflw_occ.builders.grid import grid_uniform, quantise
from aflw_occ.builders.occluders.randocc import fill_polygon

RNG = np.random.default_rng(0)


def _round_half_up(fr: Fraction) -> int:
    return int((fr + Fraction(1, 2)).__floor__())


def test_round_div_equals_exact_rational_rounding() -> None:
    num = np.concatenate([RNG.integers(0, 2**40, 3000), np.arange(0, 3000)])
    den = np.concatenate([RNG.integers(1, 2**20, 3000), np.full(3000, 2)])  # den 2: every k + ½ tie
    got = xi.round_div(num, den)
    ref = [_round_half_up(Fraction(int(n), int(d))) for n, d in zip(num, den, strict=True)]
    assert got.tolist() == ref


def test_div255_exhaustive() -> None:
    x = np.arange(0, 255 * 255 + 1, dtype=np.int32)
    assert np.array_equal(xi.div255(x), (2 * x.astype(np.int64) + 255) // 510)


def test_area_resize_is_the_exact_footprint_mean() -> None:
    img = RNG.integers(0, 256, (13, 17, 2), dtype=np.uint8)
    nw, nh = 5, 7
    got = xi.area_resize(img, (nw, nh))
    for j in range(nh):
        for i in range(nw):
            x0, x1 = Fraction(i * 17, nw), Fraction((i + 1) * 17, nw)
            y0, y1 = Fraction(j * 13, nh), Fraction((j + 1) * 13, nh)
            for c in range(2):
                acc = Fraction(0)
                for yy in range(13):
                    wy = max(Fraction(0), min(y1, yy + 1) - max(y0, yy))
                    for xx in range(17):
                        wx = max(Fraction(0), min(x1, xx + 1) - max(x0, xx))
                        acc += wx * wy * int(img[yy, xx, c])
                assert got[j, i, c] == _round_half_up(acc / ((x1 - x0) * (y1 - y0)))


def test_area_resize_close_to_opencv() -> None:
    img = RNG.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    for size in ((45, 60), (31, 47), (90, 120)):
        ref = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        assert np.abs(xi.area_resize(img, size).astype(int) - ref).max() <= 1


def _warp_reference(src: np.ndarray, inv: list[list[float]], size: tuple[int, int]) -> np.ndarray:
    """The fixed-point bilinear definition, one pixel at a time."""
    h, w, c = src.shape
    m = [[round(v * 65536) for v in row] for row in inv]
    out = np.zeros((size[1], size[0], c), np.uint8)
    for y in range(size[1]):
        for x in range(size[0]):
            sx, sy = m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2]
            x0, y0, fx, fy = sx >> 16, sy >> 16, (sx >> 8) & 255, (sy >> 8) & 255
            acc = [0] * c
            for dy, wy in ((0, 256 - fy), (1, fy)):
                for dx, wx in ((0, 256 - fx), (1, fx)):
                    xx, yy = x0 + dx, y0 + dy
                    if 0 <= xx < w and 0 <= yy < h:
                        for k in range(c):
                            acc[k] += wy * wx * int(src[yy, xx, k])
            out[y, x] = [(a + 32768) >> 16 for a in acc]
    return out


def test_warp_bilinear_equals_per_pixel_definition_and_opencv() -> None:
    src = RNG.integers(0, 256, (23, 31, 4), dtype=np.uint8)
    inv = [[0.83, -0.21, 3.3], [0.19, 0.91, -4.7]]
    got = xw.warp_bilinear(src, inv, (40, 36))
    np.testing.assert_array_equal(got, _warp_reference(src, inv, (40, 36)))
    ref = cv2.warpAffine(src, np.array(inv), (40, 36), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    inner = (slice(2, 30), slice(2, 30))
    assert np.abs(got[inner].astype(int) - ref[inner]).max() <= 2  # 8-bit vs 5-bit weights


def test_warp_bilinear_of_a_crop_equals_the_whole_source() -> None:
    """A crop holding every nonzero pixel, warped with its ``origin``, gives the whole source's warp exactly."""
    src = np.zeros((40, 50, 4), np.uint8)
    src[7:30, 11:43] = RNG.integers(1, 256, (23, 32, 4), dtype=np.uint8)
    for inv in ([[0.83, -0.21, 3.3], [0.19, 0.91, -4.7]], [[1.7, 0.4, -9.1], [-0.35, 1.2, 6.25]]):
        whole = xw.warp_bilinear(src, inv, (60, 55))
        assert whole.any()
        got = xw.warp_bilinear(np.ascontiguousarray(src[7:30, 11:43]), inv, (60, 55), origin=(11, 7))
        np.testing.assert_array_equal(got, whole)


def test_warp_bilinear_int32_positions_wrap_exactly() -> None:
    """The int32 position path: row offsets far outside int32 on rows that see nothing of the source, large x
    steps (strong shrinks) and maps that leave the canvas partly empty give the per-pixel int64 definition."""
    src = RNG.integers(0, 256, (17, 21, 4), dtype=np.uint8)
    maps = (
        [[9.75, 0.1, -60.0], [0.05, 30000.0, -450000.0]],  # one canvas row in the source, huge y offsets elsewhere
        [[-3.3, 0.4, 70.0], [0.6, 2.9, -1.0]],
        [[0.0, -1.0, 30.0], [1.0, 0.0, -5.5]],
        [[40000.0, 0.0, -5.0], [0.0, 1.0, 3.0]],  # only the first canvas column can land in the source
    )
    for inv in maps:
        np.testing.assert_array_equal(xw.warp_bilinear(src, inv, (33, 29)), _warp_reference(src, inv, (33, 29)))


def test_separable_filter_equals_direct_sum_and_opencv() -> None:
    img = RNG.integers(0, 256, (19, 23), dtype=np.uint8)
    taps = np.array([1, 4, 6, 4, 1])
    got = xf.separable_filter(img, taps)
    pad = np.pad(img.astype(np.int64), 2, mode="reflect")
    for y in range(19):
        for x in range(23):
            rows = [sum(int(taps[kx]) * int(pad[y + ky, x + kx]) for kx in range(5)) for ky in range(5)]
            v = sum(int(taps[ky]) * rows[ky] for ky in range(5))
            assert got[y, x] == (v + 128) >> 8
    ref = cv2.GaussianBlur(img, (5, 5), 0)
    assert np.abs(got.astype(int) - ref).max() <= 1
    sigma_taps = xf.gaussian_taps(1.25)
    assert int(sigma_taps.sum()) == xf.KERNEL_ONE and len(sigma_taps) == 2 * 4 + 1
    blurred = xf.separable_filter(img, sigma_taps)
    assert np.abs(blurred.astype(int) - cv2.GaussianBlur(img, (9, 9), 1.25)).max() <= 1
    rgb = RNG.integers(0, 256, (19, 23, 3), dtype=np.uint8)
    for k in (np.array([1, 2, 1]), np.array([1, 6, 1])):  # an RGB image filters as its three planes
        whole = xf.separable_filter(rgb, k)
        for c in range(3):
            np.testing.assert_array_equal(whole[..., c], xf.separable_filter(np.ascontiguousarray(rgb[..., c]), k))


def test_morphology_matches_opencv() -> None:
    a = RNG.integers(0, 256, (30, 40), dtype=np.uint8)
    np.testing.assert_array_equal(xf.erode(a, 3), cv2.erode(a, np.ones((3, 3), np.uint8)))
    np.testing.assert_array_equal(xf.dilate(a, 3), cv2.dilate(a, np.ones((3, 3), np.uint8)))


def test_colour_matrix_and_blend() -> None:
    rgb = RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    m = np.array([[4000, 200, -100, 5000], [0, 4096, 0, -300000], [100, 100, 3900, 0]])
    got = xi.apply_colour_matrix(rgb, m, 12)
    x = rgb.reshape(-1, 3).astype(np.int64)
    ref = np.clip((x @ m[:, :3].T + m[:, 3] + 2048) >> 12, 0, 255).reshape(rgb.shape)
    np.testing.assert_array_equal(got, ref)
    fore, back = rgb, rgb[::-1, ::-1].copy()
    alpha = RNG.integers(0, 256, (9, 11), dtype=np.uint8)
    a = alpha.astype(np.int64)[..., None]
    np.testing.assert_array_equal(xi.blend(fore, back, alpha), (2 * (a * fore + (255 - a) * back) + 255) // 510)


def test_jpeg_roundtrip_behaves_like_a_jpeg_codec() -> None:
    img = cv2.GaussianBlur(RNG.integers(0, 256, (64, 80, 3), dtype=np.uint8), (5, 5), 0)
    for q in (70, 85, 100):
        ours = jpeg_roundtrip(img, q)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        theirs = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        err_ours = np.abs(ours.astype(int) - img).mean()
        err_theirs = np.abs(theirs.astype(int) - img).mean()
        assert err_ours <= 1.5 * err_theirs + 0.5, (q, err_ours, err_theirs)
    flat = np.full((16, 24, 3), (120, 60, 200), np.uint8)
    assert np.abs(jpeg_roundtrip(flat, 90).astype(int) - flat).max() <= 2
    assert quant_table(np.full((8, 8), 16), 50).max() == 16 and quant_table(np.full((8, 8), 16), 100).max() == 1


def test_fill_polygon_equals_per_sample_parity() -> None:
    size = 24
    pts = np.array([[3.2, 2.5], [20.1, 6.0], [12.0, 21.7], [8.3, 11.0], [2.0, 18.0]])
    xy16 = np.rint(pts * 16).astype(np.int64)
    got = fill_polygon(xy16, size)
    ref = np.zeros((size, size), np.int64)
    edges = list(zip(xy16, np.roll(xy16, -1, axis=0), strict=True))
    for y in range(size):
        for x in range(size):
            for sy in range(4):
                for sx in range(4):
                    px, py = 16 * x + 4 * sx - 6, 16 * y + 4 * sy - 6
                    inside = False
                    for (x0, y0), (x1, y1) in edges:
                        crosses = (y0 <= py < y1) or (y1 <= py < y0)
                        # the crossing lies strictly left of the sample (exact rational comparison)
                        if crosses and Fraction(int(x0)) + Fraction((py - y0) * (x1 - x0), int(y1 - y0)) < px:
                            inside = not inside
                    ref[y, x] += inside
    np.testing.assert_array_equal(got, (255 * ref + 8) // 16)


def test_grids() -> None:
    rng = np.random.default_rng(3)
    vals = [grid_uniform(rng, 0.8, 1.2, 12) for _ in range(2000)]
    assert min(vals) >= 0.8 and max(vals) <= 1.2
    assert all(v * 4096 == int(v * 4096) for v in vals)
    assert quantise(0.1, 4) == 0.125 and quantise(-15.0078125, 6) == -15.0


def test_fast_paths_equal_their_definitions() -> None:
    """The speed-ups against the plain definitions: premultiply/unpremultiply tables, box sums, the binomial
    box-sum path of separable_filter, the warp's row spans for axis-aligned and 90° maps, JPEG restricted to a mask."""
    a = np.repeat(np.arange(256), 256).astype(np.uint8)
    c = np.tile(np.arange(256), 256).astype(np.uint8)
    rgba = np.stack([c, c, c, a], axis=-1)
    assert np.array_equal(xi.premultiply(rgba)[:, 0], (2 * a.astype(int) * c + 255) // 510)
    un = xi.unpremultiply(rgba[:, :3], a)[:, 0].astype(int)
    ref = np.where(a > 0, np.minimum((510 * c.astype(int) + a) // np.maximum(2 * a.astype(int), 1), 255), 0)
    assert np.array_equal(un, ref)
    img4 = RNG.integers(0, 256, (17, 21, 4), dtype=np.uint8)
    idx = RNG.choice(17 * 21, 50, replace=False)
    sums = xf.box3_sums_at(img4, idx)
    full = xf.box3_sums(img4).reshape(-1, 4)[idx]
    assert all(np.array_equal(sums[k], full[:, k]) for k in range(4))
    for shape in ((19, 23, 3), (3, 40), (2, 9)):
        img = RNG.integers(0, 256, shape, dtype=np.uint8)
        for taps in ([1, 2, 1], [1, 4, 6, 4, 1]):
            k = np.array(taps)
            r = len(taps) // 2
            pad = np.take(np.take(img.astype(np.int64), xf._mirror_index(shape[0], r), axis=0),
                          xf._mirror_index(shape[1], r), axis=1)  # fmt: skip
            n = len(k)
            acc = sum(k[i] * k[j] * pad[i : i + shape[0], j : j + shape[1]] for i in range(n) for j in range(n))
            s2 = 2 * (len(taps) - 1)
            assert np.array_equal(xf.separable_filter(img, k), (acc + (1 << (s2 - 1))) >> s2)
    src = RNG.integers(0, 256, (9, 13, 4), dtype=np.uint8)
    maps = (
        [[0.0, 1.0, -2.5], [-1.0, 0.0, 11.25]],
        [[1.0, 0.0, -3.0], [0.0, 1.0, 2.0]],
        [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]],
    )
    for inv in maps:
        np.testing.assert_array_equal(xw.warp_bilinear(src, inv, (20, 18)), _warp_reference(src, inv, (20, 18)))
    tile = cv2.GaussianBlur(RNG.integers(0, 256, (40, 56, 3), dtype=np.uint8), (5, 5), 0)
    where = np.zeros((40, 56), bool)
    where[5:9, 30:47] = True
    where[33, 2] = True
    got = jpeg_roundtrip(tile, 80, where)
    np.testing.assert_array_equal(got[where], jpeg_roundtrip(tile, 80)[where])
    np.testing.assert_array_equal(got[~where], tile[~where])
