"""``DSFNetPredictor``: images + face boxes → 68 landmarks (and dense face, pose) in image pixels.

Used by ``aflw-occ evaluate --model dsfnet:/path/net.pth``. Boxes are ``[x0, y0, x1, y1]`` landmark-style boxes
in image pixels; each face is cropped at 1.5× the box (docs/dsfnet.md §3.1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .basis import BUILD_HINT, UVBasis, load_basis
from .errors import BasisError, InputError
from .preprocess import CropTransform, crop_from_box, crop_image, standardise, uv_to_image

BASIS_ENV = "AFLW_OCC_DSFNET_BASIS"
BASIS_NAME = "dsfnet_uv_basis.npz"


def default_basis_path(weights: str | Path | None) -> Path:
    """``$AFLW_OCC_DSFNET_BASIS`` if set, else ``dsfnet_uv_basis.npz`` next to the weights."""
    env = os.environ.get(BASIS_ENV)
    if env:
        return Path(env).expanduser()
    if weights is None:
        raise BasisError(f"no DSFNet UV basis given and ${BASIS_ENV} is not set; {BUILD_HINT}")
    return Path(weights).expanduser().parent / BASIS_NAME


class DSFNetPredictor:
    """Callable predictor wrapping :class:`~dsfnet_model.model.DSFNet` with the official pre/post-processing.

    ``weights``: ``net.pth`` (or ``.npz``) loaded strictly; ``basis``: a basis file or :class:`UVBasis` (default:
    ``$AFLW_OCC_DSFNET_BASIS`` or ``dsfnet_uv_basis.npz`` next to the weights); ``deterministic``: all-valid-texel
    mode (else the official sampled mode, seeded by ``seed``).
    """

    def __init__(
        self,
        weights: str | Path,
        basis: str | Path | UVBasis | None = None,
        deterministic: bool = True,
        batch_size: int = 8,
        num_threads: int | None = None,
        seed: int = 0,
        fast_heads: bool = True,
    ) -> None:
        import torch

        from .checkpoint import load_dsfnet

        if basis is None:
            basis = default_basis_path(weights)
        self.basis = basis if isinstance(basis, UVBasis) else load_basis(basis)
        self.model = load_dsfnet(weights, self.basis, mode="deterministic" if deterministic else "official")
        if fast_heads:  # exact polyphase form of the image heads (see dsfnet_model.fast_heads)
            from .fast_heads import use_fast_heads

            use_fast_heads(self.model.hrnet)
        self.batch_size = int(batch_size)
        self.num_threads = num_threads
        self.generator = torch.Generator().manual_seed(seed)
        mask = np.asarray(self.basis.face_mask, bool).reshape(-1)
        self.face_texels = np.nonzero(mask)[0]
        lookup = np.full(mask.shape[0], -1, np.int64)
        lookup[self.face_texels] = np.arange(self.face_texels.size)
        self.triangles = lookup[np.asarray(self.basis.uv_triangles, np.int64)]

    # --------------------------------------------------------------------------------------------------
    def _prepare(
        self, images: np.ndarray | Sequence[np.ndarray], boxes: np.ndarray
    ) -> tuple[np.ndarray, list[CropTransform]]:
        n = len(images)
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.shape != (n, 4):
            raise InputError(f"boxes must have shape ({n}, 4) [x0, y0, x1, y1], got {boxes.shape}")
        crops = np.empty((n, 256, 256, 3), np.uint8)
        transforms = []
        for i in range(n):
            img = images[i]
            if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
                raise InputError(f"image {i}: expected uint8 RGB (H, W, 3), got {desc}")
            t = crop_from_box(boxes[i])
            crops[i] = crop_image(np.ascontiguousarray(img), t)
            transforms.append(t)
        return standardise(crops), transforms

    def run_network(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Standardised ``(N, 3, 256, 256)`` → ``face_uvm (N, 3, 256, 256)``, ``R_rot (N, 3, 3)``,
        ``kpt68 (N, 68, 3)``."""
        import torch

        from .geometry import TorchDraws

        old = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            outs: dict[str, list[np.ndarray]] = {"face_uvm": [], "R_rot": [], "kpt68": []}
            with torch.no_grad():
                for s in range(0, inputs.shape[0], self.batch_size):
                    res = self.model(torch.from_numpy(inputs[s : s + self.batch_size]), TorchDraws(self.generator))
                    for k in outs:
                        outs[k].append(res[k].numpy())
        finally:
            torch.set_num_threads(old)
        return {k: (np.concatenate(v) if v else np.zeros((0,))) for k, v in outs.items()}

    def __call__(self, images: np.ndarray | Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """uint8 ``(N, H, W, 3)`` RGB + ``boxes (N, 4)`` → ``(N, 68, 3)`` float landmarks in image pixels."""
        return self.predict_full(images, boxes, dense=False)["landmarks"]

    def predict_full(
        self, images: np.ndarray | Sequence[np.ndarray], boxes: np.ndarray, dense: bool = True
    ) -> dict[str, np.ndarray]:
        """Landmarks ``(N, 68, 3)``, dense face points ``(N, 43867, 3)`` (face-mask texels, row-major), pose
        ``(N, 3)`` (pitch, yaw, roll in degrees) and the mesh ``triangles (T, 3)`` indexing the dense points."""
        import torch

        from .geometry import pose_from_rotation

        if isinstance(images, np.ndarray) and (images.dtype != np.uint8 or images.ndim != 4):
            raise InputError(f"images must be uint8 RGB (N, H, W, 3), got {images.dtype} {images.shape}")
        inputs, transforms = self._prepare(images, boxes)
        net = self.run_network(inputs)
        n = inputs.shape[0]
        landmarks = np.stack([uv_to_image(net["kpt68"][i], transforms[i]) for i in range(n)]) if n else np.zeros(
            (0, 68, 3)
        )
        out = {
            "landmarks": landmarks.astype(np.float64),
            "pose": pose_from_rotation(torch.from_numpy(net["R_rot"])).numpy().astype(np.float64)
            if n
            else np.zeros((0, 3)),
        }
        if dense:
            pts = net["face_uvm"].reshape(n, 3, -1)[:, :, self.face_texels].transpose(0, 2, 1)
            out["dense"] = np.stack([uv_to_image(pts[i], transforms[i]) for i in range(n)]) if n else np.zeros(
                (0, self.face_texels.size, 3)
            )
            out["triangles"] = self.triangles
        return out
