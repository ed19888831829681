"""3DDFA_V2 as a model spec — ``3ddfa-v2:PATH.onnx`` (onnxruntime, no torch) or ``3ddfa-v2:PATH.pth`` (torch) — and
the model's name, which is the same for both.

**Model name.** ``3ddfa-v2-<weights>``, where ``<weights>`` is the file stem of the original checkpoint: the
``.pth`` itself, or, for an ``.onnx``, the checkpoint it was exported from, recorded in the ONNX metadata by
``aflw-occ export 3ddfa-v2`` (:data:`META_NAME`, with the checkpoint's sha256 in :data:`META_SHA256`). Non-default
settings are appended: ``-<rule>-box`` for another crop rule, ``-pose-<decoding>`` for another Euler decoding. So
``3ddfa-v2:mb05_120x120.pth`` and ``3ddfa-v2:mb05.onnx`` exported from it are one model and one leaderboard row,
whatever the ONNX file is called; the weights' identity (the checkpoint's sha256) is recorded as ``weights_sha256`` in
the results' ``meta.json``. An ONNX file without the metadata (exported by an older aflw-occ or another tool) is named
by its own stem and has no recorded identity: re-export it to get the checkpoint's name.
"""

from __future__ import annotations

from typing import Any

from ..crops import CROP_RULES
from ..errors import PredictionError
from ..metrics.rotation import POSE_DECODINGS
from .options import Option
from .registry import Adapter
from .tddfa_identity import (
    DEFAULT_CROP,
    DEFAULT_POSE,
    META_NAME,
    META_SHA256,
    WeightsIdentity,
    checkpoint_identity,
    model_name,
    onnx_identity,
)

__all__ = [
    "ADAPTER",
    "DEFAULT_CROP",
    "DEFAULT_POSE",
    "META_NAME",
    "META_SHA256",
    "WeightsIdentity",
    "checkpoint_identity",
    "load",
    "model_name",
    "onnx_identity",
]


def load(path: str | None, options: dict[str, Any], threads: int) -> Any:
    """The ``3ddfa-v2`` factory: by the file's suffix, the ONNX export or the torch checkpoint."""
    path = str(path)
    crop = options.get("crop", DEFAULT_CROP)
    pose = options.get("pose", DEFAULT_POSE)
    predictor: Any
    if path.lower().endswith(".onnx"):
        if "basis" in options:
            raise PredictionError(f"{path}: basis= is for a .pth checkpoint (the .onnx export holds the basis)")
        from .tddfa_onnx import TDDFAOnnxPredictor

        predictor = TDDFAOnnxPredictor(path, crop=crop, threads=threads)
    elif path.lower().endswith((".pth", ".pt")):
        try:
            from .tddfa_v2 import TDDFATorchPredictor
        except ImportError:
            raise PredictionError(f"{path}: a .pth model needs torch (pip install 'aflw-occ[torch]')") from None
        predictor = TDDFATorchPredictor(path, model_dir=options.get("basis"), threads=threads, crop=crop)
    else:
        raise PredictionError(f"{path}: 3ddfa-v2 needs a .onnx (exported) or .pth (checkpoint) file")
    predictor.pose_decoding = pose
    predictor.name = model_name(predictor.weights, crop, pose)
    return predictor


ADAPTER = Adapter(
    kind="3ddfa-v2",
    path="PATH.onnx|PATH.pth",
    summary="3DDFA_V2 MobileNet-x0.5: the export of `aflw-occ export 3ddfa-v2` (onnxruntime, no torch) or the "
    "checkpoint (needs torch). Both give the same model name: `3ddfa-v2-` + the checkpoint's file stem.",
    factory=load,
    options=(
        Option("crop", "crop rule: the benchmark's 3DDFA boxes, or the 3DDFA_V2 rule on the ground-truth landmark box",
               choices=CROP_RULES, default=DEFAULT_CROP),
        Option("pose", "Euler decoding of the predicted rotation: the release's R = Rx·Ry·Rz, or SynergyNet's "
               "matrix2angle (behind the published pose tables)", choices=POSE_DECODINGS, default=DEFAULT_POSE),
        Option("basis", "(.pth only) folder of the 62-parameter statistics and the 68-point basis "
               "(default: beside the weights, else the shared model folder)", metavar="DIR"),
    ),
)  # fmt: skip
