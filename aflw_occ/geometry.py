"""Pose_Para projection, the dense face mesh fitted to ``pt3d_68``, and the rasterised face region P.

Conventions (AFLW2000-3D release, see ``docs/protocol.md`` of the shared data):

* ``Pose_Para`` = [pitch, yaw, roll (radians), tx, ty, tz, f];
  R = Rx(pitch)·Ry(yaw)·Rz(roll) with Rx=[[1,0,0],[0,c,s],[0,-s,c]], Ry=[[c,0,-s],[0,1,0],[s,0,c]],
  Rz=[[c,s,0],[-s,c,0],[0,0,1]]; p = f·R·v + t, then y ← 451 − y.
* The result (like ``pt3d_68``) is in MATLAB's 1-based pixel coordinates: the centre of pixel ``img[r, c]``
  is at (x, y) = (c + 1, r + 1). :data:`PIXEL_OFFSET` converts to 0-based array coordinates.

The face region P of one image (:func:`face_region_mask`): the mesh (the release's mean face, or the 3DDFA
BFM subset rebuilt from the sample's first 40 shape / 10 expression coefficients) is posed with
``Pose_Para``; the remaining offsets of its 68 keypoints from ``pt3d_68`` are spread over the whole surface
with a 3D polyharmonic radial-basis interpolant (φ(r) = r plus an affine term, exact at the keypoints), so
the fitted keypoints land on ``pt3d_68``; the front-facing triangles are then rasterised (a pixel is in P
when its centre lies in at least one of them).

Every value that decides a pixel of P has the same bits on every machine (``docs/reproducibility.md``): sines and
cosines from :mod:`aflw_occ.exactmath`, every small matrix product written out element-wise in a fixed order
(:func:`rotation_matrix`, :func:`rotate_rows`, :func:`basis_combination`), the RBF system solved by fixed-order
Gauss–Jordan elimination (:func:`solve_fixed_order`), its spread matrix rounded to a 2^−24 grid and applied to
residuals rounded to a 2^−16 px grid as an integer-exact product (:class:`ExactSpread`), the rasteriser's crossings
element-wise float64 and its winding numbers integers (:func:`fill_outline`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import exactmath
from .errors import AflwOccError, SourceError
from .matfile import read_mat

IMAGE_SHAPE: tuple[int, int] = (450, 450)
#: subtract from release (x, y) coordinates to get 0-based array coordinates (column, row)
PIXEL_OFFSET: float = 1.0
#: the release flips y as ``451 − y`` (450-pixel images, 1-based rows)
FLIP_Y: float = 451.0

MODEL_FILE = "Model_Shape_Sim.mat"
#: how far below the jaw line (model units = micrometres, so 5 mm) the face region reaches
NECK_MARGIN = 5000.0
#: the spread matrix M lives on the grid 2^−SPREAD_FRAC_BITS (entries |M| ≤ 1, row sums of |M| ≈ 3.1)
SPREAD_FRAC_BITS = 24
#: keypoint residuals are rounded to the grid 2^−RESIDUAL_FRAC_BITS px before they are spread
RESIDUAL_FRAC_BITS = 16
BFM_FILES = ("u_shp.npy", "u_exp.npy", "w_shp_sim.npy", "w_exp_sim.npy", "keypoints_sim.npy", "tri.mat")


class GeometryError(AflwOccError):
    """A mesh file is missing/corrupt, or a pose cannot be used."""


def rotation_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R = Rx(pitch)·Ry(yaw)·Rz(roll) of the AFLW2000-3D release (angles in radians). Returns (3, 3) float64.

    Multiplied out, with c = cos, s = sin (:mod:`aflw_occ.exactmath`) of x = pitch, y = yaw, z = roll::

        R = [[cy·cz,                 cy·sz,                 −sy  ],
             [(sx·sy)·cz − cx·sz,    (sx·sy)·sz + cx·cz,    sx·cy],
             [(cx·sy)·cz + sx·sz,    (cx·sy)·sz − sx·cz,    cx·cy]]

    every entry one fixed sequence of float64 × and ± (Python floats: no FMA, no BLAS), so R has the same bits on
    every machine.
    """
    cx, sx = exactmath.cos(float(pitch)), exactmath.sin(float(pitch))
    cy, sy = exactmath.cos(float(yaw)), exactmath.sin(float(yaw))
    cz, sz = exactmath.cos(float(roll)), exactmath.sin(float(roll))
    sxsy, cxsy = sx * sy, cx * sy
    return np.array(
        [
            [cy * cz, cy * sz, -sy],
            [sxsy * cz - cx * sz, sxsy * sz + cx * cz, sx * cy],
            [cxsy * cz + sx * sz, cxsy * sz - sx * cz, cx * cy],
        ],
        dtype=np.float64,
    )


def rotate_rows(rot: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, row: int) -> np.ndarray:
    """Row ``row`` of R·v for vertices given as coordinate arrays: (R[row,0]·x + R[row,1]·y) + R[row,2]·z.

    Element-wise float64 in this fixed order (never a BLAS product), so each vertex gets the same bits whatever the
    array's length, alignment or the CPU's vector width."""
    r = rot[row]
    return (float(r[0]) * x + float(r[1]) * y) + float(r[2]) * z


def project(vertices: np.ndarray, pose_para: np.ndarray) -> np.ndarray:
    """Project model vertices into the image with ``Pose_Para``.

    p = f·R·v + t, then y ← 451 − y; per coordinate f·:func:`rotate_rows` + t (element-wise, fixed order).
    ``vertices`` (N, 3) model units, ``pose_para`` (7,).
    Returns (N, 3) float64 release image coordinates (x, y 1-based pixels; z scaled depth, larger = nearer the camera).
    """
    p = np.asarray(pose_para, dtype=np.float64).reshape(7)
    r = rotation_matrix(p[0], p[1], p[2])
    v = np.asarray(vertices, dtype=np.float64)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    f = float(p[6])
    out = np.empty((len(v), 3), dtype=np.float64)
    out[:, 0] = f * rotate_rows(r, x, y, z, 0) + float(p[3])
    out[:, 1] = FLIP_Y - (f * rotate_rows(r, x, y, z, 1) + float(p[4]))
    out[:, 2] = f * rotate_rows(r, x, y, z, 2) + float(p[5])
    return out


def _rbf_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """φ(r) = r between rows of a (N, 3) and b (M, 3) → (N, M): r = √((Δx² + Δy²) + Δz²), element-wise."""
    dx = a[:, 0, None] - b[None, :, 0]
    dy = a[:, 1, None] - b[None, :, 1]
    dz = a[:, 2, None] - b[None, :, 2]
    return np.sqrt((dx * dx + dy * dy) + dz * dz)


def solve_fixed_order(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X with A·X = B by Gauss–Jordan elimination with partial pivoting, in a fixed order of float64 element-wise
    operations (no LAPACK, no BLAS): the same bits on every machine.

    For k = 0 … n−1: pivot p = first row ≥ k with the largest |A[p, k]|, swap rows k and p; then for every row i ≠ k,
    f_i = A[i, k] / A[k, k] and row_i ← row_i − f_i·row_k (on [A | B]). Finally X = B_row / A[k, k].
    ``a`` (n, n), ``b`` (n, m). Raises :class:`GeometryError` on a singular system.
    """
    aug = np.concatenate([np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)], axis=1)
    n = aug.shape[0]
    for k in range(n):
        p = k + int(np.argmax(np.abs(aug[k:, k])))
        if aug[p, k] == 0.0:
            raise GeometryError("singular system in the RBF spread construction")
        if p != k:
            aug[[k, p]] = aug[[p, k]]
        f = aug[:, k] / aug[k, k]
        f[k] = 0.0
        aug -= f[:, None] * aug[k][None, :]
    return aug[:, n:] / np.diagonal(aug)[:, None].copy()


def _fsum_columns(v: np.ndarray) -> np.ndarray:
    """Correctly rounded column sums (:func:`math.fsum`): the same bits whatever the summation order."""
    return np.array([math.fsum(v[:, j].tolist()) for j in range(v.shape[1])], dtype=np.float64)


def rbf_spread_matrix(vertices: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Linear map from offsets at the K keypoints to offsets at every vertex (polyharmonic RBF, exact at keypoints).

    Interpolant s(x) = Σ_k w_k ‖x − c_k‖ + a₀ + aᵀx with Σ w_k = 0, Σ w_k c_k = 0 and s(c_k) = d_k.
    ``vertices`` (N, 3), ``keypoints`` (K,) vertex indices. Returns M (N, K) float64 with s(vertices) = M @ d,
    every entry on the grid 2^−:data:`SPREAD_FRAC_BITS` (M = round(M̃·2^S)·2^−S), rows of the keypoints the unit
    vectors.

    Platform-independent by construction: coordinates normalised with a correctly rounded mean (``math.fsum``) and an
    exact max; the (K+4)² system solved by :func:`solve_fixed_order`; M̃ = basis·X accumulated over the K + 4 basis
    columns in a fixed order with element-wise float64 × and + (no BLAS); then rounded to the grid.
    """
    v = np.asarray(vertices, dtype=np.float64)
    centre = _fsum_columns(v) / float(len(v))
    scale = float(np.abs(v - centre).max()) or 1.0
    v = (v - centre) / scale
    c = v[keypoints]
    k = len(keypoints)
    system = np.zeros((k + 4, k + 4))
    system[:k, :k] = _rbf_kernel(c, c)
    system[:k, k] = 1.0
    system[:k, k + 1 :] = c
    system[k, :k] = 1.0
    system[k + 1 :, :k] = c.T
    rhs = np.zeros((k + 4, k))
    rhs[:k] = np.eye(k)
    sol = solve_fixed_order(system, rhs)  # (K+4, K): right-hand side is [d; 0]
    grid = float(1 << SPREAD_FRAC_BITS)
    out = np.empty((len(v), k), dtype=np.float64)
    for start in range(0, len(v), 2048):
        chunk = v[start : start + 2048]
        phi = _rbf_kernel(chunk, c)
        acc = np.zeros((len(chunk), k))
        for j in range(k):
            acc += phi[:, j, None] * sol[j][None, :]
        acc += sol[k][None, :]
        for d in range(3):
            acc += chunk[:, d, None] * sol[k + 1 + d][None, :]
        out[start : start + 2048] = np.rint(acc * grid) / grid
    out[keypoints] = np.eye(k)  # exact at the keypoints
    return out


class ExactSpread:
    """The keypoint spread s = M·r evaluated exactly (same bits on every machine, BLAS, thread count).

    Built from M (V, K) on the grid 2^−S (:func:`rbf_spread_matrix`, S = :data:`SPREAD_FRAC_BITS`): keeps
    M_int = M·2^S transposed (K, V) as float64 integers and the bound below. :meth:`__call__` rounds the residuals r
    to the grid 2^−R (R = :data:`RESIDUAL_FRAC_BITS`), r_int = round(r·2^R), and returns s = (r_int·M_int)·2^−(R+S)
    from one float64 matrix product in which every product and every partial sum is an integer of magnitude
    ≤ max|r_int|·max_v Σ_k |M_int[k, v]| < 2^53, hence exact: any summation order, blocking, FMA or thread split
    of the BLAS gives the same bits, and each output depends only on its own row and column.
    """

    def __init__(self, spread: np.ndarray) -> None:
        m = np.asarray(spread, dtype=np.float64)
        self.t_int = np.ascontiguousarray((m * float(1 << SPREAD_FRAC_BITS)).T)
        if not np.array_equal(self.t_int, np.rint(self.t_int)):
            raise GeometryError("spread matrix is not on its 2^-SPREAD_FRAC_BITS grid")
        l1 = int(np.abs(self.t_int).sum(axis=0).max()) if self.t_int.size else 1  # integers < 2^53: exact
        #: the largest |r_int| for which r_int·M_int stays exact: ⌊(2^53 − 1) / max_v Σ_k |M_int[k, v]|⌋
        self.bound = float(((1 << 53) - 1) // max(l1, 1))

    def __call__(self, residuals: np.ndarray) -> np.ndarray:
        """(B, K) float64 keypoint offsets (px) → (B, V) float64 vertex offsets. Raises :class:`GeometryError` when
        a residual is beyond the exactness bound (≈ 2600 px for the release mesh: not a face fit)."""
        r_int = np.rint(np.asarray(residuals, dtype=np.float64) * float(1 << RESIDUAL_FRAC_BITS))
        worst = float(np.abs(r_int).max()) if r_int.size else 0.0
        if not worst <= self.bound:
            raise GeometryError(
                f"keypoint residual {worst / (1 << RESIDUAL_FRAC_BITS):.1f} px is beyond the exact-spread bound "
                f"{self.bound / (1 << RESIDUAL_FRAC_BITS):.1f} px (pose_para / pt3d_68 do not describe this face)"
            )
        return (r_int @ self.t_int) * (1.0 / float(1 << (RESIDUAL_FRAC_BITS + SPREAD_FRAC_BITS)))


def basis_combination(mean: np.ndarray, basis: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """mean + Σ_j basis[:, j]·coef[j], accumulated j = 0, 1, … in this order with element-wise float64 × and +
    (no BLAS matrix-vector product): each entry gets the same bits whatever rows ``mean`` / ``basis`` hold.
    ``mean`` (n,), ``basis`` (n, J) (Fortran order is fastest), ``coef`` (≥ J,). Returns (n,) float64."""
    acc = np.array(mean, dtype=np.float64)
    c = np.asarray(coef, dtype=np.float64).reshape(-1)
    for j in range(basis.shape[1]):
        acc += basis[:, j] * float(c[j])
    return acc


@dataclass
class FaceMesh:
    """A dense face mesh: model-space mean ``vertices`` (N, 3), ``triangles`` (T, 3) 0-based, ``keypoints`` (68,).

    ``shape_basis`` (3N, S) / ``exp_basis`` (3N, E) are set for the BFM subset (the sample's first S shape and
    E expression coefficients are added); ``source`` names where it came from. ``region_triangles`` (T,) bool
    marks the triangles that make up the face region P (default: all but the neck, :func:`neck_cut`).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    keypoints: np.ndarray
    source: str
    shape_basis: np.ndarray | None = None
    exp_basis: np.ndarray | None = None
    region_triangles: np.ndarray | None = None
    _spread: np.ndarray | None = field(default=None, repr=False)
    _twins: np.ndarray | None = field(default=None, repr=False)
    _face_tri: np.ndarray | None = field(default=None, repr=False)
    _face_vert: np.ndarray | None = field(default=None, repr=False)
    _kernel: Any = field(default=None, repr=False)

    @property
    def spread(self) -> np.ndarray:
        """(N, 68) float64 keypoint-offset → vertex-offset map on the grid 2^−:data:`SPREAD_FRAC_BITS`
        (:func:`rbf_spread_matrix`, computed once per mesh)."""
        if self._spread is None:
            self._spread = rbf_spread_matrix(self.vertices, self.keypoints)
        return self._spread

    @property
    def face_triangles(self) -> np.ndarray:
        """(T', 3) the triangles of the face region P (cached)."""
        if self._face_tri is None:
            tri = self.triangles if self.region_triangles is None else self.triangles[self.region_triangles]
            self._face_tri = np.ascontiguousarray(tri)
        return self._face_tri

    @property
    def face_vertices(self) -> np.ndarray:
        """Sorted indices of the vertices used by :attr:`face_triangles` (cached)."""
        if self._face_vert is None:
            self._face_vert = np.unique(self.face_triangles)
        return self._face_vert

    @property
    def twins(self) -> np.ndarray:
        """(T', 3) :func:`edge_twins` of :attr:`face_triangles` (computed once per mesh)."""
        if self._twins is None:
            self._twins = edge_twins(self.face_triangles, len(self.vertices))
        return self._twins

    @property
    def region_kernel(self) -> Any:
        """The :class:`aflw_occ.region_kernel.RegionKernel` of this mesh (built once): P of one image, fast."""
        if self._kernel is None:
            from .region_kernel import RegionKernel

            self._kernel = RegionKernel(self)
        return self._kernel

    def prepare(self) -> FaceMesh:
        """Compute the cached matrices now (before forking workers); returns self."""
        _ = self.spread, self.twins, self.face_vertices, self.region_kernel
        return self

    def model_vertices(self, shape_para: np.ndarray | None = None, exp_para: np.ndarray | None = None) -> np.ndarray:
        """(N, 3) model-space vertices: the mean plus the bases times the sample's leading coefficients (BFM),
        v = mean + Σ_j shape_j·α_j + Σ_j exp_j·β_j accumulated in that order (:func:`basis_combination`)."""
        if self.shape_basis is None or shape_para is None:
            return self.vertices
        flat = basis_combination(self.vertices.reshape(-1), self.shape_basis, shape_para)
        if self.exp_basis is not None and exp_para is not None:
            flat = basis_combination(flat, self.exp_basis, exp_para)
        return flat.reshape(-1, 3)


def mesh_source(aflw_root: Path | str | None = None, bfm_dir: Path | str | None = None) -> str:
    """Where :func:`load_face_mesh` would read the mesh (its ``FaceMesh.source``), checked to exist, without reading
    it. Raises :class:`SourceError` naming the missing file(s)."""
    if bfm_dir is not None:
        missing = [f for f in BFM_FILES if not (Path(bfm_dir) / f).is_file()]
        if missing:
            raise SourceError(f"{bfm_dir}: not a 3DDFA BFM subset folder (missing {', '.join(missing)})")
        return str(bfm_dir)
    if aflw_root is None:
        from .paths import default_source

        aflw_root = default_source()
    root = Path(aflw_root)
    path = root / "Code" / MODEL_FILE if (root / "Code").is_dir() else root / MODEL_FILE
    if not path.is_file():
        raise SourceError(f"{path}: the release's dense mean face is missing (expected in the Code/ folder)")
    return str(path)


def _load_release_mesh(aflw_root: Path) -> FaceMesh:
    path = Path(mesh_source(aflw_root=aflw_root))
    try:
        raw = read_mat(path, names=["mu_shape", "tri", "keypoints"])
        verts = np.asarray(raw["mu_shape"], dtype=np.float64).reshape(-1, 3)
        tri = np.asarray(raw["tri"], dtype=np.int64)
        kp = np.asarray(raw["keypoints"], dtype=np.int64).reshape(-1) - 1
    except Exception as exc:
        raise SourceError(f"{path}: cannot read mu_shape / tri / keypoints ({exc})") from None
    if tri.shape[0] != 3 or kp.shape != (68,):
        raise SourceError(f"{path}: unexpected shapes tri {tri.shape}, keypoints {kp.shape}")
    tri = tri.T - 1
    if tri.min() < 0 or tri.max() >= len(verts) or kp.min() < 0 or kp.max() >= len(verts):
        raise SourceError(f"{path}: triangle or keypoint indices out of range")
    return FaceMesh(verts, tri, kp, source=str(path))


def _load_bfm_mesh(bfm_dir: Path) -> FaceMesh:
    mesh_source(bfm_dir=bfm_dir)
    try:
        mean = (np.load(bfm_dir / "u_shp.npy") + np.load(bfm_dir / "u_exp.npy")).astype(np.float64)
        w_shp = np.asfortranarray(np.load(bfm_dir / "w_shp_sim.npy"), dtype=np.float64)  # columns contiguous
        w_exp = np.asfortranarray(np.load(bfm_dir / "w_exp_sim.npy"), dtype=np.float64)
        kp3 = np.load(bfm_dir / "keypoints_sim.npy").astype(np.int64)
        tri = np.asarray(read_mat(bfm_dir / "tri.mat")["tri"], dtype=np.int64)
    except Exception as exc:
        raise SourceError(f"{bfm_dir}: cannot read the BFM subset ({exc})") from None
    verts = mean.reshape(-1, 3)
    if w_shp.shape[0] != mean.size or w_exp.shape[0] != mean.size or kp3.shape != (204,):
        raise SourceError(f"{bfm_dir}: inconsistent BFM subset shapes")
    tri = (tri if tri.shape[0] == 3 else tri.T).T - 1
    return FaceMesh(verts, tri, kp3[::3] // 3, source=str(bfm_dir), shape_basis=w_shp, exp_basis=w_exp)


def neck_cut(vertices: np.ndarray, keypoints: np.ndarray, margin: float = NECK_MARGIN) -> np.ndarray:
    """Vertices of the face (True) versus the neck (False), in model space (x right, y up, z forward).

    The jaw line is the polyline through the jaw keypoints 0–16 seen from the front, y_jaw(x) (linear
    interpolation in x, held constant beyond the outermost points); a vertex belongs to the neck when
    y < y_jaw(x) − ``margin``. Ears, forehead and the whole face stay. (N, 3), (68,) → (N,) bool.

    y_jaw(x) = y_j + ((y_{j+1} − y_j) / (x_{j+1} − x_j))·(x − x_j) on segment j (element-wise float64 in this order,
    not ``np.interp``, whose compiled loop a compiler may contract into an FMA).
    """
    v = np.asarray(vertices, dtype=np.float64)
    jaw = v[np.asarray(keypoints)[:17]]
    order = np.argsort(jaw[:, 0], kind="stable")
    xs, ys = jaw[order, 0], jaw[order, 1]
    x = v[:, 0]
    j = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 2)
    x0, x1, y0, y1 = xs[j], xs[j + 1], ys[j], ys[j + 1]
    dx = np.where(x1 > x0, x1 - x0, 1.0)
    y_jaw = np.where(x1 > x0, y0 + ((y1 - y0) / dx) * (x - x0), y0)
    y_jaw = np.where(x <= xs[0], ys[0], np.where(x >= xs[-1], ys[-1], y_jaw))
    return v[:, 1] >= y_jaw - margin


def load_face_mesh(
    aflw_root: Path | str | None = None, bfm_dir: Path | str | None = None, keep_neck: bool = False
) -> FaceMesh:
    """The dense face mesh (53,215 vertices): the release's ``Code/Model_Shape_Sim.mat`` (default) or, with
    ``bfm_dir``, 3DDFA's BFM subset (mean + first 40 shape / 10 expression components).

    The face region P uses every triangle whose three vertices pass :func:`neck_cut` (the BFM mesh reaches
    down the neck, which is not face; ``keep_neck=True`` keeps it). ``aflw_root`` defaults to the shared
    AFLW2000-3D folder. Raises :class:`SourceError` naming the bad file.
    """
    if bfm_dir is not None:
        mesh = _load_bfm_mesh(Path(bfm_dir))
    else:
        if aflw_root is None:
            from .paths import default_source

            aflw_root = default_source()
        mesh = _load_release_mesh(Path(aflw_root))
    if not keep_neck:
        face = neck_cut(mesh.vertices, mesh.keypoints)
        mesh.region_triangles = face[mesh.triangles].all(axis=1)
    return mesh


def fit_mesh(
    mesh: FaceMesh,
    pose_para: np.ndarray,
    pt3d_68: np.ndarray,
    shape_para: np.ndarray | None = None,
    exp_para: np.ndarray | None = None,
) -> np.ndarray:
    """Pose the mesh with ``Pose_Para`` and warp it so its 68 keypoints land exactly on ``pt3d_68``.

    v_img = project(V, pose) + M·(pt3d_68ᵀ − project(V, pose)[keypoints]), M = :func:`rbf_spread_matrix`, the
    product evaluated exactly by :class:`ExactSpread` (residuals on the grid 2^−:data:`RESIDUAL_FRAC_BITS` px).
    ``pt3d_68`` (3, 68). Returns (N, 3) release image coordinates.
    """
    posed = project(mesh.model_vertices(shape_para, exp_para), pose_para)
    target = np.asarray(pt3d_68, dtype=np.float64).reshape(3, 68).T
    residual = target - posed[mesh.keypoints]  # (68, 3)
    posed += ExactSpread(mesh.spread)(np.ascontiguousarray(residual.T)).T
    return posed


def front_facing(xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Triangles turned towards the camera → (T,) bool.

    In array coordinates (x right, y down, after the release's y-flip) a BFM triangle (a, b, c) faces the
    camera when its signed area (b − a) × (c − a) is positive.
    """
    x = np.ascontiguousarray(xy[:, 0], dtype=np.float64)
    y = np.ascontiguousarray(xy[:, 1], dtype=np.float64)
    t = np.ascontiguousarray(np.asarray(triangles).T)
    ax, ay = x[t[0]], y[t[0]]
    cross = (x[t[1]] - ax) * (y[t[2]] - ay) - (y[t[1]] - ay) * (x[t[2]] - ax)
    return cross > 0.0


def edge_twins(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    """For every directed triangle edge slot (t, k) (vertex k → k+1), the flat slot 3·t' + k' of the reversed
    edge in a neighbouring triangle, or −1 (mesh border, or no one-to-one partner). (T, 3) int64."""
    t = np.asarray(triangles, dtype=np.int64)
    a = t.reshape(-1)
    b = t[:, [1, 2, 0]].reshape(-1)
    key = a * n_vertices + b
    rev = b * n_vertices + a
    order = np.argsort(key, kind="stable")
    sk = key[order]
    pos = np.minimum(np.searchsorted(sk, rev), len(sk) - 1)
    twin = np.where(sk[pos] == rev, order[pos], -1)
    slots = np.arange(len(twin))
    mutual = (twin >= 0) & (twin[np.maximum(twin, 0)] == slots)
    return np.where(mutual, twin, -1).reshape(-1, 3)


def rasterize_triangles(
    xy: np.ndarray,
    triangles: np.ndarray,
    shape: tuple[int, int] = IMAGE_SHAPE,
    selected: np.ndarray | None = None,
    twins: np.ndarray | None = None,
) -> np.ndarray:
    """Union of triangles: pixel (r, c) is set when its centre (c, r) lies inside at least one triangle.

    ``xy`` (N, 2) 0-based array coordinates (x = column, y = row); ``triangles`` (T, 3); optional ``selected``
    (T,) bool subset and precomputed ``twins`` (:func:`edge_twins` of ``triangles``; with both given, the
    selected triangles must all wind the same way in 2D, as :func:`front_facing` ones do). Returns (H, W) bool.

    Method (non-zero winding, exact): with every triangle wound the same way, the coverage count of a point is
    the winding number of all triangle edges around it; an edge shared by two selected triangles is crossed
    once in each direction and cancels, so only the outline edges are scanned. For each outline edge P→Q and
    each pixel row r with min(Py, Qy) ≤ r < max(Py, Qy), the crossing x = Px + (r − Py)(Qx − Px)/(Qy − Py)
    adds ±1 (downward +) to every pixel centre with c ≥ x; a cumulative sum along the rows gives the count.
    """
    h, w = shape
    tri = np.asarray(triangles, dtype=np.int64)
    xy = np.asarray(xy, dtype=np.float64)
    sel = np.ones(len(tri), dtype=bool) if selected is None else np.asarray(selected, dtype=bool)
    if twins is None or selected is None:
        # orient every selected triangle the same way, then pair up its edges
        tri = tri[sel]
        a, b, c = xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]]
        neg = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) < 0
        tri = np.where(neg[:, None], tri[:, [0, 2, 1]], tri)
        sel = np.ones(len(tri), dtype=bool)
        twins = edge_twins(tri, len(xy))
    sel_slot = np.repeat(sel, 3)
    tw = np.asarray(twins).reshape(-1)
    keep = sel_slot & ((tw < 0) | ~sel_slot[np.maximum(tw, 0)])
    slots = np.flatnonzero(keep)
    flat = tri.reshape(-1)
    start = flat[slots]
    end = flat[slots + np.where(slots % 3 == 2, -2, 1)]  # the next corner of the same triangle
    return fill_outline(xy[start, 0], xy[start, 1], xy[end, 0], xy[end, 1], shape)


def fill_outline(
    px: np.ndarray,
    py: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    shape: tuple[int, int],
    even_odd: bool = False,
    group: np.ndarray | None = None,
) -> np.ndarray:
    """Fill by non-zero winding of directed outline edges P→Q, each (E,): for every pixel row r with
    min(Py, Qy) ≤ r < max(Py, Qy) the crossing x = Px + (r − Py)(Qx − Px)/(Qy − Py) adds ±1 (downward +) to the
    pixel centres with c ≥ x; a cumulative sum along each row gives the winding number; a pixel is set where it is
    non-zero (or, with ``even_odd``, odd: what scan-line polygon fillers do with self-intersecting outlines).
    With ``group`` ((E,) ints ≥ 0), each group of edges is one closed outline with its own winding numbers, and a
    pixel is set where any group's is (the union of the separately filled outlines, in one pass).
    Returns (H, W) bool.

    Exact: the rows, the crossing (one fixed sequence of float64 − × ÷ + per edge and row, element-wise) and its
    ceiling are the same bits on every machine; the winding numbers are int64 counts and sums."""
    h, w = shape
    lo = np.maximum(np.ceil(np.minimum(py, qy)), 0.0)
    hi = np.minimum(np.ceil(np.maximum(py, qy)), float(h))
    rows = np.maximum(hi - lo, 0.0).astype(np.int64)
    e = np.flatnonzero(rows)
    if e.size == 0:
        return np.zeros((h, w), dtype=bool)
    n = rows[e]
    rep = np.repeat(e, n)
    r = lo[rep] + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    x0, y0, x1, y1 = px[rep], py[rep], qx[rep], qy[rep]
    cross_x = x0 + (r - y0) * (x1 - x0) / (y1 - y0)
    col = np.clip(np.ceil(cross_x), 0.0, float(w)).astype(np.int64)
    down = y1 > y0
    # only the block the outline spans: right of its last crossing every row has summed to 0 (closed loops)
    row = r.astype(np.int64)
    r0, c0 = int(row.min()), int(col.min())
    bh, bw = int(row.max()) + 1 - r0, int(col.max()) + 1 - c0
    cell = (row - r0) * bw + (col - c0)
    groups = 1
    if group is not None:
        g = np.asarray(group, dtype=np.int64)
        groups = int(g.max()) + 1
        cell += g[rep] * (bh * bw)
    size = groups * bh * bw
    acc = np.bincount(cell[down], minlength=size) - np.bincount(cell[~down], minlength=size)
    out = np.zeros((h, w), dtype=bool)
    winding = np.cumsum(acc.reshape(groups, bh, bw), axis=2)
    block = (winding % 2 != 0) if even_odd else (winding != 0)
    out[r0 : r0 + bh, c0 : c0 + bw] = block.any(axis=0)[:, : w - c0]
    return out


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
    :attr:`FaceMesh.region_kernel`, which equals :func:`region_from_vertices` of :func:`fitted_image_vertices`
    pixel for pixel and does only the face's share of the work.
    """
    return face_geometry(sample_or_pose, mesh, shape, pt3d_68).region


def face_geometry(
    sample_or_pose: Any,
    mesh: FaceMesh,
    shape: tuple[int, int] = IMAGE_SHAPE,
    pt3d_68: np.ndarray | None = None,
) -> Any:
    """P and the share of face-mesh vertices projected outside the image, as a
    :class:`aflw_occ.region_kernel.FaceGeometry` (same inputs as :func:`face_region_mask`)."""
    one = sample_or_pose if pt3d_68 is None else (sample_or_pose, pt3d_68)
    return face_geometries([one], mesh, [shape])[0]


def face_geometries(samples: Sequence[Any], mesh: FaceMesh, shapes: Sequence[tuple[int, int]]) -> list[Any]:
    """:func:`face_geometry` of several samples (or ``(pose_para, pt3d_68)`` pairs), one image ``shape`` each, with
    one batched fit (:meth:`aflw_occ.region_kernel.RegionKernel.many`); errors name the sample by its ``id``."""
    items = [_pose_inputs(s, None) for s in samples]
    ids = [str(getattr(s, "id", "?")) for s in samples]
    return mesh.region_kernel.many(items, shapes, ids if any(hasattr(s, "id") for s in samples) else None)


def region_from_vertices(verts: np.ndarray, mesh: FaceMesh, shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """P from fitted vertices (N, 3) in release coordinates: the front-facing triangles rasterised, (H, W) bool.

    The dense reference path (all vertices, generic rasteriser); builds use :func:`face_region_mask`."""
    xy = verts[:, :2] - PIXEL_OFFSET
    tri = mesh.face_triangles
    return rasterize_triangles(xy, tri, shape, front_facing(xy, tri), mesh.twins)
