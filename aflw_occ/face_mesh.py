"""The dense face mesh (:class:`FaceMesh`): loaded from the release's mean face or 3DDFA's BFM subset, cut at the
neck, and fitted to one image's ``Pose_Para`` and ``pt3d_68`` (:func:`fit_mesh`; the arithmetic is in
:mod:`aflw_occ.geometry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SourceError
from .geometry import SPREAD_FRAC_BITS, ExactSpread, basis_combination, project, rbf_spread_grid
from .matfile import read_mat
from .paths import default_source
from .raster import edge_twins

MODEL_FILE = "Model_Shape_Sim.mat"
#: how far below the jaw line (model units = micrometres, so 5 mm) the face region reaches
NECK_MARGIN = 5000.0
BFM_FILES = ("u_shp.npy", "u_exp.npy", "w_shp_sim.npy", "w_exp_sim.npy", "keypoints_sim.npy", "tri.mat")


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
    _spread_grid: np.ndarray | None = field(default=None, repr=False)
    _twins: np.ndarray | None = field(default=None, repr=False)
    _face_tri: np.ndarray | None = field(default=None, repr=False)
    _face_vert: np.ndarray | None = field(default=None, repr=False)
    #: the mesh's :class:`aflw_occ.region_kernel.RegionKernel`, set by ``RegionKernel.of`` (built once)
    _kernel: object = field(default=None, repr=False)

    @property
    def spread(self) -> np.ndarray:
        """(N, 68) float64 keypoint-offset → vertex-offset map on the grid 2^−:data:`SPREAD_FRAC_BITS`
        (:func:`aflw_occ.geometry.rbf_spread_matrix`: :attr:`spread_grid` scaled, computed once per mesh)."""
        if self._spread is None:
            self._spread = self.spread_grid.T * (1.0 / float(1 << SPREAD_FRAC_BITS))
        return self._spread

    @property
    def spread_grid(self) -> np.ndarray:
        """(68, N) float64 integers: :attr:`spread` transposed and times 2^S (:func:`rbf_spread_grid`, computed once
        per mesh), the layout :class:`aflw_occ.geometry.ExactSpread` multiplies with."""
        if self._spread_grid is None:
            self._spread_grid = rbf_spread_grid(self.vertices, self.keypoints)
        return self._spread_grid

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

    def prepare(self) -> FaceMesh:
        """Compute the cached matrices now (before forking workers); returns self. The per-mesh kernel of the face
        region P is :meth:`aflw_occ.region_kernel.RegionKernel.of` (cached in ``_kernel``)."""
        _ = self.spread_grid, self.twins, self.face_vertices
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
    posed += ExactSpread(grid=mesh.spread_grid)(np.ascontiguousarray(residual.T)).T
    return posed
