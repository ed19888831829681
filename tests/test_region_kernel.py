"""The fast face region P (:mod:`aflw_occ.region_kernel`) equals the dense definition pixel for pixel on real images."""

from __future__ import annotations

import numpy as np
import pytest

from aflw_occ.face_mesh import load_face_mesh
from aflw_occ.face_region import face_geometry, fitted_image_vertices
from aflw_occ.geometry import PIXEL_OFFSET, GeometryError
from aflw_occ.raster import rasterize_triangles
from aflw_occ.region_kernel import RegionKernel


def _dense_reference(sample, mesh) -> tuple[np.ndarray, float]:
    """P the long way: every vertex fitted, the generic rasteriser (which orients the triangles and pairs their
    edges itself, no precomputed twins) over the front-facing face triangles; and the outside share."""
    verts = fitted_image_vertices(sample, mesh)
    xy = verts[:, :2] - PIXEL_OFFSET
    tri = mesh.face_triangles
    a, b, c = xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]]
    front = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) > 0
    region = rasterize_triangles(xy, tri[front], (450, 450))
    face = xy[mesh.face_vertices]
    outside = (face[:, 0] < -0.5) | (face[:, 0] > 449.5) | (face[:, 1] < -0.5) | (face[:, 1] > 449.5)
    return region, float(outside.mean())


@pytest.fixture(scope="module")
def mesh(real_source):
    return load_face_mesh(real_source).prepare()


def _spread_ids(real_dataset, n: int) -> list[int]:
    """n images spread over the yaw range, plus the ones whose face leaves the image the most."""
    yaw = real_dataset.angles_deg()[:, 1]
    order = np.argsort(yaw)
    picks = set(order[np.linspace(0, len(order) - 1, n).astype(int)].tolist())
    lm = real_dataset.landmarks()[:, :, :2]
    spill = np.maximum(-lm.min(axis=(1, 2)), lm.max(axis=(1, 2)) - 450)
    picks |= set(np.argsort(spill)[-4:].tolist())
    return sorted(int(i) for i in picks)


@pytest.mark.real
def test_kernel_equals_dense_definition(mesh, real_dataset) -> None:
    for i in _spread_ids(real_dataset, 24):
        s = real_dataset[i]
        region, outside = _dense_reference(s, mesh)
        got = face_geometry(s, mesh)
        np.testing.assert_array_equal(got.region, region, err_msg=s.id)
        assert got.outside_fraction == outside, s.id
        assert got.region.any(), s.id


@pytest.mark.real
def test_kernel_equals_dense_definition_bfm(shared, real_dataset) -> None:
    from aflw_occ.source import load_mat

    bfm = load_face_mesh(bfm_dir=shared / "data" / "bfm-3ddfa").prepare()
    for i in _spread_ids(real_dataset, 4):
        s = real_dataset[i]
        fields = load_mat(s.mat_path)
        view = type(
            "View",
            (),
            {
                "pose_para": s.pose_para,
                "pt3d_68": s.pt3d_68,
                "shape_para": fields["Shape_Para"].reshape(-1),
                "exp_para": fields["Exp_Para"].reshape(-1),
            },
        )()
        region, outside = _dense_reference(view, bfm)
        got = face_geometry(view, bfm)
        np.testing.assert_array_equal(got.region, region, err_msg=s.id)
        assert got.outside_fraction == outside


@pytest.mark.real
def test_kernel_rejects_bad_pose(mesh) -> None:
    with pytest.raises(GeometryError, match=r"pose_para must be \(7,\)"):
        RegionKernel.of(mesh)(np.zeros(6), np.zeros((3, 68)))
    with pytest.raises(GeometryError, match="NaN or inf"):
        RegionKernel.of(mesh)(np.full(7, np.nan), np.zeros((3, 68)))


@pytest.mark.real
def test_batched_fit_gives_the_same_regions(mesh, real_dataset) -> None:
    """A build fits a whole block at once; P must not depend on that (nor on which images share the block)."""
    picks = [real_dataset[i] for i in _spread_ids(real_dataset, 12)]
    items = [(s.pose_para, s.pt3d_68, None, None) for s in picks]
    together = RegionKernel.of(mesh).many(items, [(450, 450)] * len(items))
    reversed_ = RegionKernel.of(mesh).many(items[::-1], [(450, 450)] * len(items))[::-1]
    for s, a, b in zip(picks, together, reversed_, strict=True):
        alone = face_geometry(s, mesh)
        np.testing.assert_array_equal(a.region, alone.region, err_msg=s.id)
        np.testing.assert_array_equal(b.region, alone.region, err_msg=s.id)
        assert a.outside_fraction == alone.outside_fraction == b.outside_fraction


@pytest.mark.real
def test_batched_errors_name_the_sample(mesh) -> None:
    good = (np.zeros(7), np.zeros((3, 68)), None, None)
    bad = (np.full(7, np.inf), np.zeros((3, 68)), None, None)
    with pytest.raises(GeometryError, match="^image00042: pose_para / pt3d_68 hold NaN or inf"):
        RegionKernel.of(mesh).many([good, bad], [(450, 450)] * 2, ["image00041", "image00042"])


@pytest.mark.real
def test_mesh_region_pickles_as_a_recipe(mesh, real_source, real_dataset) -> None:
    """Workers receive where to load the mesh, not ~40 MB of matrices, and compute the same P."""
    import pickle

    from aflw_occ.builders.base import SourceSample
    from aflw_occ.face_region import MeshFaceRegion

    fn = MeshFaceRegion(aflw_root=real_source)
    blob = pickle.dumps(fn)
    assert len(blob) < 10_000
    _ = fn.mesh  # loading it in this process does not make the pickle heavy
    assert len(pickle.dumps(fn)) == len(blob)
    worker_side = pickle.loads(blob)
    s = real_dataset[7]
    src = SourceSample(s.id, 0, np.zeros((450, 450, 3), np.uint8), s.pt3d_68.T.copy(), s.pose_para, worker_side)
    np.testing.assert_array_equal(src.face_region, face_geometry(s, mesh).region)
    with pytest.raises(ValueError, match="needs a mesh"):
        MeshFaceRegion()
