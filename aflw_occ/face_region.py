"""The face region P of one image: the fitted dense mesh's front-facing triangles rasterised (see
:mod:`aflw_occ.geometry`), computed by :class:`aflw_occ.region_kernel.RegionKernel`; and the region functions a
build uses (:class:`MeshFaceRegion`, the fallback :func:`landmark_hull_region`).

Landmark-drawn patches (the central skin patch, facial parts) are a different thing: :mod:`aflw_occ.landmark_patches`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .face_mesh import FaceMesh, fit_mesh, load_face_mesh
from .geometry import IMAGE_SHAPE, PIXEL_OFFSET, GeometryError
from .landmark_patches import fill_polygon
from .raster import front_facing, rasterize_triangles
from .region_kernel import FaceGeometry, RegionKernel


def _pose_inputs(sample_or_pose: Any, pt3d_68: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    if pt3d_68 is not None:
        return np.asarray(sample_or_pose, dtype=np.float64), np.asarray(pt3d_68, dtype=np.float64), None, None
    if isinstance(sample_or_pose, tuple) and len(sample_or_pose) == 2:
        pose, pts = sample_or_pose
        return np.asarray(pose, dtype=np.float64), np.asarray(pts, dtype=np.float64), None, None
    s = sample_or_pose
    return s.pose_para, s.pt3d_68, getattr(s, "shape_para", None), getattr(s, "exp_para", None)


def fitted_image_vertices(sample_or_pose: Any, mesh: FaceMesh, pt3d_68: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) fitted mesh vertices in release image coordinates for a Sample or a (pose_para, pt3d_68) pair."""
    pose, pts, shp, exp = _pose_inputs(sample_or_pose, pt3d_68)
    if pose.shape != (7,) or pts.shape != (3, 68):
        raise GeometryError(f"pose_para must be (7,) and pt3d_68 (3, 68); got {pose.shape} and {pts.shape}")
    if not (np.all(np.isfinite(pose)) and np.all(np.isfinite(pts))):
        raise GeometryError("pose_para / pt3d_68 hold NaN or inf")
    return fit_mesh(mesh, pose, pts, shp, exp)


def face_region_mask(
    sample_or_pose: Any,
    mesh: FaceMesh,
    shape: tuple[int, int] = IMAGE_SHAPE,
    pt3d_68: np.ndarray | None = None,
) -> np.ndarray:
    """The face region P: fitted, projected, front-facing mesh triangles rasterised into an (H, W) bool mask.

    ``sample_or_pose``: a :class:`~aflw_occ.source.Sample`, a ``(pose_para, pt3d_68)`` tuple, or ``pose_para`` with
    ``pt3d_68=`` given. Pixels of the face that fall outside the image are dropped (clipped). Computed by
    :meth:`RegionKernel.of` the mesh, which equals :func:`region_from_vertices` of :func:`fitted_image_vertices`
    pixel for pixel and does only the face's share of the work.
    """
    return face_geometry(sample_or_pose, mesh, shape, pt3d_68).region


def face_geometry(
    sample_or_pose: Any,
    mesh: FaceMesh,
    shape: tuple[int, int] = IMAGE_SHAPE,
    pt3d_68: np.ndarray | None = None,
) -> FaceGeometry:
    """P and the share of face-mesh vertices projected outside the image, as a
    :class:`aflw_occ.region_kernel.FaceGeometry` (same inputs as :func:`face_region_mask`)."""
    one = sample_or_pose if pt3d_68 is None else (sample_or_pose, pt3d_68)
    return face_geometries([one], mesh, [shape])[0]


def face_geometries(
    samples: Sequence[Any], mesh: FaceMesh, shapes: Sequence[tuple[int, int]]
) -> list[FaceGeometry]:
    """:func:`face_geometry` of several samples (or ``(pose_para, pt3d_68)`` pairs), one image ``shape`` each, with
    one batched fit (:meth:`aflw_occ.region_kernel.RegionKernel.many`); errors name the sample by its ``id``."""
    items = [_pose_inputs(s, None) for s in samples]
    ids = [str(getattr(s, "id", "?")) for s in samples]
    return RegionKernel.of(mesh).many(items, shapes, ids if any(hasattr(s, "id") for s in samples) else None)


def region_from_vertices(verts: np.ndarray, mesh: FaceMesh, shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """P from fitted vertices (N, 3) in release coordinates: the front-facing triangles rasterised, (H, W) bool.

    The dense reference path (all vertices, generic rasteriser); builds use :func:`face_region_mask`."""
    xy = verts[:, :2] - PIXEL_OFFSET
    tri = mesh.face_triangles
    return rasterize_triangles(xy, tri, shape, front_facing(xy, tri), mesh.twins)


class MeshFaceRegion:
    """Region function: the face region P of :mod:`aflw_occ.geometry` (fitted mesh, front-facing triangles).

    Made either from a loaded ``mesh`` or from where to load it (``aflw_root``: the AFLW2000-3D folder with
    ``Code/Model_Shape_Sim.mat``; ``bfm_dir``: 3DDFA's BFM subset). It pickles as that recipe, so a worker process
    loads and prepares its own mesh (in parallel with the others, and with the driver reading the source) instead of
    receiving ~40 MB of matrices; the mesh and its matrices do not depend on the process or its thread count.
    """

    kind = "mesh"

    def __init__(
        self, mesh: FaceMesh | None = None, *, aflw_root: Path | str | None = None, bfm_dir: Path | str | None = None
    ) -> None:
        if mesh is None and aflw_root is None and bfm_dir is None:
            raise ValueError("MeshFaceRegion needs a mesh or where to load it from")
        self._mesh = mesh
        self.aflw_root, self.bfm_dir = aflw_root, bfm_dir

    @property
    def mesh(self) -> FaceMesh:
        """The prepared face mesh (loaded on first use)."""
        if self._mesh is None:
            mesh = load_face_mesh(aflw_root=self.aflw_root, bfm_dir=self.bfm_dir).prepare()
            RegionKernel.of(mesh)
            self._mesh = mesh
        return self._mesh

    def __getstate__(self) -> dict[str, Any]:
        recipe = self.aflw_root is not None or self.bfm_dir is not None
        return {"_mesh": None if recipe else self._mesh, "aflw_root": self.aflw_root, "bfm_dir": self.bfm_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __call__(self, sample: Any) -> FaceGeometry:
        return self.many([sample])[0]

    def many(self, samples: Sequence[Any]) -> list[FaceGeometry]:
        """P of several samples at once (one matrix product for all their fits, :meth:`RegionKernel.many`)."""
        return face_geometries(samples, self.mesh, [s.shape for s in samples])


def landmark_hull_region(sample: Any) -> np.ndarray:
    """Face region fallback: the filled convex hull of the 68 ground-truth landmarks (x, y), rounded to pixels.

    The hull's vertices come from ``cv2.convexHull`` on integer points (integer geometry); the fill is
    :func:`aflw_occ.landmark_patches.fill_polygon` (pixel centres inside or within ½ px of the outline, exact), not
    ``cv2.fillConvexPoly``, whose edge pixels may change between OpenCV releases."""
    pts = np.rint(sample.landmarks[:, :2] - PIXEL_OFFSET).astype(np.int32)
    hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
    return fill_polygon(hull, sample.shape)
