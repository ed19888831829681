"""The face region P of one image, fast: the per-image work of :mod:`aflw_occ.geometry` restricted to the face.

:func:`aflw_occ.geometry.face_region_mask` defines P: pose the dense mesh, warp it onto ``pt3d_68``, keep the
front-facing triangles of the face part, rasterise them. Done literally, every image pays for all 53,215 vertices
and 105,840 triangles, with index arrays rebuilt on each call. :class:`RegionKernel` precomputes, once per mesh,
everything that does not depend on the image:

* the face vertices (those used by the face triangles; the neck is never needed) with their model coordinates
  as three contiguous rows and their rows of the RBF spread matrix;
* the face triangles re-indexed to those vertices (int32, one contiguous row per corner);
* for every directed edge slot (t, k) its start and end vertex; every interior edge once, as its two slots and
  their triangles (:func:`aflw_occ.geometry.edge_twins`); the border slots.

Per image it computes only x and y (P needs no depth), the projection elementwise instead of as a 3×3 BLAS product
(coordinates agree with the dense path's to about 1e-13 px) and the keypoint spread as one float32 BLAS product for a
whole batch of images. The masks equal the dense path's pixel for pixel on all 2000 images, per image and batched
(``tests/test_region_kernel.py`` checks a spread of real images):

    x = f·(R₀₀X + R₀₁Y + R₀₂Z) + t_x + s_x − 1,   y = 451 − (f·(R₁₀X + R₁₁Y + R₁₂Z) + t_y) + s_y − 1

where s = M_face·r (float32) is the RBF-spread keypoint residual r = pt3d_68 − posed keypoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .geometry import FLIP_Y, IMAGE_SHAPE, PIXEL_OFFSET, FaceMesh, GeometryError, fill_outline, rotation_matrix

#: what one image's fit needs: pose_para (7,), pt3d_68 (3, 68), BFM shape_para / exp_para (or None)
FitInput = tuple[Any, Any, Any, Any]


@dataclass(frozen=True)
class FaceGeometry:
    """P of one image: ``region`` (H, W) bool and ``outside_fraction``, the share of the face-mesh vertices whose
    projection falls outside the image (0 when the whole face is inside)."""

    region: np.ndarray
    outside_fraction: float


class RegionKernel:
    """Precomputed face-only mesh data; :meth:`__call__` gives P of one image (see the module docstring)."""

    def __init__(self, mesh: FaceMesh) -> None:
        self.mesh = mesh
        fv = mesh.face_vertices
        self.n_face_vertices = len(fv)
        self._model_rows = np.ascontiguousarray(mesh.vertices[fv].T)  # (3, F)
        self._spread_t = np.ascontiguousarray(mesh.spread[fv].T)  # (68, F) float32
        remap = np.full(len(mesh.vertices), -1, dtype=np.int64)
        remap[fv] = np.arange(len(fv))
        tri = remap[mesh.face_triangles].astype(np.int32)  # (T, 3) local
        self._corners = [np.ascontiguousarray(tri[:, k]) for k in range(3)]
        self._slot_start = tri.reshape(-1)
        self._slot_end = np.ascontiguousarray(tri[:, [1, 2, 0]]).reshape(-1)
        # every interior edge once, as its two slots (s₁ < s₂) and their triangles; then the border slots
        twins = mesh.twins.reshape(-1)
        slots = np.arange(len(twins))
        first = (twins >= 0) & (slots < twins)
        self._pair_slots = (slots[first], twins[first])
        self._pair_tris = ((slots[first] // 3).astype(np.int32), (twins[first] // 3).astype(np.int32))
        self._border_slots = slots[twins < 0]
        self._border_tris = (self._border_slots // 3).astype(np.int32)

    def _model(self, shape_para: np.ndarray | None, exp_para: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(3, F) model rows of the face vertices and (68, 3) of the keypoints for this sample (BFM: with its
        leading shape / expression coefficients, as :meth:`FaceMesh.model_vertices`)."""
        mesh = self.mesh
        if mesh.shape_basis is None or shape_para is None:
            return self._model_rows, mesh.vertices[mesh.keypoints]
        full = mesh.model_vertices(shape_para, exp_para)
        return np.ascontiguousarray(full[mesh.face_vertices].T), full[mesh.keypoints]

    def fit_xy(
        self,
        pose_para: np.ndarray,
        pt3d_68: np.ndarray,
        shape_para: np.ndarray | None = None,
        exp_para: np.ndarray | None = None,
    ) -> np.ndarray:
        """(F, 2) float64 0-based array coordinates (x, y) of the fitted face vertices (module formula)."""
        return self.fit_xy_many([(pose_para, pt3d_68, shape_para, exp_para)])[0]

    def fit_xy_many(self, items: Sequence[FitInput]) -> list[np.ndarray]:
        """:meth:`fit_xy` of several images, with one matrix product for all of them: the (68, F) spread matrix is
        read once per call instead of once per image (each image's values are the same as alone: every output is
        the same 68-term dot product)."""
        posed: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        residuals = np.empty((2 * len(items), 68), dtype=np.float32)
        for i, (pose_para, pt3d_68, shape_para, exp_para) in enumerate(items):
            p = np.asarray(pose_para, dtype=np.float64).reshape(7)
            rot = rotation_matrix(p[0], p[1], p[2])
            rows, kp_model = self._model(shape_para, exp_para)
            # keypoint residual exactly as geometry.fit_mesh: project the keypoints, subtract from pt3d_68
            kp = p[6] * (kp_model @ rot.T) + p[3:6]
            kp[:, 1] = FLIP_Y - kp[:, 1]
            target = np.asarray(pt3d_68, dtype=np.float64).reshape(3, 68).T
            residuals[2 * i : 2 * i + 2] = (target - kp)[:, :2].T
            posed.append((p, rot, rows))
        spread = residuals @ self._spread_t  # (2B, F) float32: rows x₀, y₀, x₁, y₁, …
        out = []
        for i, (p, rot, (x_model, y_model, z_model)) in enumerate(posed):
            xy = np.empty((spread.shape[1], 2))
            px = p[6] * (rot[0, 0] * x_model + rot[0, 1] * y_model + rot[0, 2] * z_model) + p[3]
            py = FLIP_Y - (p[6] * (rot[1, 0] * x_model + rot[1, 1] * y_model + rot[1, 2] * z_model) + p[4])
            np.subtract(px + spread[2 * i], PIXEL_OFFSET, out=xy[:, 0])
            np.subtract(py + spread[2 * i + 1], PIXEL_OFFSET, out=xy[:, 1])
            out.append(xy)
        return out

    def raster(self, xy: np.ndarray, shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
        """P from the fitted (F, 2) ``xy``: the front-facing face triangles rasterised, (H, W) bool.

        Same rule as :func:`aflw_occ.geometry.rasterize_triangles` (pixel centres inside at least one triangle,
        non-zero winding over the outline edges): a slot (t, k) is an outline edge when t faces the camera and the
        triangle across the edge does not (or there is none). Interior edges are visited once, as slot pairs.
        """
        a, b, c = (np.take(xy, corner, axis=0) for corner in self._corners)
        front = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) > 0.0
        f1, f2 = np.take(front, self._pair_tris[0]), np.take(front, self._pair_tris[1])
        e = np.flatnonzero(f1 != f2)  # interior edges between a front-facing and a back-facing triangle
        inner = np.where(f1[e], self._pair_slots[0][e], self._pair_slots[1][e])
        keep = np.concatenate([inner, self._border_slots[front[self._border_tris]]])
        start = np.take(xy, self._slot_start[keep], axis=0)
        end = np.take(xy, self._slot_end[keep], axis=0)
        return fill_outline(start[:, 0], start[:, 1], end[:, 0], end[:, 1], shape)

    def __call__(
        self,
        pose_para: np.ndarray,
        pt3d_68: np.ndarray,
        shape: tuple[int, int] = IMAGE_SHAPE,
        shape_para: np.ndarray | None = None,
        exp_para: np.ndarray | None = None,
    ) -> FaceGeometry:
        """P and the outside fraction of one image. ``pose_para`` (7,), ``pt3d_68`` (3, 68)."""
        return self.many([(pose_para, pt3d_68, shape_para, exp_para)], [shape])[0]

    def many(
        self, items: Sequence[FitInput], shapes: Sequence[tuple[int, int]], ids: Sequence[str] | None = None
    ) -> list[FaceGeometry]:
        """P and the outside fraction of several images (:meth:`fit_xy_many`); ``items`` (pose_para (7,),
        pt3d_68 (3, 68), shape_para | None, exp_para | None), one image ``shape`` (H, W) each; ``ids`` name the
        images in errors."""
        checked: list[FitInput] = []
        for i, (pose_para, pt3d_68, shape_para, exp_para) in enumerate(items):
            who = f"{ids[i]}: " if ids is not None else ""
            pose = np.asarray(pose_para, dtype=np.float64)
            pts = np.asarray(pt3d_68, dtype=np.float64)
            if pose.shape != (7,) or pts.shape != (3, 68):
                raise GeometryError(
                    f"{who}pose_para must be (7,) and pt3d_68 (3, 68); got {pose.shape} and {pts.shape}"
                )
            if not (np.all(np.isfinite(pose)) and np.all(np.isfinite(pts))):
                raise GeometryError(f"{who}pose_para / pt3d_68 hold NaN or inf")
            checked.append((pose, pts, shape_para, exp_para))
        out = []
        for xy, (h, w) in zip(self.fit_xy_many(checked), shapes, strict=True):
            x, y = xy[:, 0], xy[:, 1]
            outside = (x < -0.5) | (x > w - 0.5) | (y < -0.5) | (y > h - 0.5)
            out.append(FaceGeometry(self.raster(xy, (h, w)), float(np.count_nonzero(outside)) / len(xy)))
        return out
