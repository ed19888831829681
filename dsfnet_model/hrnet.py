"""Reduced HRNet-W18 backbone of DSFNet with its three image-space heads and the model-space head.

Parameter names follow the official checkpoint (``hrnet.*`` keys) so that a user's ``net.pth`` loads strictly.

Shapes for a ``(B, 3, 256, 256)`` standardised crop:

* stem → ``(B, 64, 64, 64)`` → layer1 → ``(B, 256, 64, 64)``;
* stage 4 branches ``(B, 18, 64, 64)``, ``(B, 36, 32, 32)``, ``(B, 72, 16, 16)``, ``(B, 144, 8, 8)``;
* head input = concat of the branches upsampled bilinearly to 64² → ``(B, 270, 64, 64)``;
* ``grid (B, 2, 256, 256)``, ``seg``/``conf``/``depth (B, 1, 256, 256)``, ``model_space_feature (B, 72, 8, 8)``,
  ``shape_para (B, 199)``, ``exp_para (B, 29)``, ``Tm (B, 12)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_MOMENTUM = 0.01
WIDTHS: tuple[int, ...] = (18, 36, 72, 144)
BLOCKS_PER_BRANCH = 4


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 conv + BN with a residual (1×1 conv + BN shortcut when the width changes)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _conv3(cin, cout)
        self.bn1 = _bn(cout)
        self.conv2 = _conv3(cout, cout)
        self.bn2 = _bn(cout)
        self.relu = nn.ReLU(inplace=False)
        self.downsample: nn.Module | None = None
        if cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4 expansion) residual block of HRNet's layer1."""

    def __init__(self, cin: int, planes: int) -> None:
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = _conv3(planes, planes)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = _bn(cout)
        self.relu = nn.ReLU(inplace=False)
        self.downsample: nn.Module | None = None
        if cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class HighResolutionModule(nn.Module):
    """One HRNet module: per-branch BasicBlocks, then every output branch sums all branches resampled to it."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        n = len(widths)
        self.branches = nn.ModuleList(
            nn.Sequential(*[BasicBlock(w, w) for _ in range(BLOCKS_PER_BRANCH)]) for w in widths
        )
        fuse: list[nn.ModuleList] = []
        for i in range(n):
            row: list[nn.Module] = []
            for j in range(n):
                if j > i:  # 1×1 conv + BN, upsampled in forward
                    row.append(nn.Sequential(nn.Conv2d(widths[j], widths[i], 1, bias=False), _bn(widths[i])))
                elif j == i:
                    row.append(nn.Identity())
                else:  # (i - j) stride-2 3×3 convs; all but the last keep width j and have a ReLU
                    steps: list[nn.Module] = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            steps.append(nn.Sequential(_conv3(widths[j], widths[i], 2), _bn(widths[i])))
                        else:
                            steps.append(
                                nn.Sequential(_conv3(widths[j], widths[j], 2), _bn(widths[j]), nn.ReLU(False))
                            )
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        out: list[Tensor] = []
        for i, row in enumerate(self.fuse_layers):
            size = xs[i].shape[-2:]
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                if j == i:
                    y = y + xs[j]
                elif j > i:
                    y = y + F.interpolate(row[j](xs[j]), size=size, mode="bilinear", align_corners=False)
                else:
                    y = y + row[j](xs[j])
            out.append(self.relu(y))
        return out


def _image_head(cout: int, width: int = 270) -> nn.Sequential:
    """up×2 (nearest) → conv3×3 + BN + ReLU → up×2 → conv3×3 to ``cout`` (indices match the checkpoint)."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(width, width, 3, padding=1),
        nn.BatchNorm2d(width, momentum=BN_MOMENTUM),
        nn.ReLU(inplace=False),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(width, cout, 3, padding=1),
    )


class HRNetDSF(nn.Module):
    """The DSFNet backbone: reduced HRNet-W18 + image-space heads + model-space regressor."""

    def __init__(self) -> None:
        super().__init__()
        w = WIDTHS
        self.conv1 = _conv3(3, 64, 2)
        self.bn1 = _bn(64)
        self.conv2 = _conv3(64, 64, 2)
        self.bn2 = _bn(64)
        self.relu = nn.ReLU(inplace=False)
        self.layer1 = nn.Sequential(*[Bottleneck(64 if k == 0 else 256, 64) for k in range(4)])
        self.transition1 = nn.ModuleList(
            [
                nn.Sequential(_conv3(256, w[0]), _bn(w[0]), nn.ReLU(False)),
                nn.Sequential(nn.Sequential(_conv3(256, w[1], 2), _bn(w[1]), nn.ReLU(False))),
            ]
        )
        self.stage2 = nn.ModuleList([HighResolutionModule(w[:2])])
        self.transition2 = nn.ModuleList(
            [nn.Identity(), nn.Identity(), nn.Sequential(nn.Sequential(_conv3(w[1], w[2], 2), _bn(w[2]), nn.ReLU()))]
        )
        self.stage3 = nn.ModuleList([HighResolutionModule(w[:3])])
        self.transition3 = nn.ModuleList(
            [
                nn.Identity(),
                nn.Identity(),
                nn.Identity(),
                nn.Sequential(nn.Sequential(_conv3(w[2], w[3], 2), _bn(w[3]), nn.ReLU())),
            ]
        )
        self.stage4 = nn.ModuleList([HighResolutionModule(w)])
        total = sum(w)
        self.grid_head = _image_head(2, total)
        self.seg_head = _image_head(2, total)
        self.depth_head = _image_head(1, total)
        self.model_space_decoder_head = BasicBlock(w[3], 72)
        self.para_collect = BasicBlock(72, 8)
        self.fc_shape = nn.Linear(512, 199)
        self.fc_exp = nn.Linear(512, 29)
        self.fc_Tm = nn.Linear(512, 12)
        self.fc_Tm_bn = nn.BatchNorm1d(12)

    def backbone(self, x: Tensor) -> list[Tensor]:
        """Stem → layer1 → stages 2–4; returns the four stage-4 branch outputs."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        xs = [self.transition1[0](x), self.transition1[1](x)]
        xs = self.stage2[0](xs)
        xs = [xs[0], xs[1], self.transition2[2](xs[1])]
        xs = self.stage3[0](xs)
        xs = [xs[0], xs[1], xs[2], self.transition3[3](xs[2])]
        return self.stage4[0](xs)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """``x (B, 3, 256, 256)`` → dict of image-space maps and model-space parameters (shapes in module doc)."""
        xs = self.backbone(x)
        size = xs[0].shape[-2:]
        feat = torch.cat(
            [xs[0]] + [F.interpolate(t, size=size, mode="bilinear", align_corners=False) for t in xs[1:]], 1
        )
        seg_conf = torch.sigmoid(self.seg_head(feat))
        msf = self.model_space_decoder_head(xs[3])
        para = self.para_collect(msf).flatten(1)
        return {
            "stage4": xs,  # type: ignore[dict-item]
            "grid": self.grid_head(feat),
            "seg": seg_conf[:, 0:1],
            "image_space_conf": seg_conf[:, 1:2],
            "depth": self.depth_head(feat),
            "model_space_feature": msf,
            "shape_para": self.fc_shape(para),
            "exp_para": self.fc_exp(para),
            "Tm": self.fc_Tm_bn(self.fc_Tm(para)),
        }
