"""The face region P is exact by construction: each exact replacement against an independent float reference.

Tolerances follow from the arithmetic: the exact paths and the references differ only by float64 rounding
(a few ulp of the values involved, ≲ 1e-12 relative) unless a grid is involved, where the bound is the grid's
half-step times the number of terms (stated per test).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from aflw_occ import geometry as g
from aflw_occ.face_mesh import NECK_MARGIN, load_face_mesh, neck_cut
from aflw_occ.face_region import face_region_mask, fitted_image_vertices, region_from_vertices
from aflw_occ.geometry import (
    RESIDUAL_FRAC_BITS,
    SPREAD_FRAC_BITS,
    ExactSpread,
    basis_combination,
    project,
    rotation_matrix,
    solve_fixed_order,
)
from aflw_occ.raster import fill_outline


def _rot_reference(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """Rx·Ry·Rz with numpy's sin/cos and BLAS products (the old path)."""
    cx, sx, cy, sy, cz, sz = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, sx], [0.0, -sx, cx]])
    ry = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
    rz = np.array([[cz, sz, 0.0], [-sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return rx @ ry @ rz


def test_rotation_matrix_agrees_with_the_blas_product() -> None:
    """exactmath's sin/cos are within ~1 ulp of libm's; the entries are sums of ≤ 2 products of those: ≤ 1e-15."""
    rng = np.random.default_rng(1)
    for pitch, yaw, roll in rng.uniform(-np.pi, np.pi, size=(200, 3)):
        got = rotation_matrix(pitch, yaw, roll)
        np.testing.assert_allclose(got, _rot_reference(pitch, yaw, roll), rtol=0, atol=2e-15)
        np.testing.assert_allclose(got @ got.T, np.eye(3), rtol=0, atol=1e-14)


def test_projection_agrees_with_the_blas_product_and_is_per_vertex() -> None:
    """f·(v @ Rᵀ) + t (BLAS) vs the element-wise rows: both are 3-term sums, so |Δ| ≤ 1e-9 px at f·|v| ~ 1e5.
    And a vertex's projection does not depend on which other vertices are in the array (no blocking)."""
    rng = np.random.default_rng(2)
    verts = rng.normal(scale=8e4, size=(1001, 3))
    pose = np.array([0.3, -0.7, 0.1, 220.0, 210.0, 5.0, 1.3e-3])
    got = project(verts, pose)
    r = _rot_reference(*pose[:3])
    ref = pose[6] * (verts @ r.T) + pose[3:6]
    ref[:, 1] = g.FLIP_Y - ref[:, 1]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    for part in (slice(0, 1), slice(3, 500), slice(997, 1001)):
        np.testing.assert_array_equal(project(verts[part], pose), got[part])


def test_solve_fixed_order_agrees_with_lapack() -> None:
    """Gauss–Jordan with partial pivoting on a well-conditioned saddle-point system like the RBF one: the
    residual and the distance to LAPACK's solution are at float64 rounding level (cond·ε)."""
    rng = np.random.default_rng(3)
    c = rng.normal(size=(30, 3))
    k = len(c)
    a = np.zeros((k + 4, k + 4))
    a[:k, :k] = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1))
    a[:k, k] = a[k, :k] = 1.0
    a[:k, k + 1 :] = c
    a[k + 1 :, :k] = c.T
    b = rng.normal(size=(k + 4, 5))
    x = solve_fixed_order(a, b)
    ref = np.linalg.solve(a, b)
    scale = np.linalg.cond(a) * np.finfo(float).eps
    assert np.abs(x - ref).max() <= 100 * scale * np.abs(ref).max()
    with pytest.raises(g.GeometryError, match="singular"):
        solve_fixed_order(np.zeros((3, 3)), np.ones((3, 1)))


def test_exact_spread_equals_python_integer_arithmetic() -> None:
    """The float64 BLAS product of integers equals the same sum done in Python's unbounded integers, bit for bit,
    whatever the batch composition or column subset (no order, blocking or FMA effect)."""
    rng = np.random.default_rng(4)
    grid = float(1 << SPREAD_FRAC_BITS)
    m = np.rint(rng.uniform(-1, 1, size=(300, 68)) * grid) / grid
    spread = ExactSpread(m)
    res = rng.normal(scale=30.0, size=(6, 68))
    got = spread(res)
    m_int = [[int(v) for v in row] for row in (m * grid).astype(np.int64).T.tolist()]  # (68, 300)
    r_int = np.rint(res * float(1 << RESIDUAL_FRAC_BITS)).astype(np.int64).tolist()
    denom = 1 << (RESIDUAL_FRAC_BITS + SPREAD_FRAC_BITS)
    for b in range(len(res)):
        for v in range(0, 300, 7):
            exact = sum(r_int[b][k] * m_int[k][v] for k in range(68))
            assert got[b, v] == float(Fraction(exact, denom))
    np.testing.assert_array_equal(spread(res[2:3]), got[2:3])
    np.testing.assert_array_equal(ExactSpread(m[50:90])(res[::-1]), got[::-1, 50:90])
    # and it agrees with the plain float product to the grids' half-steps: Σ|r|·2^−25 + Σ|M|·2^−17
    tol = np.abs(res).sum(1).max() * 2.0 ** -(SPREAD_FRAC_BITS + 1) + 68 * 2.0 ** -(RESIDUAL_FRAC_BITS + 1)
    np.testing.assert_allclose(got, res @ m.T, rtol=0, atol=tol)
    with pytest.raises(g.GeometryError, match="exact-spread bound"):
        spread(np.full((1, 68), 1e6))
    with pytest.raises(g.GeometryError, match="grid"):
        ExactSpread(m + 1e-9)


def _spread_rows_reference(vertices: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """The spread matrix one vertex row at a time in the documented order (Σ over the K kernel columns, then the
    constant, then x, y, z; element-wise float64), rounded to the 2^−S grid: the layout-independent definition."""
    v = np.asarray(vertices, dtype=np.float64)
    centre = g._fsum_columns(v) / float(len(v))
    v = (v - centre) / (float(np.abs(v - centre).max()) or 1.0)
    c = v[keypoints]
    k = len(keypoints)
    system = np.zeros((k + 4, k + 4))
    system[:k, :k] = g._rbf_kernel(c, c)
    system[:k, k] = system[k, :k] = 1.0
    system[:k, k + 1 :] = c
    system[k + 1 :, :k] = c.T
    sol = solve_fixed_order(system, np.concatenate([np.eye(k), np.zeros((4, k))]))
    phi = g._rbf_kernel(v, c)
    acc = np.zeros((len(v), k))
    for j in range(k):
        acc += phi[:, j, None] * sol[j][None, :]
    acc += sol[k][None, :]
    for d in range(3):
        acc += v[:, d, None] * sol[k + 1 + d][None, :]
    grid = float(1 << SPREAD_FRAC_BITS)
    out = np.rint(acc * grid) / grid
    out[keypoints] = np.eye(k)
    return out


def test_spread_grid_is_the_row_definition_bit_for_bit() -> None:
    """rbf_spread_grid's (K, chunk) blocks do the same operations per entry as the row-at-a-time definition: the
    same bits (also across a chunk boundary and a short last chunk), and ExactSpread built from the grid equals
    ExactSpread built from M."""
    rng = np.random.default_rng(11)
    verts = rng.normal(size=(1300, 3)) * np.array([70.0, 90.0, 40.0]) + 5.0
    kp = rng.choice(len(verts), size=17, replace=False)
    want = _spread_rows_reference(verts, kp)
    grid = g.rbf_spread_grid(verts, kp)
    assert grid.shape == (17, 1300)
    assert (grid * (1.0 / float(1 << SPREAD_FRAC_BITS))).T.tobytes() == want.tobytes()
    assert np.ascontiguousarray(g.rbf_spread_matrix(verts, kp)).tobytes() == want.tobytes()
    res = rng.normal(scale=20.0, size=(3, 17))
    a, b = ExactSpread(want), ExactSpread(grid=grid)
    assert a.bound == b.bound and a(res).tobytes() == b(res).tobytes()


def test_basis_combination_agrees_with_blas() -> None:
    """mean + B·c accumulated column by column vs one BLAS gemv: 40 terms of magnitude ≤ 1e5, |Δ| ≤ 1e-9."""
    rng = np.random.default_rng(5)
    basis = np.asfortranarray(rng.normal(scale=1e3, size=(3000, 40)))
    coef = rng.normal(scale=50.0, size=40)
    mean = rng.normal(scale=1e4, size=3000)
    got = basis_combination(mean, basis, coef)
    np.testing.assert_allclose(got, mean + basis @ coef, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(basis_combination(mean[100:200], basis[100:200], coef), got[100:200])


def _polygon_reference(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixel centres inside a simple polygon by the crossing rule with exact rational arithmetic (slow)."""
    h, w = shape
    out = np.zeros(shape, dtype=bool)
    pts = [(Fraction(float(x)), Fraction(float(y))) for x, y in poly]
    n = len(pts)
    for r in range(h):
        xs = []
        for i in range(n):
            (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
            if min(y0, y1) <= r < max(y0, y1):
                xs.append(x0 + (r - y0) * (x1 - x0) / (y1 - y0))
        for c in range(w):
            out[r, c] = sum(1 for x in xs if c >= x) % 2 == 1
    return out


def test_fill_outline_matches_exact_rational_crossings() -> None:
    """On convex polygons the float64 crossing agrees with the exact rational one except within an ulp of a pixel
    centre; random vertices never land there, so the masks are equal."""
    rng = np.random.default_rng(6)
    for _ in range(6):
        ang = np.sort(rng.uniform(0, 2 * np.pi, size=7))
        poly = np.stack([20 + 14 * np.cos(ang), 18 + 11 * np.sin(ang)], 1) + rng.uniform(-0.3, 0.3, size=(7, 2))
        q = np.roll(poly, -1, axis=0)
        got = fill_outline(poly[:, 0], poly[:, 1], q[:, 0], q[:, 1], (40, 40))
        np.testing.assert_array_equal(got, _polygon_reference(poly, (40, 40)))


def _interp_neck(vertices: np.ndarray, keypoints: np.ndarray, margin: float = NECK_MARGIN) -> np.ndarray:
    """The old definition with np.interp."""
    jaw = vertices[keypoints[:17]]
    order = np.argsort(jaw[:, 0])
    return vertices[:, 1] >= np.interp(vertices[:, 0], jaw[order, 0], jaw[order, 1]) - margin


def _float_spread(vertices: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """The RBF spread matrix with LAPACK's inverse and BLAS products in float64 (not quantised); distances as
    √Σ(a − b)² (the old |a|² + |b|² − 2a·b form loses ~1e-8 to cancellation, which the system amplifies)."""
    v = np.asarray(vertices, dtype=np.float64)
    centre = v.mean(0)
    v = (v - centre) / (float(np.abs(v - centre).max()) or 1.0)
    c = v[keypoints]
    k = len(keypoints)

    def kern(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    system = np.zeros((k + 4, k + 4))
    system[:k, :k] = kern(c, c)
    system[:k, k] = system[k, :k] = 1.0
    system[:k, k + 1 :] = c
    system[k + 1 :, :k] = c.T
    inv = np.linalg.inv(system)[:, :k]
    return np.concatenate([kern(v, c), np.ones((len(v), 1)), v], axis=1) @ inv


@pytest.fixture(scope="module")
def mesh(real_source):
    return load_face_mesh(real_source).prepare()


@pytest.mark.real
def test_neck_cut_equals_the_np_interp_definition(mesh) -> None:
    face = neck_cut(mesh.vertices, mesh.keypoints)
    np.testing.assert_array_equal(face, _interp_neck(mesh.vertices, mesh.keypoints))


@pytest.mark.real
def test_spread_matrix_agrees_with_the_lapack_blas_construction(mesh) -> None:
    """The exact spread matrix is the old float one rounded to its 2^−24 grid: |Δ| ≤ 2^−25 + solver rounding."""
    sub = np.concatenate([mesh.keypoints, np.arange(0, len(mesh.vertices), 97)])
    got = mesh.spread[sub]
    assert np.array_equal(got * 2.0**SPREAD_FRAC_BITS, np.rint(got * 2.0**SPREAD_FRAC_BITS))
    ref = _float_spread(mesh.vertices, mesh.keypoints)[sub]
    assert np.abs(got - ref).max() <= 2.0 ** -(SPREAD_FRAC_BITS + 1) + 1e-9
    np.testing.assert_array_equal(mesh.spread[mesh.keypoints], np.eye(68))


@pytest.mark.real
def test_p_agrees_with_the_old_float32_path(mesh, real_dataset) -> None:
    """P against the previous float definition (np.sin/cos, BLAS float32 spread of the LAPACK matrix): the vertex
    positions differ by ≲ 1e-4 px, so at most a pixel or two whose centre lies that close to an outline edge may
    flip (on all 2000 images: 10 masks differ, by 1 pixel each)."""
    old_spread = _float_spread(mesh.vertices, mesh.keypoints).astype(np.float32)
    for i in range(0, 2000, 97):
        s = real_dataset[i]
        posed = s.pose_para[6] * (mesh.vertices @ _rot_reference(*s.pose_para[:3]).T) + s.pose_para[3:6]
        posed[:, 1] = g.FLIP_Y - posed[:, 1]
        resid = (s.pt3d_68.T - posed[mesh.keypoints]).astype(np.float32)
        posed += old_spread @ resid
        ref = region_from_vertices(posed, mesh)
        new_verts = fitted_image_vertices(s, mesh)
        assert np.abs(new_verts - posed)[mesh.face_vertices, :2].max() < 1e-3, s.id
        got = face_region_mask(s, mesh)
        assert np.count_nonzero(got != ref) <= 2, s.id
