"""Ground-truth targets for DSFNet training from 300W-LP / AFLW2000-3D annotations (docs/dsfnet.md §2).

Per sample (``.mat`` with ``Shape_Para (199, 1)``, ``Exp_Para (29, 1)``, ``Pose_Para (1, 7)``):

* canonical face in UV (BFM units): ``X = mean/1.5e-5 + Σ shape_k·pc_k + Σ exp_k·pc_k`` (leading components of the
  basis; the annotation's coefficients are raw, i.e. ``α_raw = α·ev``);
* image space: ``V = s·Rx(pitch)·Ry(yaw)·Rz(roll)·X + t``, then ``y ← H + 1 - y`` (the convention of the
  ``pt3d_68`` annotations);
* crop (1.5× landmark box, optional jitter/rotation): ``p_crop = A·V_xy + b``, ``z_crop = k·z`` shifted to min 0;
* targets: ``pos (3, 256, 256)`` = crop positions / 280 (the final map), ``offset (3, 256, 256)`` = canonical ×
  1.5e-5 - mean, normalised ``shape (199,)``/``exp (29,)`` coefficients (zero beyond the basis), ``Tm (12,)``
  (raw BFM → crop pixels, row-major 3×4), and per-pixel ``seg``, ``grid (2, 256, 256)``, ``depth`` from a
  z-buffered rasterisation of the UV mesh in the crop (front-most surface wins).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .basis import UVBasis
from .errors import InputError
from .raster import barycentric_inside

UV = 256
CROP = 256
K_IMG = 280.0
K_BFM = 1.5e-5


def euler_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """``Rx(pitch)·Ry(yaw)·Rz(roll)`` with the 3DDFA/300W-LP sign convention (radians) → ``(3, 3)``."""
    cx, sx, cy, sy, cz, sz = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def canonical_map(basis: UVBasis, shape_raw: np.ndarray, exp_raw: np.ndarray) -> np.ndarray:
    """Raw-unit coefficients → canonical UV face in BFM units ``(3, 256, 256)`` float64."""
    ks, ke = basis.shape_pc.shape[0], basis.exp_pc.shape[0]
    x = basis.mean_map.astype(np.float64) / K_BFM
    x = x + np.tensordot(np.asarray(shape_raw, np.float64)[:ks], basis.shape_pc, axes=(0, 0))
    return x + np.tensordot(np.asarray(exp_raw, np.float64)[:ke], basis.exp_pc, axes=(0, 0))


def image_map(canonical: np.ndarray, pose_para: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pose the canonical map into image pixels; returns the map ``(3, 256, 256)`` and the 4×4 transform."""
    p = np.asarray(pose_para, np.float64).reshape(-1)
    if p.shape != (7,):
        raise InputError(f"Pose_Para must have 7 values, got {p.shape}")
    rot = euler_rotation(p[0], p[1], p[2]) * p[6]
    t4 = np.eye(4)
    t4[:3, :3] = rot
    t4[:3, 3] = p[3:6]
    flip = np.diag([1.0, -1.0, 1.0, 1.0])
    flip[1, 3] = height + 1
    t4 = flip @ t4
    v = np.tensordot(t4[:3, :3], canonical, axes=(1, 0)) + t4[:3, 3].reshape(3, 1, 1)
    return v, t4


@dataclass
class CropSpec:
    """Similarity from image to crop: ``p_crop = scale·R(angle)·(p - centre) + 128`` (x, y); z scaled."""

    cx: float
    cy: float
    size: float
    angle: float = 0.0  # radians, in-plane rotation of the crop

    def matrix(self) -> np.ndarray:
        k = CROP / self.size
        c, s = np.cos(self.angle), np.sin(self.angle)
        a = k * np.array([[c, -s], [s, c]])
        b = np.array([CROP / 2.0, CROP / 2.0]) - a @ np.array([self.cx, self.cy])
        return np.concatenate([a, b[:, None]], 1)


def landmark_crop(landmarks_xy: np.ndarray, rng: np.random.Generator | None = None, shift: float = 0.1,
                  scale: float = 0.03, rot_p: float = 0.25, rot_max_deg: float = 90.0) -> CropSpec:
    """1.5× landmark-box crop; with ``rng``: shift ±10% (x, y), scale ±3%, rotation U[-90°, 90°) with p=0.25."""
    lo, hi = landmarks_xy.min(0), landmarks_xy.max(0)
    cx, cy = (lo + hi) / 2.0
    size = float(int(1.5 * ((hi[0] - lo[0]) + (hi[1] - lo[1])) / 2.0))
    angle = 0.0
    if rng is not None:
        cx += rng.uniform(-shift, shift) * size
        cy += rng.uniform(-shift, shift) * size
        size *= rng.uniform(1 - scale, 1 + scale)
        if rng.random() < rot_p:
            angle = np.deg2rad(rng.integers(-int(rot_max_deg), int(rot_max_deg)))
    return CropSpec(float(cx), float(cy), float(size), float(angle))


def rasterise_front(verts: np.ndarray, tris: np.ndarray, attrs: np.ndarray, size: int = CROP) -> tuple[
        np.ndarray, np.ndarray]:
    """z-buffered rasterisation: ``verts (N, 3)`` (x, y pixels; larger z = nearer), ``tris (T, 3)``,
    ``attrs (N, C)`` → per-pixel interpolated attributes ``(C, size, size)`` and coverage mask ``(size, size)``.
    Pixel centres at integer coordinates; inside test as in :mod:`dsfnet_model.raster`; the nearest triangle wins
    (triangles wider than 64 pixels are ignored)."""
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    lo = np.maximum(np.ceil(np.minimum(np.minimum(a, b), c)[:, :2]), 0).astype(np.int64)
    hi = np.minimum(np.floor(np.maximum(np.maximum(a, b), c)[:, :2]), size - 1).astype(np.int64)
    valid = np.nonzero((hi >= lo).all(1))[0]
    extent = (hi[valid] - lo[valid]).max(1)
    pix_l, w_l, tri_l, depth_l = [], [], [], []
    for low, ext in ((-1, 2), (2, 4), (4, 8), (8, 16), (16, 64)):  # bucket by size: few candidate pixels each
        keep = valid[(extent > low) & (extent <= ext)]
        if keep.size == 0:
            continue
        off = np.arange(ext + 1)
        du, dv = np.meshgrid(off, off, indexing="xy")
        px = lo[keep, 0:1] + du.reshape(1, -1)
        py = lo[keep, 1:2] + dv.reshape(1, -1)
        ok = (px <= hi[keep, 0:1]) & (py <= hi[keep, 1:2])
        u, v, inside = barycentric_inside(a[keep, :2], b[keep, :2], c[keep, :2], px, py, ok)
        ti, ki = np.nonzero(inside)
        tri_idx = tris[keep[ti]]
        w = np.stack([1 - u[ti, ki] - v[ti, ki], v[ti, ki], u[ti, ki]], 1)
        pix_l.append(py[ti, ki] * size + px[ti, ki])
        w_l.append(w)
        tri_l.append(tri_idx)
        depth_l.append((w * verts[tri_idx, 2]).sum(1))
    if not pix_l:
        return np.zeros((attrs.shape[1], size, size)), np.zeros((size, size), bool)
    pix, w, tri_idx, depth = (np.concatenate(x) for x in (pix_l, w_l, tri_l, depth_l))
    order = np.lexsort((-depth, pix))
    pix, w, tri_idx = pix[order], w[order], tri_idx[order]
    first = np.ones(pix.shape, bool)
    first[1:] = pix[1:] != pix[:-1]
    pix, w, tri_idx = pix[first], w[first], tri_idx[first]
    out = np.zeros((attrs.shape[1], size * size))
    out[:, pix] = (w[:, :, None] * attrs[tri_idx]).sum(1).T
    mask = np.zeros(size * size, bool)
    mask[pix] = True
    return out.reshape(-1, size, size), mask.reshape(size, size)


@dataclass
class Targets:
    """Ground truth of one crop (see module docstring); maps in network units."""

    pos: np.ndarray
    offset: np.ndarray
    shape: np.ndarray
    exp: np.ndarray
    tm: np.ndarray
    seg: np.ndarray
    grid: np.ndarray
    depth: np.ndarray


def make_targets(basis: UVBasis, mat: dict[str, np.ndarray], height: int, crop: CropSpec) -> Targets:
    """All training targets of one annotated image under crop ``crop`` (image ``height`` for the y flip)."""
    shape_raw = np.asarray(mat["Shape_Para"], np.float64).reshape(-1)
    exp_raw = np.asarray(mat["Exp_Para"], np.float64).reshape(-1)
    canon = canonical_map(basis, shape_raw, exp_raw)
    img, t4 = image_map(canon, mat["Pose_Para"], height)
    m = crop.matrix()
    k = CROP / crop.size
    xy = np.tensordot(m[:, :2], img[:2], axes=(1, 0)) + m[:, 2].reshape(2, 1, 1)
    z = img[2] * k
    face = basis.face_mask
    z_shift = -z[face].min()
    pos = np.concatenate([xy, (z + z_shift)[None]], 0)
    # raw BFM → crop pixels (3×4): crop ∘ image transform
    c4 = np.eye(4)
    c4[:2, :2] = m[:, :2]
    c4[:2, 3] = m[:, 2]
    c4[2, 2] = k
    c4[2, 3] = z_shift
    tm = (c4 @ t4)[:3].reshape(-1)
    # per-pixel targets from the UV mesh of the face texels
    tex = np.nonzero(face.reshape(-1))[0]
    lookup = np.full(UV * UV, -1)
    lookup[tex] = np.arange(tex.size)
    tris = lookup[basis.uv_triangles]
    verts = pos.reshape(3, -1)[:, tex].T
    rows, cols = tex // UV, tex % UV
    attrs = np.stack([(cols + 0.5) / 128.0 - 1.0, (rows + 0.5) / 128.0 - 1.0, verts[:, 2] / K_IMG], 1)
    per_pixel, covered = rasterise_front(verts, tris, attrs)
    ks, ke = basis.shape_pc.shape[0], basis.exp_pc.shape[0]
    shape_n = np.zeros(199)
    exp_n = np.zeros(29)
    shape_n[:ks] = shape_raw[:ks] / basis.shape_ev
    exp_n[:ke] = exp_raw[:ke] / basis.exp_ev
    return Targets(
        pos=(pos / K_IMG).astype(np.float32),
        offset=(canon * K_BFM - basis.mean_map).astype(np.float32),
        shape=shape_n.astype(np.float32),
        exp=exp_n.astype(np.float32),
        tm=tm.astype(np.float32),
        seg=covered.astype(np.float32)[None],
        grid=(per_pixel[:2] * covered).astype(np.float32),
        depth=(per_pixel[2:3] * covered).astype(np.float32),
    )
