"""3DDFA_V2 MobileNet-V1 (width 0.5) in torch, its checkpoint loader, and a torch predictor (torch-only module).

Architecture (MobileNet-V1, every width × 0.5, input 3×120×120): ``conv1`` 3×3/2 → 16 (BN, ReLU); 13 depthwise-
separable blocks ``dw2_1 … dw6`` (3×3 depthwise + BN + ReLU, 1×1 pointwise + BN + ReLU) with output widths
32, 64, 64, 128, 128, 256, 256×5, 512, 512 and strides 1, 2, 1, 2, 1, 2, 1×5, 2, 1; global average pool; linear head
``fc_param`` 512 → 62. 850,398 parameters.

Checkpoint (``mb05_120x120.pth``): ``{"state_dict": {...}}`` with a ``module.`` prefix on every key; the 62-value
head is ``fc_param.*`` (the second head ``fc_lm.*`` is unused and dropped).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import PredictionError
from .tddfa_identity import WeightsIdentity, checkpoint_identity, model_name
from .tddfa_params import INPUT_SIZE, N_PARAMS, TDDFABasis, TDDFAPipeline, tddfa_preprocess

# (name, output channels at width 1.0, stride)
_BLOCKS: tuple[tuple[str, int, int], ...] = (
    ("dw2_1", 64, 1),
    ("dw2_2", 128, 2),
    ("dw3_1", 128, 1),
    ("dw3_2", 256, 2),
    ("dw4_1", 256, 1),
    ("dw4_2", 512, 2),
    ("dw5_1", 512, 1),
    ("dw5_2", 512, 1),
    ("dw5_3", 512, 1),
    ("dw5_4", 512, 1),
    ("dw5_5", 512, 1),
    ("dw5_6", 1024, 2),
    ("dw6", 1024, 1),
)


class DepthwiseSeparable(nn.Module):
    """3×3 depthwise conv (stride s) + BN + ReLU, 1×1 pointwise conv + BN + ReLU: (N,C,H,W)→(N,C',H/s,W/s)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False)
        self.bn_dw = nn.BatchNorm2d(cin)
        self.conv_sep = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn_sep = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn_dw(self.conv_dw(x)))
        return self.relu(self.bn_sep(self.conv_sep(x)))


class MobileNetV1(nn.Module):
    """MobileNet-V1 with a width multiplier and a head named ``fc_param``: (N, 3, S, S) → (N, 62)."""

    def __init__(self, widen_factor: float = 0.5, num_classes: int = N_PARAMS) -> None:
        super().__init__()
        w = widen_factor
        c0 = int(32 * w)
        self.conv1 = nn.Conv2d(3, c0, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c0)
        self.relu = nn.ReLU(inplace=True)
        cin = c0
        for name, cout, stride in _BLOCKS:
            setattr(self, name, DepthwiseSeparable(cin, int(cout * w), stride))
            cin = int(cout * w)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc_param = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for name, _, _ in _BLOCKS:
            x = getattr(self, name)(x)
        return self.fc_param(torch.flatten(self.avgpool(x), 1))


def load_mobilenet(weights: str | Path, widen_factor: float = 0.5) -> MobileNetV1:
    """Build the network and load a 3DDFA_V2 checkpoint (``module.`` prefix stripped, ``fc_lm`` dropped), strictly.

    Raises :class:`PredictionError` naming the file when it is missing, unreadable or does not match.
    """
    p = Path(weights)
    if not p.is_file():
        raise PredictionError(f"{p}: 3DDFA_V2 checkpoint does not exist")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PredictionError(f"{p}: not a readable torch checkpoint ({msg})") from None
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise PredictionError(f"{p}: checkpoint holds no state dict")
    clean = {}
    for k, v in sd.items():
        k = k[len("module.") :] if k.startswith("module.") else k
        if k.startswith("fc_lm."):
            continue
        clean[k] = v
    net = MobileNetV1(widen_factor)
    missing, unexpected = net.load_state_dict(clean, strict=False)
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise PredictionError(f"{p}: checkpoint does not match MobileNet-V1 x{widen_factor} ({what})")
    return net.eval()


class TDDFAWithDecoding(nn.Module):
    """Network + de-normalisation + 68-point decoding, the graph that is exported to ONNX.

    (N, 3, 120, 120) → ``raw`` (N, 62) network output, ``param`` (N, 62) = raw·std + mean,
    ``landmarks`` (N, 68, 3) crop pixels (see :mod:`aflw_occ.adapters.tddfa_params`).
    """

    def __init__(self, net: nn.Module, basis: TDDFABasis) -> None:
        super().__init__()
        self.net = net
        f32 = torch.float32
        self.register_buffer("mean", torch.as_tensor(basis.mean, dtype=f32))
        self.register_buffer("std", torch.as_tensor(basis.std, dtype=f32))
        self.register_buffer("u", torch.as_tensor(basis.u, dtype=f32).reshape(68, 3))
        self.register_buffer("w_shp", torch.as_tensor(basis.w_shp.T, dtype=f32).contiguous())  # (40, 204)
        self.register_buffer("w_exp", torch.as_tensor(basis.w_exp.T, dtype=f32).contiguous())  # (10, 204)
        self.register_buffer("flip", torch.tensor([1.0, -1.0, 1.0], dtype=f32))
        self.register_buffer("shift", torch.tensor([-1.0, float(INPUT_SIZE), -1.0], dtype=f32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raw = self.net(x)
        p = raw * self.std + self.mean
        n = p.shape[0]
        pm = p[:, :12].reshape(n, 3, 4)
        v = (p[:, 12:52] @ self.w_shp + p[:, 52:62] @ self.w_exp).reshape(n, 68, 3) + self.u
        q = torch.matmul(v, pm[:, :, :3].transpose(1, 2)) + pm[:, :, 3].unsqueeze(1)
        q = q * self.flip + self.shift  # x − 1, 120 − y, z − 1
        return raw, p, q


class TDDFATorchPredictor(TDDFAPipeline):
    """3DDFA_V2 MobileNet-x0.5 from a ``.pth`` checkpoint, run with torch (named as in :mod:`aflw_occ.adapters.tddfa`).

    Args:
        weights: the checkpoint.
        model_dir: folder with the basis files (default: beside the weights, else the shared model folder).
        threads: torch threads (None leaves the setting).
        crop: crop rule (default ``3ddfa``: the benchmark's roi boxes).
    """

    def __init__(
        self,
        weights: str | Path,
        model_dir: str | Path | None = None,
        threads: int | None = None,
        crop: str = "3ddfa",
    ) -> None:
        weights = Path(weights)
        if model_dir is None and all((weights.parent / f).is_file() for f in ("u_base.txt", "w_shp_base.txt")):
            model_dir = weights.parent
        self.model = TDDFAWithDecoding(load_mobilenet(weights), TDDFABasis.load(model_dir)).eval()
        self.pre = tddfa_preprocess(crop)
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        self.weights: WeightsIdentity = checkpoint_identity(weights)
        self.weights_sha256 = self.weights.sha256
        self.name = model_name(self.weights, crop)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with torch.inference_mode():
            raw, p, q = self.model(torch.from_numpy(x))
        return raw.numpy(), p.numpy(), q.numpy()
