"""ONNX export of DSFNet's deterministic mode as a single graph (opset 18), and an onnxruntime runner.

The graph takes the standardised crop ``image (B, 3, 256, 256)`` and returns ``face_uvm (B, 3, 256, 256)``,
``kpt68 (B, 68, 3)``, ``R_rot (B, 3, 3)``, ``seg (B, 1, 256, 256)`` and ``conf (B, 1, 256, 256)``.
No SVD is needed: the deterministic solver uses the polar Newton iteration (elementwise ops); the splat is a
ScatterElements with ``reduction='max'`` (opset 18) on pixel indices, which is deterministic. The UV basis is stored
as graph initialisers (external data file next to the ``.onnx`` when larger than 2 GB is not needed: ≤ 180 MB).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from aflw_occ.atomic import atomic_path

from .errors import DSFNetError
from .fast_heads import use_fast_heads
from .model import DSFNet

OUTPUTS = ("face_uvm", "kpt68", "R_rot", "seg", "conf")
OPSET = 18


class ExportWrapper(nn.Module):
    """Image → the :data:`OUTPUTS` tuple, in deterministic mode."""

    def __init__(self, model: DSFNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        out = self.model(image)
        return out["face_uvm"], out["kpt68"], out["R_rot"], out["hrnet.seg"], out["hrnet.image_space_conf"]


def export_onnx(
    model: DSFNet, path: str | Path, batch: int = 1, opset: int = OPSET, fast_heads: bool = True
) -> Path:
    """Export ``model`` in deterministic mode to ``path`` atomically (dynamic batch axis).

    ``fast_heads`` exports the exact polyphase form of the image heads (:mod:`dsfnet_model.fast_heads`); the
    model passed in is not modified."""
    path = Path(path)
    if not model.has_basis:
        raise DSFNetError("cannot export DSFNet without a UV basis (see `aflw-occ dsfnet build-basis`)")
    model = copy.deepcopy(model).eval()
    model.mode = "deterministic"
    if fast_heads:
        use_fast_heads(model.hrnet)
    with atomic_path(path, make_parent=True) as tmp:
        dummy = torch.zeros(batch, 3, 256, 256)
        with torch.no_grad():
            torch.onnx.export(
                ExportWrapper(model).eval(),
                (dummy,),
                str(tmp),
                input_names=["image"],
                output_names=list(OUTPUTS),
                dynamic_axes={"image": {0: "batch"}, **{k: {0: "batch"} for k in OUTPUTS}},
                opset_version=opset,
                dynamo=False,
            )
    return path


def ort_session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session (``threads`` intra-op threads)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only (a shape-inference warning on an index tensor is harmless)
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(session, image: np.ndarray) -> dict[str, np.ndarray]:
    """Run an exported graph on standardised ``image (B, 3, 256, 256)`` float32."""
    res = session.run(list(OUTPUTS), {"image": np.ascontiguousarray(image, np.float32)})
    return dict(zip(OUTPUTS, res, strict=True))
