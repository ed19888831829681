"""The PointNet of DSFNet's image-space completion path.

Per point 6 features ``(x, y, z, conf, row/128 - 1, col/128 - 1)``; shared 1×1 convs 6→64→64→64→128→1024 (BN, ReLU)
and a max over points give a ``(B, 1024)`` feature; 1×1 heads give ``Tm (B, 12)`` (unused downstream),
``shape (B, 199)`` + BN and ``exp (B, 29)`` + BN. Parameter names follow the checkpoint (``pointnet.*``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PointNet(nn.Module):
    """Shared-MLP point encoder with a (masked) max pooling and 3DMM coefficient heads."""

    def __init__(self) -> None:
        super().__init__()
        widths = (6, 64, 64, 64, 128, 1024)
        for k in range(1, 6):
            setattr(self, f"conv{k}", nn.Conv1d(widths[k - 1], widths[k], 1))
        self.conv6_Tm = nn.Conv1d(1024, 12, 1)
        self.conv6_shape = nn.Conv1d(1024, 199, 1)
        self.conv6_exp = nn.Conv1d(1024, 29, 1)
        for k in range(1, 6):
            setattr(self, f"bn{k}", nn.BatchNorm1d(widths[k]))
        self.bn6_shape = nn.BatchNorm1d(199)
        self.bn6_exp = nn.BatchNorm1d(29)

    def encode(self, pts: Tensor, valid: Tensor | None = None) -> Tensor:
        """``pts (B, 6, N)`` → max-pooled feature ``(B, 1024)``.

        With ``valid (B, N)`` bool, invalid points are excluded from the max (a sample without any valid point
        uses all its points).
        """
        x = pts
        for k in range(1, 6):
            x = torch.relu(getattr(self, f"bn{k}")(getattr(self, f"conv{k}")(x)))
        if valid is None:
            return x.max(dim=2).values
        has_any = valid.any(dim=1, keepdim=True)
        keep = (valid | ~has_any).unsqueeze(1)
        return torch.where(keep, x, torch.full_like(x, float("-inf"))).max(dim=2).values

    def heads(self, feature: Tensor) -> dict[str, Tensor]:
        """``feature (B, 1024)`` → ``Tm (B, 12)``, ``shape_para (B, 199)``, ``exp_para (B, 29)``."""
        f = feature.unsqueeze(2)
        return {
            "Tm": self.conv6_Tm(f).squeeze(2),
            "shape_para": self.bn6_shape(self.conv6_shape(f)).squeeze(2),
            "exp_para": self.bn6_exp(self.conv6_exp(f)).squeeze(2),
        }

    def forward(self, pts: Tensor, valid: Tensor | None = None) -> dict[str, Tensor]:
        feature = self.encode(pts, valid)
        out = self.heads(feature)
        out["feature"] = feature
        return out
