"""Access to the shared reference data (seeded weights, test vectors, BFM stand-in) for tests and benchmarks.

Nothing here is shipped data: every function reads ``<shared>/reference`` and ``<shared>/data/uv``
(``aflw_occ.paths.shared_dir()``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aflw_occ.paths import shared_dir

from .basis import UVBasis, read_face_mask, read_kpt_ind, uv_triangles

HEAD_KEYS = ("grid", "seg", "image_space_conf", "depth", "model_space_feature", "shape_para", "exp_para", "Tm")


def reference_dir(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "reference"


def uv_dir(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "data" / "uv"


def reference_weights(shared: Path | None = None) -> dict[str, np.ndarray]:
    """The seeded DSFNet state dict (972 arrays)."""
    with np.load(reference_dir(shared) / "dsfnet_state_dict.npz") as z:
        return {k: z[k] for k in z.files}


def reference_vectors(shared: Path | None = None) -> dict[str, np.ndarray]:
    """Input, every intermediate and the recorded random draws of the official forward."""
    with np.load(reference_dir(shared) / "dsfnet_vectors.npz") as z:
        return {k: z[k] for k in z.files}


def standin_basis(shared: Path | None = None, n_shape: int = 199, n_exp: int = 29) -> UVBasis:
    """Decode the seeded stand-in basis (reference README): sign bits → ±2⁻⁸, rows ``3·(r·256 + c) + k``;
    columns 0..198 shape, 199..227 expression; mean map = the released ``mean_shape_map.npy``."""
    with np.load(reference_dir(shared) / "dsfnet_bfm_standin.npz") as z:
        bits = np.unpackbits(z["packed_sign_bits"]).reshape(int(z["n_rows"]), int(z["n_cols"]))
        scale = np.float32(z["scale"])
        shape_ev, exp_ev = z["shapeEV"].astype(np.float32), z["expEV"].astype(np.float32)
    cols = list(range(n_shape)) + list(range(199, 199 + n_exp))
    pc = (bits[:, cols].astype(np.float32) * 2 - 1) * scale
    pc = np.ascontiguousarray(pc.reshape(256, 256, 3, len(cols)).transpose(3, 2, 0, 1))
    face_mask = read_face_mask(uv_dir(shared) / "uv_face_mask.png")
    mean = np.load(uv_dir(shared) / "mean_shape_map.npy").astype(np.float32).transpose(2, 0, 1)
    return UVBasis(
        shape_pc=pc[:n_shape],
        shape_ev=shape_ev[:n_shape],
        exp_pc=pc[n_shape:],
        exp_ev=exp_ev[:n_exp],
        mean_map=np.ascontiguousarray(mean),
        face_mask=face_mask,
        kpt_ind=read_kpt_ind(uv_dir(shared) / "uv_kpt_ind.txt"),
        uv_triangles=uv_triangles(face_mask),
    )
