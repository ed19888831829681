"""Projection, mesh fitting and the rasterised face region P (unit tests + real AFLW2000-3D checks)."""

from __future__ import annotations

import numpy as np
import pytest

from aflw_occ.errors import SourceError
from aflw_occ.face_mesh import load_face_mesh, neck_cut
from aflw_occ.face_region import face_region_mask, fitted_image_vertices
from aflw_occ.geometry import PIXEL_OFFSET, GeometryError, project, rbf_spread_matrix, rotation_matrix
from aflw_occ.raster import edge_twins, front_facing, rasterize_triangles


def _reference_raster(xy: np.ndarray, tri: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Independent reference: barycentric test of every pixel centre against every triangle."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros(shape, dtype=bool)
    for a, b, c in xy[tri]:
        det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        if det == 0:
            continue
        l1 = ((b[1] - c[1]) * (xx - c[0]) + (c[0] - b[0]) * (yy - c[1])) / det
        l2 = ((c[1] - a[1]) * (xx - c[0]) + (a[0] - c[0]) * (yy - c[1])) / det
        out |= (l1 >= 0) & (l2 >= 0) & (1 - l1 - l2 >= 0)
    return out


def test_rotation_matrix_matches_release_convention() -> None:
    p, y, r = 0.3, -0.7, 1.1
    c, s = np.cos, np.sin
    rx = np.array([[1, 0, 0], [0, c(p), s(p)], [0, -s(p), c(p)]])
    ry = np.array([[c(y), 0, -s(y)], [0, 1, 0], [s(y), 0, c(y)]])
    rz = np.array([[c(r), s(r), 0], [-s(r), c(r), 0], [0, 0, 1]])
    np.testing.assert_allclose(rotation_matrix(p, y, r), rx @ ry @ rz, atol=1e-15)
    pose = np.array([0.0, 0.0, 0.0, 10.0, 20.0, 5.0, 2.0])
    out = project(np.array([[1.0, 2.0, 3.0]]), pose)
    np.testing.assert_allclose(out, [[12.0, 451.0 - 24.0, 11.0]])


def test_rasterizer_matches_brute_force_on_random_meshes() -> None:
    rng = np.random.default_rng(0)
    # a perturbed grid (a tiling, shared edges) plus free random triangles overlapping it, both windings
    gx, gy = np.meshgrid(np.linspace(3, 30, 8), np.linspace(2, 28, 7))
    pts = np.stack([gx.ravel(), gy.ravel()], 1) + rng.uniform(-1.2, 1.2, (56, 2))
    quads = [(j * 8 + i, j * 8 + i + 1, (j + 1) * 8 + i) for j in range(6) for i in range(7)]
    quads += [(j * 8 + i + 1, (j + 1) * 8 + i + 1, (j + 1) * 8 + i) for j in range(6) for i in range(7)]
    extra = rng.uniform(-4, 40, (30, 2))
    xy = np.concatenate([pts, extra])
    tri = np.concatenate([np.array(quads), 56 + rng.integers(0, 30, (10, 3))])
    shape = (36, 38)
    np.testing.assert_array_equal(rasterize_triangles(xy, tri, shape), _reference_raster(xy, tri, shape))
    # with a selection and precomputed twins (only consistently wound triangles)
    ff = front_facing(xy, tri)
    got = rasterize_triangles(xy, tri, shape, ff, edge_twins(tri, len(xy)))
    np.testing.assert_array_equal(got, _reference_raster(xy, tri[ff], shape))


def test_edge_twins_pairs_reversed_edges() -> None:
    tri = np.array([[0, 1, 2], [2, 1, 3]])
    tw = edge_twins(tri, 4)
    assert tw[0, 1] == 3 * 1 + 0 and tw[1, 0] == 1  # edge 1→2 pairs with 2→1
    assert (tw[0, [0, 2]] == -1).all() and (tw[1, 1:] == -1).all()


def test_rbf_spread_is_exact_at_keypoints_and_reproduces_affine_fields() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(300, 3))
    kp = rng.choice(300, 20, replace=False)
    m = rbf_spread_matrix(v, kp)
    assert m.dtype == np.float64 and np.array_equal(m * 2.0**24, np.rint(m * 2.0**24))  # on its 2^-24 grid
    d = rng.normal(size=(20, 3))
    np.testing.assert_array_equal((m @ d)[kp], d)  # unit rows at the keypoints
    a = rng.normal(size=(3, 3))
    field = v @ a + np.array([1.0, -2.0, 0.5])
    # exact in exact arithmetic; the grid adds ≤ Σ_k |field_k|·2^-25 ≈ 1e-6, the solve ~1e-12
    np.testing.assert_allclose(m @ field[kp], field, atol=1e-5)


def test_mesh_loading_errors(tmp_path) -> None:
    with pytest.raises(SourceError, match="Model_Shape_Sim.mat"):
        load_face_mesh(tmp_path)
    (tmp_path / "Code").mkdir()
    (tmp_path / "Code" / "Model_Shape_Sim.mat").write_bytes(b"not a mat file")
    with pytest.raises(SourceError, match="Model_Shape_Sim.mat"):
        load_face_mesh(tmp_path)
    with pytest.raises(SourceError, match="BFM subset"):
        load_face_mesh(bfm_dir=tmp_path)
    import scipy.io

    bfm = tmp_path / "bfm"
    bfm.mkdir()
    for name, shape in (("u_shp", (12, 1)), ("u_exp", (12, 1)), ("w_shp_sim", (9, 40)), ("w_exp_sim", (12, 10))):
        np.save(bfm / f"{name}.npy", np.zeros(shape, np.float32))
    np.save(bfm / "keypoints_sim.npy", np.arange(204))
    scipy.io.savemat(str(bfm / "tri.mat"), {"tri": np.array([[1], [2], [3]])})
    with pytest.raises(SourceError, match="inconsistent BFM subset shapes"):
        load_face_mesh(bfm_dir=bfm)


def test_bad_pose_input() -> None:
    mesh_like = None
    with pytest.raises(GeometryError, match="pose_para"):
        fitted_image_vertices((np.zeros(6), np.zeros((3, 68))), mesh_like)  # type: ignore[arg-type]
    with pytest.raises(GeometryError, match="NaN"):
        fitted_image_vertices((np.full(7, np.nan), np.zeros((3, 68))), mesh_like)  # type: ignore[arg-type]


# --- real data ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mesh(real_source):
    return load_face_mesh(real_source).prepare()


@pytest.fixture(scope="module")
def frontal_samples(real_dataset):
    ang = np.abs(real_dataset.angles_deg())
    idx = np.flatnonzero((ang < 30).all(axis=1))[::50]  # near-frontal: the landmark hull is then face
    return [real_dataset[int(i)] for i in idx]


@pytest.mark.real
def test_release_mesh_shape(mesh) -> None:
    assert mesh.vertices.shape == (53215, 3) and mesh.triangles.shape == (105840, 3)
    assert mesh.keypoints.shape == (68,)
    face = neck_cut(mesh.vertices, mesh.keypoints)
    assert 0.75 < face.mean() < 0.97  # the neck is cut, the face (with ears and forehead) stays
    assert face[mesh.keypoints].all()


@pytest.mark.real
def test_fitted_keypoints_land_on_pt3d_68(mesh, real_dataset) -> None:
    for s in [real_dataset[i] for i in (0, 17, 333, 1000, 1999)]:
        v = fitted_image_vertices(s, mesh)
        np.testing.assert_allclose(v[mesh.keypoints], s.pt3d_68.T, atol=1e-3)
        # independent of the fitting: the posed mean face alone is already within a few pixels
        raw = project(mesh.vertices[mesh.keypoints], s.pose_para)
        assert np.abs(raw[:, :2] - s.pt3d_68[:2].T).mean() < 15.0


@pytest.mark.real
def test_region_covers_landmark_hull(mesh, frontal_samples) -> None:
    import cv2

    for s in frontal_samples:
        p = face_region_mask(s, mesh)
        hull = cv2.convexHull(np.round(s.pt3d_68[:2].T - PIXEL_OFFSET).astype(np.int32))
        hm = np.zeros((450, 450), np.uint8)
        cv2.fillConvexPoly(hm, hull, 1)
        hm = hm.astype(bool)
        assert (p & hm).sum() / hm.sum() > 0.97, s.id
        assert p.sum() < 3.0 * hm.sum(), s.id  # and is not wildly larger
    # the pair form gives the same region
    s = frontal_samples[0]
    np.testing.assert_array_equal(face_region_mask((s.pose_para, s.pt3d_68), mesh), face_region_mask(s, mesh))


@pytest.mark.real
def test_bfm_mesh_agrees_with_release_mesh(shared, mesh, frontal_samples) -> None:
    bfm = load_face_mesh(bfm_dir=shared / "data" / "bfm-3ddfa").prepare()
    assert bfm.vertices.shape == mesh.vertices.shape
    for s in frontal_samples[:4]:
        v = fitted_image_vertices(s, bfm)
        np.testing.assert_allclose(v[bfm.keypoints], s.pt3d_68.T, atol=1e-3)
        a, b = face_region_mask(s, mesh), face_region_mask(s, bfm)
        assert (a & b).sum() / (a | b).sum() > 0.9, s.id
