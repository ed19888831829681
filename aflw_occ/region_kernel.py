"""The face region P of one image, fast: the per-image work of :mod:`aflw_occ.geometry` restricted to the face.

:func:`aflw_occ.face_region.face_region_mask` defines P: pose the dense mesh, warp it onto ``pt3d_68``, keep the
front-facing triangles of the face part, rasterise them. Done literally, every image pays for all 53,215 vertices
and 105,840 triangles, with index arrays rebuilt on each call. :class:`RegionKernel` precomputes, once per mesh,
everything that does not depend on the image:

* the face vertices (those used by the face triangles; the neck is never needed) with their model coordinates
  as three contiguous rows and their rows of the RBF spread matrix;
* the face triangles re-indexed to those vertices (int32, one contiguous row per corner);
* for every directed edge slot (t, k) its start and end vertex; every interior edge once, as its two slots and
  their triangles (:func:`aflw_occ.raster.edge_twins`); the border slots.

Per image it computes only x and y (P needs no depth), with exactly the dense path's arithmetic per vertex, so
the coordinates have the same bits as :func:`aflw_occ.face_region.fitted_image_vertices` and the masks equal the dense
path's pixel for pixel (``tests/test_region_kernel.py``), per image and batched:

    x = (f·((R₀₀X + R₀₁Y) + R₀₂Z) + t_x + s_x) − 1,   y = ((451 − (f·((R₁₀X + R₁₁Y) + R₁₂Z) + t_y)) + s_y) − 1

where s = M_face·r is the RBF-spread keypoint residual r = pt3d_68 − posed keypoints, evaluated exactly by
:class:`aflw_occ.geometry.ExactSpread` (one float64 product of integers for a whole batch of images). Nothing here
depends on the CPU's vector unit, FMA, the BLAS or the thread count (``docs/reproducibility.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .face_mesh import FaceMesh
from .geometry import (
    FLIP_Y,
    IMAGE_SHAPE,
    PIXEL_OFFSET,
    ExactSpread,
    GeometryError,
    basis_combination,
    rotate_rows,
    rotation_matrix,
)
from .raster import fill_outline

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

    @classmethod
    def of(cls, mesh: FaceMesh) -> RegionKernel:
        """The kernel of ``mesh``, built on first use and kept on the mesh (``FaceMesh._kernel``)."""
        if not isinstance(mesh._kernel, RegionKernel):
            mesh._kernel = cls(mesh)
        return mesh._kernel

    def __init__(self, mesh: FaceMesh) -> None:
        self.mesh = mesh
        fv = mesh.face_vertices
        self.n_face_vertices = len(fv)
        self._model_rows = np.ascontiguousarray(mesh.vertices[fv].T)  # (3, F)
        self._spread = ExactSpread(grid=np.take(mesh.spread_grid, fv, axis=1))  # (68, F) integer-valued float64
        self._bfm_rows: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray | None]
        if mesh.shape_basis is not None:  # the BFM rows of the face vertices and of the keypoints, gathered once
            ids = np.concatenate([fv, mesh.keypoints])
            flat = (3 * ids[:, None] + np.arange(3)).reshape(-1)
            nf = 3 * len(fv)
            exp = None if mesh.exp_basis is None else np.asfortranarray(mesh.exp_basis[flat])
            shp = np.asfortranarray(mesh.shape_basis[flat])
            mean = mesh.vertices.reshape(-1)[flat]
            self._bfm_rows = (
                mean[:nf],
                shp[:nf],
                None if exp is None else exp[:nf],
                mean[nf:],
                shp[nf:],
                None if exp is None else exp[nf:],
            )
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
        parts = []
        for mean, shp, exp in (self._bfm_rows[:3], self._bfm_rows[3:]):
            flat = basis_combination(mean, shp, shape_para)  # the same per-entry arithmetic as model_vertices
            if exp is not None and exp_para is not None:
                flat = basis_combination(flat, exp, exp_para)
            parts.append(flat.reshape(-1, 3))
        return np.ascontiguousarray(parts[0].T), parts[1]

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
        read once per call instead of once per image (each image's values are the same bits as alone: the product
        is integer-exact, :class:`aflw_occ.geometry.ExactSpread`)."""
        posed: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
        residuals = np.empty((2 * len(items), 68), dtype=np.float64)
        for i, (pose_para, pt3d_68, shape_para, exp_para) in enumerate(items):
            p = np.asarray(pose_para, dtype=np.float64).reshape(7)
            rot = rotation_matrix(p[0], p[1], p[2])
            rows, kp_model = self._model(shape_para, exp_para)
            # keypoint residual exactly as face_mesh.fit_mesh: project the keypoints, subtract from pt3d_68
            f = float(p[6])
            kx, ky, kz = kp_model[:, 0], kp_model[:, 1], kp_model[:, 2]
            target = np.asarray(pt3d_68, dtype=np.float64).reshape(3, 68)
            residuals[2 * i] = target[0] - (f * rotate_rows(rot, kx, ky, kz, 0) + float(p[3]))
            residuals[2 * i + 1] = target[1] - (FLIP_Y - (f * rotate_rows(rot, kx, ky, kz, 1) + float(p[4])))
            posed.append((f, p, rot, rows))
        spread = self._spread(residuals)  # (2B, F) float64: rows x₀, y₀, x₁, y₁, …
        out = []
        for i, (f, p, rot, (x_model, y_model, z_model)) in enumerate(posed):
            xy = np.empty((spread.shape[1], 2))
            px = f * rotate_rows(rot, x_model, y_model, z_model, 0) + float(p[3])
            py = FLIP_Y - (f * rotate_rows(rot, x_model, y_model, z_model, 1) + float(p[4]))
            np.subtract(px + spread[2 * i], PIXEL_OFFSET, out=xy[:, 0])
            np.subtract(py + spread[2 * i + 1], PIXEL_OFFSET, out=xy[:, 1])
            out.append(xy)
        return out

    def raster(self, xy: np.ndarray, shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
        """P from the fitted (F, 2) ``xy``: the front-facing face triangles rasterised, (H, W) bool.

        Same rule as :func:`aflw_occ.raster.rasterize_triangles` (pixel centres inside at least one triangle,
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
