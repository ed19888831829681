"""The UV-space 3DMM basis DSFNet needs at run time (not part of the checkpoint), and its builder.

A basis file (``.npz``, built once by ``aflw-occ dsfnet build-basis``; the package ships no BFM data) holds:

* ``shape_pc (Ks, 3, 256, 256)``, ``exp_pc (Ke, 3, 256, 256)`` float32: the PCA columns rasterised into UV
  (raw BFM units, *not* multiplied by the standard deviations);
* ``shape_ev (Ks,)``, ``exp_ev (Ke,)`` float32: standard deviations (network coefficients are in these units);
* ``mean_map (3, 256, 256)`` float32: (shapeMU + expMU)·1.5e-5 rasterised into UV;
* ``face_mask (256, 256)`` bool, ``kpt_ind (68, 2)`` int64 (row, col), ``uv_triangles (T, 3)`` int64 texel ids.

Offsets: ``offset = 1.5e-5 · Σ_i (α_i·ev_i)·pc_i`` for the first ``Ks``/``Ke`` coefficients (a reduced basis
uses only the leading coefficients of the network's 199/29).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aflw_occ.atomic import atomic_path

from .errors import BasisError
from .raster import interpolation_matrix, uv_pixel_coords

UV = 256
K_BFM = 1.5e-5
BUILD_HINT = (
    "build it from your Basel Face Model files with "
    "`aflw-occ dsfnet build-basis --bfm <BFM.mat or 3DDFA bfm folder> --uv-dir <PRNet uv-data folder> --out <file>`"
)


@dataclass
class UVBasis:
    """Everything non-learned the DSFNet forward needs (see module docstring for shapes)."""

    shape_pc: np.ndarray
    shape_ev: np.ndarray
    exp_pc: np.ndarray
    exp_ev: np.ndarray
    mean_map: np.ndarray
    face_mask: np.ndarray
    kpt_ind: np.ndarray
    uv_triangles: np.ndarray

    def validate(self, where: str = "basis") -> None:
        """Raise :class:`BasisError` naming ``where`` if any array has the wrong shape."""
        checks = {
            "shape_pc": (self.shape_pc.ndim == 4 and self.shape_pc.shape[1:] == (3, UV, UV)),
            "exp_pc": (self.exp_pc.ndim == 4 and self.exp_pc.shape[1:] == (3, UV, UV)),
            "shape_ev": self.shape_ev.shape == (self.shape_pc.shape[0],),
            "exp_ev": self.exp_ev.shape == (self.exp_pc.shape[0],),
            "mean_map": self.mean_map.shape == (3, UV, UV),
            "face_mask": self.face_mask.shape == (UV, UV),
            "kpt_ind": self.kpt_ind.shape == (68, 2),
            "uv_triangles": self.uv_triangles.ndim == 2 and self.uv_triangles.shape[1] == 3,
        }
        for name, ok in checks.items():
            if not ok:
                raise BasisError(f"{where}: array {name!r} has wrong shape {getattr(self, name).shape}")
        if self.shape_pc.shape[0] > 199 or self.exp_pc.shape[0] > 29:
            raise BasisError(f"{where}: at most 199 shape / 29 expression components are supported")

    def save(self, path: str | Path) -> Path:
        """Write an uncompressed ``.npz`` atomically (temp file + rename)."""
        path = Path(path)
        self.validate(str(path))
        with atomic_path(path, make_parent=True) as tmp, tmp.open("wb") as fh:
            np.savez(fh, **{k: getattr(self, k) for k in self.__dataclass_fields__})
        return path


def load_basis(path: str | Path) -> UVBasis:
    """Load a basis file; a missing or malformed file raises :class:`BasisError` saying how to build it."""
    path = Path(path)
    if not path.is_file():
        raise BasisError(f"DSFNet UV basis file not found: {path}; {BUILD_HINT}")
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in UVBasis.__dataclass_fields__}
    except KeyError as exc:
        raise BasisError(f"{path}: not a DSFNet UV basis file (missing array {exc}); {BUILD_HINT}") from exc
    except (OSError, ValueError) as exc:
        raise BasisError(f"{path}: unreadable DSFNet UV basis file ({exc}); {BUILD_HINT}") from exc
    basis = UVBasis(**arrays)
    basis.validate(str(path))
    return basis


# ----------------------------------------------------------------------------------------------------------
# UV helper files (PRNet uv-data: uv_face_mask.png, uv_kpt_ind.txt)
# ----------------------------------------------------------------------------------------------------------


def read_face_mask(path: str | Path) -> np.ndarray:
    """``uv_face_mask.png`` → ``(256, 256)`` bool (foreground where > 0)."""
    import cv2

    path = Path(path)
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    if img is None or img.shape != (UV, UV):
        raise BasisError(f"{path}: missing or not a 256×256 UV face mask image")
    return img > 0


def read_kpt_ind(path: str | Path) -> np.ndarray:
    """``uv_kpt_ind.txt`` (2 lines × 68; line 1 = column, line 2 = row) → ``(68, 2)`` int64 (row, col)."""
    path = Path(path)
    try:
        arr = np.loadtxt(path)
    except (OSError, ValueError) as exc:
        raise BasisError(f"{path}: missing or unreadable UV keypoint file ({exc})") from exc
    if arr.shape != (2, 68):
        raise BasisError(f"{path}: expected 2×68 UV keypoint indices, got {arr.shape}")
    return np.stack([arr[1], arr[0]], 1).astype(np.int64)


def uv_triangles(face_mask: np.ndarray) -> np.ndarray:
    """Regular-grid UV triangles restricted to the mask, as texel indices ``row·256 + col`` → ``(T, 3)``.

    Each mask texel (i, j) gives (i, j), (i+1, j), (i, j+1) when both neighbours are in the mask, and
    (i, j), (i, j+1), (i-1, j+1) likewise.
    """
    m = face_mask.astype(bool)
    i, j = np.nonzero(m[:-1, :-1] & m[1:, :-1] & m[:-1, 1:])
    t1 = np.stack([i * UV + j, (i + 1) * UV + j, i * UV + j + 1], 1)
    i2, j2 = np.nonzero(m[1:, :-1] & m[1:, 1:] & m[:-1, 1:])
    i2 = i2 + 1
    t2 = np.stack([i2 * UV + j2, i2 * UV + j2 + 1, (i2 - 1) * UV + j2 + 1], 1)
    tris = np.concatenate([t1, t2]).astype(np.int64)
    return tris[np.lexsort((tris[:, 1], tris[:, 0]))]


# ----------------------------------------------------------------------------------------------------------
# building from BFM files
# ----------------------------------------------------------------------------------------------------------


@dataclass
class VertexModel:
    """A per-vertex 3DMM: ``mu (3N,)``, ``shape_pc (3N, Ks)``, ``exp_pc (3N, Ke)``, EVs, ``tri (T, 3)`` 0-based."""

    mu: np.ndarray
    shape_pc: np.ndarray
    shape_ev: np.ndarray
    exp_pc: np.ndarray
    exp_ev: np.ndarray
    tri: np.ndarray


def read_vertex_model(bfm: str | Path, n_shape: int = 199, n_exp: int = 29) -> VertexModel:
    """Read a face3d ``BFM.mat`` (struct ``model``) or a 3DDFA BFM folder (``u_shp.npy``, ``u_exp.npy``,
    ``w_shp*.npy``, ``w_exp*.npy``, ``tri.mat``; standard deviations from ``param_whitening.pkl`` if present,
    else 1)."""
    import scipy.io as sio

    bfm = Path(bfm)
    if bfm.is_file():
        try:
            model = sio.loadmat(bfm, squeeze_me=False)["model"][0, 0]
            mu = (model["shapeMU"] + model["expMU"]).reshape(-1)
            out = VertexModel(
                mu,
                model["shapePC"][:, :n_shape],
                model["shapeEV"].reshape(-1)[:n_shape],
                model["expPC"][:, :n_exp],
                model["expEV"].reshape(-1)[:n_exp],
                np.concatenate([model["tri"], model["tri_mouth"]], 0).astype(np.int64) - 1,
            )
        except (KeyError, ValueError, OSError, IndexError) as exc:
            raise BasisError(f"{bfm}: not a face3d BFM.mat (struct 'model' with shapeMU/shapePC/...): {exc}") from exc
        return out
    if not bfm.is_dir():
        raise BasisError(f"BFM input not found: {bfm} (give a face3d BFM.mat or a 3DDFA bfm folder)")

    def find(pattern: str) -> Path:
        hits = sorted(bfm.glob(pattern))
        if not hits:
            raise BasisError(f"{bfm}: no file matching {pattern!r} in the BFM folder")
        return hits[0]

    mu = (np.load(find("u_shp.npy")) + np.load(find("u_exp.npy"))).reshape(-1)
    w_shp_all = np.load(find("w_shp*.npy"), mmap_mode="r")
    w_exp_all = np.load(find("w_exp*.npy"), mmap_mode="r")
    w_shp = np.asarray(w_shp_all[:, :n_shape])
    w_exp = np.asarray(w_exp_all[:, :n_exp])
    tri = sio.loadmat(find("tri.mat"))["tri"]
    tri = (tri.T if tri.shape[0] == 3 else tri).astype(np.int64) - 1
    shape_ev = np.ones(w_shp.shape[1])
    exp_ev = np.ones(w_exp.shape[1])
    whitening = bfm / "param_whitening.pkl"
    if whitening.is_file():
        import pickle

        with open(whitening, "rb") as fh:
            std = np.asarray(pickle.load(fh)["param_std"], np.float64)
        n_s, n_e = w_shp_all.shape[1], w_exp_all.shape[1]
        if std.shape[0] == 12 + n_s + n_e:  # 12 pose values, then shape, then expression (3DDFA layout)
            shape_ev = std[12 : 12 + w_shp.shape[1]]
            exp_ev = std[12 + n_s : 12 + n_s + w_exp.shape[1]]
    return VertexModel(mu, w_shp, shape_ev, w_exp, exp_ev, tri)


def _fill_uncovered(maps: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Copy the nearest covered texel into uncovered texels of ``maps (..., 256, 256)``."""
    from scipy import ndimage

    if covered.all():
        return maps
    _, (ri, ci) = ndimage.distance_transform_edt(~covered, return_indices=True)
    return maps[..., ri, ci]


def build_basis(
    bfm: str | Path,
    uv_dir: str | Path,
    uv_coords: str | Path | None = None,
    n_shape: int = 199,
    n_exp: int = 29,
) -> UVBasis:
    """Rasterise a per-vertex BFM into the 256×256 UV map (docs/dsfnet.md §1.5).

    ``uv_coords`` = ``BFM_UV.mat`` (``UV (N, 2)`` in [0, 1], N = the model's vertex count); default: next to the
    BFM input. ``uv_dir`` holds ``uv_face_mask.png`` and ``uv_kpt_ind.txt``. Texels no triangle covers take the
    value of the nearest covered texel (the UV square is then fully covered, like the released mean map).
    """
    import scipy.io as sio

    bfm = Path(bfm)
    uv_dir = Path(uv_dir)
    if uv_coords is None:
        uv_coords = (bfm if bfm.is_dir() else bfm.parent) / "BFM_UV.mat"
    uv_coords = Path(uv_coords)
    if not uv_coords.is_file():
        raise BasisError(f"UV coordinate file not found: {uv_coords} (3DMMasSTN/face3d BFM_UV.mat, give --uv-coords)")
    model = read_vertex_model(bfm, n_shape, n_exp)
    uv = sio.loadmat(uv_coords)["UV"]
    n_vert = model.mu.shape[0] // 3
    if uv.shape != (n_vert, 2):
        raise BasisError(f"{uv_coords}: UV has shape {uv.shape}, expected ({n_vert}, 2) for {bfm}")
    face_mask = read_face_mask(uv_dir / "uv_face_mask.png")
    kpt_ind = read_kpt_ind(uv_dir / "uv_kpt_ind.txt")
    mat = interpolation_matrix(uv_pixel_coords(uv), model.tri)
    covered = (np.asarray(mat.sum(1)).reshape(UV, UV) > 0)

    def raster(columns: np.ndarray) -> np.ndarray:
        # columns (3N, K) → (K, 3, 256, 256)
        k = columns.shape[1]
        per_vertex = columns.reshape(n_vert, 3 * k).astype(np.float64)
        out = (mat @ per_vertex).reshape(UV, UV, 3, k).transpose(3, 2, 0, 1)
        return _fill_uncovered(out, covered).astype(np.float32)

    mean_map = raster(model.mu[:, None])[0] * np.float32(K_BFM)
    return UVBasis(
        shape_pc=raster(model.shape_pc),
        shape_ev=np.asarray(model.shape_ev, np.float32),
        exp_pc=raster(model.exp_pc),
        exp_ev=np.asarray(model.exp_ev, np.float32),
        mean_map=mean_map.astype(np.float32),
        face_mask=face_mask,
        kpt_ind=kpt_ind,
        uv_triangles=uv_triangles(face_mask),
    )
