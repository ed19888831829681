"""The skin segmenter's exact operations (:mod:`aflw_occ.skin.exact`) against independent references.

Integer operations must equal a straightforward loop (or OpenCV where OpenCV's operation is itself integer and
exact: median / min / max of 0-1 images, 2×2 area averages); float64 element-wise ones must agree with a numpy /
LAPACK float reference to rounding level, stated per test.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from aflw_occ import exactmath
from aflw_occ.skin import exact, is_grayscale, ita_degrees
from aflw_occ.skin.adaptive import local_contrast, robust_gaussian
from aflw_occ.skin.gmm import _packaged_gmm


def _box_loop(a: np.ndarray, k: int, border: str, value: int = 0) -> np.ndarray:
    h, w = a.shape
    out = np.zeros((h, w), dtype=np.int64)
    r = k // 2

    def at(i: int, j: int) -> int:
        if border == "constant" and not (0 <= i < h and 0 <= j < w):
            return value
        if border == "replicate":
            i, j = min(max(i, 0), h - 1), min(max(j, 0), w - 1)
        if border == "reflect":  # fedcba|abcdef
            i = -i - 1 if i < 0 else (2 * h - i - 1 if i >= h else i)
            j = -j - 1 if j < 0 else (2 * w - j - 1 if j >= w else j)
        return int(a[i, j])

    for i in range(h):
        for j in range(w):
            out[i, j] = sum(at(i + di, j + dj) for di in range(-r, r + 1) for dj in range(-r, r + 1))
    return out


@pytest.mark.parametrize("border", ["reflect", "replicate", "constant"])
def test_box_sum_equals_a_loop(border: str) -> None:
    """Both paths (OpenCV's integer boxFilter for uint8/uint16/bool, the integral image otherwise) equal a loop."""
    a = np.random.default_rng(1).integers(0, 256, size=(9, 13))
    for k in (1, 3, 5):
        ref = _box_loop(a, k, border, 0)
        np.testing.assert_array_equal(exact.box_sum(a.astype(np.uint8), k, border), ref)
        np.testing.assert_array_equal(exact.box_sum((a * 200).astype(np.uint16), k, border), 200 * ref)
        np.testing.assert_array_equal(exact.box_sum(a > 100, k, border), _box_loop(a > 100, k, border, 0))
        np.testing.assert_array_equal(exact.box_sum(a, k, border, 7), _box_loop(a, k, border, 7))
        np.testing.assert_array_equal(exact.box_sum_integral(a, k, border, 7), _box_loop(a, k, border, 7))


def test_binary_filters_equal_their_box_count_definitions() -> None:
    """OpenCV's median, min and max filters of 0/1 uint8 images (order statistics: exact by nature) equal their
    definitions as integer box counts with OpenCV's borders: median ⇔ count ≥ (k² + 1)/2 (replicated border),
    erosion ⇔ count = k² (outside = 1), dilation ⇔ count > 0 (outside = 0)."""
    rng = np.random.default_rng(2)
    for p in (0.3, 0.6, 0.85):
        m = (rng.random((37, 53)) < p).astype(np.uint8)
        for k in (3, 5):
            np.testing.assert_array_equal(
                exact.binary_median(m, k), exact.box_sum_integral(m, k, "replicate") >= (k * k + 1) // 2
            )
            np.testing.assert_array_equal(exact.erode(m, k), exact.box_sum_integral(m, k, "constant", 1) == k * k)
            np.testing.assert_array_equal(exact.dilate(m, k), exact.box_sum_integral(m, k, "constant", 0) > 0)
        ref = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        ref = cv2.morphologyEx(ref, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        np.testing.assert_array_equal(exact.open_close(m, 3, 5), ref.astype(bool))


def test_area_resize_and_nearest_equal_opencv() -> None:
    """``cv2.resize`` INTER_AREA at ½: equal for even sizes (OpenCV's integer path); for odd sizes OpenCV sums in
    float32, so only exact half-integer means (ties) may differ, by 1, on ≲ 1e-3 of the pixels. INTER_NEAREST back
    to full size: equal (integer ⌊r·h/H⌋)."""
    rng = np.random.default_rng(3)
    for h, w in ((40, 62), (41, 62), (39, 61), (161, 200)):
        img = rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)
        got = exact.resize_area_u8(img, (h // 2, w // 2))
        ref = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        diff = np.abs(got.astype(int) - ref)
        if h % 2 == 0 and w % 2 == 0:
            np.testing.assert_array_equal(got, ref)
        assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-3 * diff.size + 1, (h, w)
        m = (rng.random((h // 2, w // 2)) < 0.5).astype(np.uint8)
        np.testing.assert_array_equal(
            exact.resize_nearest(m, (h, w)), cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
        )


def test_area_resize_equals_a_rational_loop() -> None:
    """Against the definition with Python fractions: overlap-weighted mean, ties to even (odd sizes)."""
    from fractions import Fraction

    img = np.random.default_rng(13).integers(0, 256, size=(7, 9)).astype(np.uint8)
    got = exact.resize_area_u8(img, (3, 4))
    for r in range(3):
        for c in range(4):
            acc = Fraction(0)
            for i in range(7):
                for j in range(9):
                    oy = max(0, min(Fraction(i + 1), Fraction((r + 1) * 7, 3)) - max(Fraction(i), Fraction(r * 7, 3)))
                    ox = max(0, min(Fraction(j + 1), Fraction((c + 1) * 9, 4)) - max(Fraction(j), Fraction(c * 9, 4)))
                    acc += oy * ox * int(img[i, j])
            assert got[r, c] == round(acc / Fraction(7 * 9, 12))


def test_luma_equals_the_fixed_point_formula() -> None:
    """Y = (9798 R + 19235 G + 3735 B + 2^14) >> 15 (Python integers), within ½ + 2^−15·255 of 0.299 R + 0.587 G +
    0.114 B. OpenCV 5.x computes exactly this (all 2^24 colours); OpenCV 4.x's 14-bit formula differs on 0.26 %."""
    rgb = np.random.default_rng(4).integers(0, 256, size=(2000, 3)).astype(np.uint8)
    got = exact.luma_u8(rgb)
    ref = [(9798 * int(r) + 19235 * int(g) + 3735 * int(b) + 16384) >> 15 for r, g, b in rgb]
    np.testing.assert_array_equal(got, ref)
    x = rgb.astype(np.float64)
    assert np.abs(got - (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])).max() <= 0.51
    if cv2.__version__.startswith("5."):
        np.testing.assert_array_equal(got, cv2.cvtColor(rgb[None], cv2.COLOR_RGB2GRAY)[0])


def test_local_contrast_equals_the_float_std() -> None:
    """√(n·S₂ − S₁²)/n vs numpy's float64 std over each reflected window: rounding level (≤ 1e-9 on 0–128)."""
    y = np.random.default_rng(5).integers(0, 256, size=(15, 17)).astype(np.uint8)
    got = local_contrast(y, 5)
    p = np.pad(y.astype(np.float64), 2, mode="symmetric")
    ref = np.array([[p[i : i + 5, j : j + 5].std() for j in range(17)] for i in range(15)])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="integer"):
        local_contrast(y + 0.5, 3)


def test_weighted_moments_are_exact_and_order_free() -> None:
    """Against float64 numpy moments of the same quantised data (≤ 1e-9 relative), and bit-identical for any row
    order (integer sums)."""
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 255, size=(3000, 4))
    w = rng.uniform(0.3, 1.0, size=3000)
    mean, cov = exact.weighted_moments(x, w, 8, 10)
    xq, wq = np.rint(x * 256) / 256, np.rint(w * 1024) / 1024
    ref_mean = (wq[:, None] * xq).sum(0) / wq.sum()
    d = xq - ref_mean
    ref_cov = (wq[:, None] * d).T @ d / wq.sum()
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-9)
    perm = rng.permutation(3000)
    m2, c2 = exact.weighted_moments(x[perm], w[perm], 8, 10)
    assert np.array_equal(mean, m2) and np.array_equal(cov, c2)
    # the Python-integer fallback (values too large for int64 sums) gives the same bits
    big_m, big_c = exact.weighted_moments(x * 2**20, w, 8, 10)
    np.testing.assert_allclose(big_m, ref_mean * 2**20, rtol=1e-6)


def test_mahalanobis_agrees_with_lapack() -> None:
    """Fixed-order Cholesky / forward substitution / element-wise sums vs LAPACK + BLAS: ≤ 1e-11 relative."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + 0.5 * np.eye(4)
    x = rng.normal(scale=3, size=(500, 4))
    mu = rng.normal(size=4)
    lin = np.linalg.inv(np.linalg.cholesky(cov))
    z = (x - mu) @ lin.T
    ref = (z * z).sum(1)
    np.testing.assert_allclose(exact.mahalanobis_sq(x, mu, cov), ref, rtol=1e-11)
    with pytest.raises(ValueError, match="positive definite"):
        exact.cholesky(-np.eye(2))


def test_robust_gaussian_is_order_free() -> None:
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.normal(100, 5, size=(400, 2)), rng.normal(10, 1, size=(60, 2))])
    w = rng.uniform(0.3, 1, size=460)
    m1, c1 = robust_gaussian(x, w, trim=4.605)
    perm = rng.permutation(460)
    m2, c2 = robust_gaussian(x[perm], w[perm], trim=4.605)
    assert np.array_equal(m1, m2) and np.array_equal(c1, c2)


def test_gmm_density_agrees_with_numpy_exp() -> None:
    """exactmath.exp and element-wise quadratic forms vs np.exp / einsum: ≤ 1e-13 relative where the density is
    not negligible."""
    gmm = _packaged_gmm()
    x = np.random.default_rng(9).uniform([16, 16, 16], [235, 240, 240], size=(4000, 3))
    for mix in (gmm.skin, gmm.nonskin):
        ref = np.zeros(len(x))
        for w, mu, inv, det in zip(mix.weights, mix.means, mix.cov_inv, mix.cov_det, strict=True):
            diff = x - mu
            ref += w * np.exp(-0.5 * np.einsum("nd,nd->n", diff @ inv, diff)) / np.sqrt((2 * np.pi) ** 3 * det)
        got = mix.density(x)
        big = ref > 1e-300
        np.testing.assert_allclose(got[big], ref[big], rtol=1e-12)


def test_q99_equals_numpy_percentile() -> None:
    """The exact integer decision equals np.percentile(…, 99) ≤ limit (linear interpolation) on random data."""
    rng = np.random.default_rng(10)
    for n in (1, 2, 7, 101, 1000, 4321):
        for hi in (4, 12, 40):
            v = rng.integers(0, hi, size=n)
            for limit in (0, 3, 8, 8.5, 20):
                assert exact.q99_at_most(v, limit) == (np.percentile(v, 99) <= limit), (n, hi, limit)


def test_lab_agrees_with_the_textbook_formula_and_opencv() -> None:
    """L*, b* from the decimal sRGB table and Newton cube roots vs numpy float64 (np.power, np.cbrt): ≤ 1e-9;
    vs OpenCV's float Lab (spline approximations): ≤ 0.5."""
    rgb = np.random.default_rng(11).integers(0, 256, size=(5000, 3)).astype(np.uint8)
    lum, b = exact.rgb_to_lab_lb(rgb)
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = lin @ np.array([0.212671, 0.715160, 0.072169])
    z = lin @ np.array([0.019334, 0.119193, 0.950227]) / 1.088754

    def f(t: np.ndarray) -> np.ndarray:
        return np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)

    np.testing.assert_allclose(lum, np.where(y > 0.008856, 116 * f(y) - 16, 903.3 * y), rtol=0, atol=1e-9)
    np.testing.assert_allclose(b, 200 * (f(y) - f(z)), rtol=0, atol=1e-9)
    lab = cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / np.float32(255), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    assert np.abs(lum - lab[:, 0]).max() < 0.5 and np.abs(b - lab[:, 2]).max() < 0.5


def test_ita_uses_exact_medians_and_atan2() -> None:
    img = np.random.default_rng(12).integers(60, 230, size=(20, 20, 3)).astype(np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[3:15, 4:17] = True
    lum, b = exact.rgb_to_lab_lb(img[mask])
    ref = float(np.degrees(np.arctan2(np.median(lum) - 50.0, np.median(b))))
    got = ita_degrees(img, mask)
    assert abs(got - ref) < 1e-12
    assert got == exactmath.atan2_deg(float(np.median(lum)) - 50.0, float(np.median(b)))
    assert not is_grayscale(img)


def _polygon_rule(pts: np.ndarray, thick: float, shape: tuple[int, int], fill: bool) -> np.ndarray:
    """Slow reference with Python fractions: a pixel centre is set when it lies inside the polygon (even-odd,
    half-open crossings) or within thick/2 of a segment."""
    from fractions import Fraction

    h, w = shape
    p = [(Fraction(float(x)), Fraction(float(y))) for x, y in pts]
    n = len(p)
    segs = [(p[i], p[(i + 1) % n]) for i in range(n if fill else n - 1)]
    rad2 = Fraction(thick) ** 2 / 4
    out = np.zeros(shape, dtype=bool)
    for r in range(h):
        xs = [x0 + (r - y0) * (x1 - x0) / (y1 - y0) for (x0, y0), (x1, y1) in segs if min(y0, y1) <= r < max(y0, y1)]
        for c in range(w):
            inside = fill and sum(1 for x in xs if c >= x) % 2 == 1
            near = False
            for (ax, ay), (bx, by) in segs:
                dx, dy = bx - ax, by - ay
                t = min(max(((c - ax) * dx + (r - ay) * dy) / (dx * dx + dy * dy), 0), 1)
                ex, ey = c - ax - t * dx, r - ay - t * dy
                near = near or ex * ex + ey * ey <= rad2
            out[r, c] = inside or near
    return out


def test_polygons_match_the_rational_definition_and_stay_close_to_opencv() -> None:
    """The seed / part drawing (no OpenCV: ``cv2.fillPoly`` changed its edge pixels between 4.10 and 5.x) equals
    its definition in exact rationals, and stays within a few % of OpenCV 5's fillPoly."""
    from aflw_occ.landmark_patches import fill_polygon, thick_polyline

    rng = np.random.default_rng(14)
    for _ in range(4):
        ang = np.sort(rng.uniform(0, 2 * np.pi, size=6))
        pts = np.rint((np.stack([15 + 9 * np.cos(ang), 14 + 8 * np.sin(ang)], 1)) * 16) / 16
        np.testing.assert_array_equal(fill_polygon(pts, (30, 30)), _polygon_rule(pts, 1, (30, 30), True))
        np.testing.assert_array_equal(thick_polyline(pts, False, 3, (30, 30)), _polygon_rule(pts, 3, (30, 30), False))
        cv = np.zeros((30, 30), np.uint8)
        cv2.fillPoly(cv, [(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        assert np.count_nonzero(cv.astype(bool) ^ fill_polygon(pts, (30, 30))) <= 0.15 * cv.sum()


def test_parts_mask_and_seed_are_the_unions_of_their_pieces() -> None:
    """The one-pass forms equal the piece-by-piece ones: :func:`parts_mask` is the union of :func:`part_masks`, the
    seed the union of its polygons each drawn by :func:`fill_polygon`, and a grouped ``fill_outline`` the union of
    the groups filled one at a time (overlapping polygons: a pixel inside two of them stays set)."""
    from aflw_occ.landmark_patches import (
        SEED_POLYGONS,
        SEED_SHRINK,
        _grid16,
        _shrunk,
        central_face_mask,
        fill_polygon,
        part_masks,
        parts_mask,
    )
    from aflw_occ.raster import fill_outline

    rng = np.random.default_rng(15)
    base = np.stack([np.linspace(20, 80, 68), 50 + 20 * np.sin(np.linspace(0, 6, 68))], 1)
    for k in range(5):
        lm = base * rng.uniform(0.5, 1.5) + rng.normal(0, 1 + 2 * k, (68, 2)) - 10 * k
        shape = (int(rng.integers(40, 140)), int(rng.integers(40, 140)))
        union = np.zeros(shape, dtype=bool)
        for m in part_masks(lm, shape).values():
            union |= m
        np.testing.assert_array_equal(parts_mask(lm, shape), union)
        seed = np.zeros(shape, dtype=bool)
        for idx in SEED_POLYGONS.values():
            seed |= fill_polygon(_grid16(_shrunk(lm[list(idx)], SEED_SHRINK)), shape)
        np.testing.assert_array_equal(central_face_mask(lm, shape), seed)
    polys = [rng.uniform(0, 30, (int(rng.integers(3, 8)), 2)) for _ in range(4)]
    each = np.zeros((30, 30), dtype=bool)
    for p in polys:
        q = np.roll(p, -1, axis=0)
        each |= fill_outline(p[:, 0], p[:, 1], q[:, 0], q[:, 1], (30, 30), even_odd=True)
    p, q = np.concatenate(polys), np.concatenate([np.roll(p, -1, axis=0) for p in polys])
    group = np.repeat(np.arange(4), [len(p) for p in polys])
    np.testing.assert_array_equal(fill_outline(p[:, 0], p[:, 1], q[:, 0], q[:, 1], (30, 30), True, group), each)


def test_area_halving_equals_the_general_area_sums() -> None:
    """The half-size path (:func:`aflw_occ.area.half_sums`, rint of the quotient) against the general integer area
    sums rounded with ties to even, on odd sizes, 1/3/4 channels and tie-heavy images (two grey levels)."""
    from aflw_occ.area import area_sums

    rng = np.random.default_rng(29)
    for h, w, c in ((41, 62, 3), (62, 41, 3), (39, 61, 3), (3, 5, 1), (161, 200, 4), (77, 93, 0)):
        shape = (h, w) if c == 0 else (h, w, c)
        for img in (rng.integers(0, 256, size=shape), rng.integers(0, 2, size=shape) * 255):
            img = img.astype(np.uint8)
            num, den = area_sums(img, (w // 2, h // 2))
            q, rem = np.divmod(num.astype(np.int64), den)
            want = q + ((2 * rem > den) | ((2 * rem == den) & (q % 2 == 1)))
            np.testing.assert_array_equal(exact.resize_area_u8(img, (h // 2, w // 2)), want.astype(np.uint8))


def test_area_sums_row_path_equals_the_plane_path() -> None:
    """uint8 / uint16 images take the row-gather path of :func:`aflw_occ.area.area_sums`; the same pixels as int32
    take the per-plane tap path: equal integer sums for shrinks, enlargements, 1–4 channels, strided views and int64
    sums."""
    from aflw_occ.area import area_sums

    rng = np.random.default_rng(31)
    for h, w, c, nw, nh in ((37, 53, 0, 20, 11), (40, 41, 1, 40, 41), (61, 29, 3, 90, 12), (33, 47, 4, 7, 30),
                            (2306 // 9, 648 // 9, 1, 12, 44), (5, 3, 2, 9, 8)):  # fmt: skip
        shape = (h, w) if c == 0 else (h, w, c)
        img = rng.integers(0, 256, size=shape).astype(np.uint8)
        for view in (img, img[::-1], img[:, ::2]):
            got, den = area_sums(view, (nw, nh))
            want, den_want = area_sums(view.astype(np.int32), (nw, nh))
            assert got.dtype == want.dtype == np.int32 and den == den_want
            np.testing.assert_array_equal(got, want)
    # uint16 (premultiplied colour, c·α ≤ 255²) with int64 sums: the same as the int32 plane path
    big = rng.integers(0, 255 * 255 + 1, size=(700, 400, 3)).astype(np.uint16)
    got, _ = area_sums(big, (90, 150), limit=255 * 255)
    want, _ = area_sums(big.astype(np.int32), (90, 150), limit=255 * 255)
    assert got.dtype == want.dtype == np.int64
    np.testing.assert_array_equal(got, want)
