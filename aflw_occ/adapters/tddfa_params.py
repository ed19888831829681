"""3DDFA_V2's 62-parameter output → 68 landmarks and head pose (numpy only, never imports torch).

Parameters (after de-normalisation ``p = p̂·std + mean``): ``P = p[0:12]`` as a 3×4 matrix ``[sR | t]``, shape
``α = p[12:52]``, expression ``β = p[52:62]``. Landmarks in model space: ``v = u + W_shp·α + W_exp·β`` (204 values,
column-major 3×68, i.e. point k is ``v[3k:3k+3]``); in crop pixels ``q = sR·v + t`` followed by
``x ← x − 1``, ``z ← z − 1``, ``y ← S − y`` (S = 120); image pixels through the crop box.

The files (``param_mean_std_62d_120x120.pkl``, ``u_base.txt``, ``w_shp_base.txt``, ``w_exp_base.txt``) come from the
3DDFA_V2 release; the package never ships them (see ``AFLW_OCC_SHARED/models/3ddfa_v2_mb05``).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..crops import crop_to_image
from ..errors import PredictionError
from ..evaluation.predictor import BatchPrediction
from ..metrics.rotation import angles_from_rotation, rotation_from_camera
from ..paths import shared_dir
from .preprocess import Preprocess, expand_rows

INPUT_SIZE = 120
N_PARAMS = 62
BASIS_FILES = ("param_mean_std_62d_120x120.pkl", "u_base.txt", "w_shp_base.txt", "w_exp_base.txt")


def default_model_dir() -> Path:
    """``$AFLW_OCC_SHARED/models/3ddfa_v2_mb05``."""
    return shared_dir() / "models" / "3ddfa_v2_mb05"


@dataclass(frozen=True)
class TDDFABasis:
    """De-normalisation statistics and the 68-point linear basis.

    Attributes:
        mean, std: (62,) float32 parameter statistics.
        u: (204,) mean 68-point shape (column-major 3×68).
        w_shp: (204, 40) shape basis. w_exp: (204, 10) expression basis.
    """

    mean: np.ndarray
    std: np.ndarray
    u: np.ndarray
    w_shp: np.ndarray
    w_exp: np.ndarray

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> TDDFABasis:
        """Read the four basis files from a folder; :class:`PredictionError` naming a missing or bad file."""
        d = Path(model_dir) if model_dir is not None else default_model_dir()
        for f in BASIS_FILES:
            if not (d / f).is_file():
                raise PredictionError(f"{d / f}: 3DDFA_V2 basis file is missing (point --basis at the model folder)")
        try:
            with (d / BASIS_FILES[0]).open("rb") as fh:
                stats = pickle.load(fh)
            mean = np.asarray(stats["mean"], dtype=np.float32).reshape(N_PARAMS)
            std = np.asarray(stats["std"], dtype=np.float32).reshape(N_PARAMS)
        except Exception as exc:
            raise PredictionError(f"{d / BASIS_FILES[0]}: not a mean/std pickle of 62 values ({exc})") from None
        arrays = []
        for f, shape in zip(BASIS_FILES[1:], ((204,), (204, 40), (204, 10)), strict=True):
            try:
                a = np.loadtxt(d / f, dtype=np.float64).reshape(shape)
            except Exception as exc:
                raise PredictionError(f"{d / f}: expected {shape} numbers ({exc})") from None
            arrays.append(a)
        return cls(mean, std, *arrays)

    def denormalise(self, params: np.ndarray) -> np.ndarray:
        """(N, 62) network output → (N, 62) parameters: ``p̂·std + mean``."""
        return np.asarray(params, dtype=np.float64) * self.std + self.mean

    def landmarks_crop(self, params: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
        """(N, 62) de-normalised parameters → (N, 68, 3) landmarks in crop pixels (module docstring)."""
        p = np.asarray(params, dtype=np.float64)
        pm = p[:, :12].reshape(-1, 3, 4)
        v = self.u + p[:, 12:52] @ self.w_shp.T + p[:, 52:62] @ self.w_exp.T  # (N, 204)
        v = v.reshape(-1, 68, 3)  # column-major 3×68 == row-major 68×3
        q = np.einsum("nij,nkj->nki", pm[:, :, :3], v) + pm[:, None, :, 3]
        q[..., 0] -= 1.0
        q[..., 2] -= 1.0
        q[..., 1] = size - q[..., 1]
        return q


def pose_from_params(params: np.ndarray, convention: str = "aflw2000-3d") -> np.ndarray:
    """(N, 62) de-normalised parameters → (N, 3) (pitch, yaw, roll) in degrees under a named decoding.

    The rows of ``sR`` are normalised (``r1 = P₀/‖P₀‖``, ``r2 = P₁/‖P₁‖``, ``r3 = r1 × r2``) and read with
    :func:`aflw_occ.metrics.rotation.angles_from_rotation`:

    * ``aflw2000-3d`` (default): ``R = Rx(pitch)·Ry(yaw)·Rz(roll)`` (the ``Pose_Para`` convention):
      yaw = −asin R₀₂, roll = atan2(R₀₁, R₀₀), pitch = atan2(R₁₂, R₂₂). Inverts the release's own projection.
    * ``synergynet``: SynergyNet's ``matrix2angle`` (yaw = asin R₂₀), the decoding behind the published
      3DDFA-V2 pose rows. Pitch and roll are the same; yaw differs (mb05: yaw MAE 4.055 instead of 2.935).
    """
    return angles_from_rotation(rotation_from_params(params), convention)


def rotation_from_params(params: np.ndarray) -> np.ndarray:
    """(N, 62) de-normalised parameters → (N, 3, 3) rotations (3DDFA's ``P2sRt``: normalised rows, r3 = r1 × r2)."""
    return rotation_from_camera(np.asarray(params, dtype=np.float64)[:, :12].reshape(-1, 3, 4))


def outputs_to_prediction(
    param: np.ndarray, landmarks_crop: np.ndarray, crop_boxes: np.ndarray, pose: str = "aflw2000-3d"
) -> BatchPrediction:
    """De-normalised params + crop-pixel landmarks → :class:`~aflw_occ.evaluation.predictor.BatchPrediction` (image
    px); angles decoded under the named convention ``pose`` (:func:`pose_from_params`)."""
    lms = crop_to_image(landmarks_crop, crop_boxes, INPUT_SIZE)
    return BatchPrediction(landmarks=lms, angles_deg=pose_from_params(param, pose))


def tddfa_preprocess(crop: str = "3ddfa") -> Preprocess:
    """3DDFA_V2's input pipeline: 3DDFA box, 120×120 bilinear crop with zero padding, BGR, (x − 127.5)/128."""
    return Preprocess(crop=crop, size=INPUT_SIZE, color="bgr", mean=127.5, std=128.0, layout="nchw")


class TDDFAPipeline:
    """The 3DDFA_V2 predictor steps around a ``forward`` (torch or onnxruntime): crop + normalise, then decode.

    Subclasses set ``self.pre`` (:func:`tddfa_preprocess`) and implement ``forward(x) -> (raw, params, landmarks)``.
    """

    pre: Preprocess
    #: Euler decoding of the predicted rotation (``aflw2000-3d`` or ``synergynet``; see :func:`pose_from_params`).
    pose_decoding: str = "aflw2000-3d"

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def prepare(self, images: Sequence[np.ndarray], boxes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop boxes, model input of the distinct crops and the row → input map of a batch (thread-safe; the
        evaluator runs it in its worker threads). See :meth:`Preprocess.inputs`."""
        crop = self.pre.boxes(boxes.roi, boxes.face)
        x, inverse = self.pre.inputs(images, crop, list(boxes.ids))
        return crop, x, inverse

    def decode(self, prepared: tuple[np.ndarray, np.ndarray, np.ndarray], params: np.ndarray, lms: np.ndarray) -> Any:
        """Network outputs of the distinct inputs → the
        :class:`~aflw_occ.evaluation.predictor.BatchPrediction` of every row."""
        crop, _, inverse = prepared
        return outputs_to_prediction(expand_rows(params, inverse), expand_rows(lms, inverse), crop, self.pose_decoding)

    def infer(self, prepared: tuple[np.ndarray, np.ndarray, np.ndarray], boxes: Any) -> Any:
        _, p, q = self.forward(prepared[1])
        return self.decode(prepared, p, q)

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> Any:
        return self.infer(self.prepare(images, boxes), boxes)
