"""The exact arithmetic of the face geometry: ``Pose_Para`` projection, the radial-basis spread that fits the dense
mesh to ``pt3d_68``, and the image constants. The mesh itself is :mod:`aflw_occ.face_mesh`, the fills
:mod:`aflw_occ.raster`, the face region P :mod:`aflw_occ.face_region` (fast path :mod:`aflw_occ.region_kernel`).

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

import numpy as np

from . import exactmath
from .errors import AflwOccError

IMAGE_SHAPE: tuple[int, int] = (450, 450)
#: subtract from release (x, y) coordinates to get 0-based array coordinates (column, row)
PIXEL_OFFSET: float = 1.0
#: the release flips y as ``451 − y`` (450-pixel images, 1-based rows)
FLIP_Y: float = 451.0

#: the spread matrix M lives on the grid 2^−SPREAD_FRAC_BITS (entries |M| ≤ 1, row sums of |M| ≈ 3.1)
SPREAD_FRAC_BITS = 24
#: keypoint residuals are rounded to the grid 2^−RESIDUAL_FRAC_BITS px before they are spread
RESIDUAL_FRAC_BITS = 16


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
    vectors: :func:`rbf_spread_grid` scaled (a view of its transpose times 2^−S, exact).
    """
    return rbf_spread_grid(vertices, keypoints).T * (1.0 / float(1 << SPREAD_FRAC_BITS))


def rbf_spread_grid(vertices: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """The spread matrix of :func:`rbf_spread_matrix` transposed and on its integer grid: (K, N) float64 integers
    round(M̃ᵀ·2^S) (the layout :class:`ExactSpread` multiplies with).

    Platform-independent by construction: coordinates normalised with a correctly rounded mean (``math.fsum``) and an
    exact max; the (K+4)² system solved by :func:`solve_fixed_order`; M̃ = basis·X accumulated over the K + 4 basis
    columns in a fixed order (k = 0 … K−1, the constant, then x, y, z) with element-wise float64 × and + (no BLAS),
    scaled by 2^S (exact) and rounded to integers. Each vertex is a column of (K, chunk) blocks, so every step is one
    contiguous row operation.
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
    weights = [np.ascontiguousarray(sol[j])[:, None] for j in range(k + 4)]  # (K, 1) columns
    rows = np.ascontiguousarray(v.T)  # (3, N)
    grid = float(1 << SPREAD_FRAC_BITS)
    n, step = len(v), 512
    out = np.empty((k, n), dtype=np.float64)
    term = np.empty((k, step))
    for start in range(0, n, step):
        m = min(step, n - start)
        xyz = rows[:, start : start + m]
        # φ(r) = r between the keypoints and this chunk, (K, m): r = √((Δx² + Δy²) + Δz²) as in _rbf_kernel
        dx, dy, dz = (xyz[d][None, :] - c[:, d, None] for d in range(3))
        phi = np.sqrt((dx * dx + dy * dy) + dz * dz)
        acc = np.zeros((k, m))
        t = term[:, :m]
        for j in range(k):
            np.multiply(phi[j][None, :], weights[j], out=t)
            acc += t
        acc += weights[k]
        for d in range(3):
            np.multiply(xyz[d][None, :], weights[k + 1 + d], out=t)
            acc += t
        acc *= grid
        np.rint(acc, out=out[:, start : start + m])
    out[:, keypoints] = np.eye(k) * grid  # exact at the keypoints
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

    def __init__(self, spread: np.ndarray | None = None, *, grid: np.ndarray | None = None) -> None:
        """From M (V, K) on the grid 2^−S, or from ``grid`` = M_int (K, V) as :func:`rbf_spread_grid` gives it
        (integers by construction: used as it is, no copy)."""
        if grid is None:
            m = np.asarray(spread, dtype=np.float64)
            self.t_int = np.ascontiguousarray((m * float(1 << SPREAD_FRAC_BITS)).T)
            if not np.array_equal(self.t_int, np.rint(self.t_int)):
                raise GeometryError("spread matrix is not on its 2^-SPREAD_FRAC_BITS grid")
        else:
            self.t_int = np.ascontiguousarray(grid, dtype=np.float64)
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
