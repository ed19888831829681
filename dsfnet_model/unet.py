"""The fusion U-Net of DSFNet (12 UV channels in, a canonical offset map and a posed dense map out).

Input ``(B, 12, 256, 256)`` = cat(face_is, face_ms, offset_is, offset_ms); the model-space feature
``(B, 72, 8, 8)`` is resized bilinearly to 16² and joined at the bottleneck (256 + 72 = 328 channels).
Encoder widths 16/32/64/128/256; two decoders of the same structure; outputs ``offset (B, 3, 256, 256)`` and
``kpt (B, 3, 256, 256)``. Parameter names follow the official checkpoint (``unet.*``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FILTERS: tuple[int, ...] = (16, 32, 64, 128, 256)


class DoubleConv(nn.Module):
    """Two (3×3 conv with bias [+ BN] + ReLU) layers, named ``conv1``/``conv2`` as in the checkpoint."""

    def __init__(self, cin: int, cout: int, batchnorm: bool) -> None:
        super().__init__()

        def layer(a: int) -> nn.Sequential:
            parts: list[nn.Module] = [nn.Conv2d(a, cout, 3, 1, 1)]
            if batchnorm:
                parts.append(nn.BatchNorm2d(cout))
            parts.append(nn.ReLU(inplace=False))
            return nn.Sequential(*parts)

        self.conv1 = layer(cin)
        self.conv2 = layer(cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))


class UpBlock(nn.Module):
    """Transposed conv 2×2/2 of the deep map, concatenated before the skip, then two 3×3 conv + ReLU (no BN)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = DoubleConv(cin, cout, batchnorm=False)
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)

    def forward(self, skip: Tensor, deep: Tensor) -> Tensor:
        return self.conv(torch.cat([self.up(deep), skip], 1))


def _head() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(inplace=False), nn.Conv2d(16, 3, 1))


class FusionUNet(nn.Module):
    """U-Net with a bottleneck fusion of the model-space feature and two decoders (offset, kpt)."""

    def __init__(self, in_channels: int = 12, feature_channels: int = 72) -> None:
        super().__init__()
        f = FILTERS
        self.conv1 = DoubleConv(in_channels, f[0], True)
        self.conv2 = DoubleConv(f[0], f[1], True)
        self.conv3 = DoubleConv(f[1], f[2], True)
        self.conv4 = DoubleConv(f[2], f[3], True)
        self.center = DoubleConv(f[3], f[4], True)
        self.fuse_with_feature = DoubleConv(f[4] + feature_channels, f[4], True)
        for name in ("offset", "kpt"):
            for level in (4, 3, 2, 1):
                setattr(self, f"up_concat{level}_{name}", UpBlock(f[level], f[level - 1]))
        self.offset_head = _head()
        self.kpt_head = _head()

    def _decode(self, name: str, skips: list[Tensor], deep: Tensor) -> Tensor:
        x = deep
        for level in (4, 3, 2, 1):
            x = getattr(self, f"up_concat{level}_{name}")(skips[level - 1], x)
        return x

    def forward(self, x: Tensor, feature: Tensor) -> tuple[Tensor, Tensor]:
        """``x (B, 12, 256, 256)``, ``feature (B, 72, 8, 8)`` → ``(offset, kpt)``, each ``(B, 3, 256, 256)``."""
        c1 = self.conv1(x)
        c2 = self.conv2(F.max_pool2d(c1, 2))
        c3 = self.conv3(F.max_pool2d(c2, 2))
        c4 = self.conv4(F.max_pool2d(c3, 2))
        center = self.center(F.max_pool2d(c4, 2))
        feat = F.interpolate(feature, size=center.shape[-2:], mode="bilinear", align_corners=False)
        deep = self.fuse_with_feature(torch.cat([center, feat], 1))
        skips = [c1, c2, c3, c4]
        offset = self.offset_head(self._decode("offset", skips, deep))
        kpt = self.kpt_head(self._decode("kpt", skips, deep))
        return offset, kpt
