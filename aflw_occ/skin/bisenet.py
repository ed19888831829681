"""BiSeNet face parser (19 CelebAMask-HQ classes) in torch, key-compatible with face-parsing.PyTorch.

Architecture (the one ``79999_iter.pth`` was trained with; no spatial path is built):

* **context path** ``cp``: a ResNet18 backbone (``cp.resnet``, no fc) gives features at strides 8/16/32
  (128/256/512 channels). The global average of the stride-32 feature goes through a 1×1 ConvBNReLU
  (``cp.conv_avg``) and is added to the attention-refined stride-32 feature (``cp.arm32``); the sum is
  upsampled ×2 (nearest) and refined by ``cp.conv_head32`` → ``feat_cp16`` (stride 16). That is added to the
  refined stride-16 feature (``cp.arm16``), upsampled ×2 (nearest) and refined by ``cp.conv_head16`` →
  ``feat_cp8`` (stride 8). An attention-refinement module (ARM) is
  ``f = ConvBNReLU3x3(x); f · sigmoid(BN(conv1x1(mean_hw(f))))``.
* **feature fusion** ``ffm``: ``f = ConvBNReLU1x1(cat(resnet stride-8 feature, feat_cp8))``;
  ``f + f · sigmoid(conv1x1(relu(conv1x1(mean_hw(f)))))`` (256 → 64 → 256 channels, no biases).
* **three heads** (ConvBNReLU3x3 then a bias-free 1×1 conv to 19 classes): ``conv_out`` on the fused feature
  (stride 8), ``conv_out16`` on ``feat_cp8`` (stride 8), ``conv_out32`` on ``feat_cp16`` (stride 16). Each is
  upsampled bilinearly (``align_corners=True``) to the input size. The parsing is the argmax of the first.

All convolutions are bias-free; BatchNorm uses eps 1e-5. The numpy pre/post-processing is shared with the
onnxruntime segmenter (:mod:`aflw_occ.skin.bisenet_onnx`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bisenet_onnx import (
    FACE_CLASSES,
    INPUT_SIZE,
    N_CLASSES,
    BiSeNetError,
    Crop,
    Resize,
    argmax_labels,
    class_mask,
    labels_to_image,
    prepare,
)

__all__ = [
    "BiSeNet",
    "BiSeNetCheckpointError",
    "BiSeNetSegmenter",
    "check_state_dict",
    "load_bisenet",
    "read_state_dict",
]


class BiSeNetCheckpointError(BiSeNetError):
    """A checkpoint is unreadable or belongs to another architecture (keys or shapes differ)."""


# ------------------------------------------------------------------------------------------ building blocks
class ConvBNReLU(nn.Module):
    """``relu(BN(conv_k×k(x)))`` with a bias-free convolution, 'same' padding for odd k."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: ``relu(BN(conv3(relu(BN(conv3_s(x))))) + shortcut(x))``; shortcut = 1×1 conv + BN
    when the stride or the width changes, identity otherwise."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class Resnet18(nn.Module):
    """ResNet18 trunk without the classifier: (B,3,H,W) → features at strides 8, 16, 32 (128/256/512 ch)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._stage(64, 64, 1)
        self.layer2 = self._stage(64, 128, 2)
        self.layer3 = self._stage(128, 256, 2)
        self.layer4 = self._stage(256, 512, 2)

    @staticmethod
    def _stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        x = self.layer1(x)
        feat8 = self.layer2(x)
        feat16 = self.layer3(feat8)
        feat32 = self.layer4(feat16)
        return feat8, feat16, feat32


class AttentionRefinement(nn.Module):
    """``f = ConvBNReLU3x3(x)``; ``f · sigmoid(BN(conv1x1(mean_hw(f))))`` (channel attention)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(c_in, c_out, 3)
        self.conv_atten = nn.Conv2d(c_out, c_out, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv(x)
        atten = torch.sigmoid(self.bn_atten(self.conv_atten(feat.mean(dim=(2, 3), keepdim=True))))
        return feat * atten


class ContextPath(nn.Module):
    """Backbone + ARMs + global context: x → (resnet stride-8 feature, feat_cp8 (/8), feat_cp16 (/16))."""

    def __init__(self) -> None:
        super().__init__()
        self.resnet = Resnet18()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, 3)
        self.conv_head16 = ConvBNReLU(128, 128, 3)
        self.conv_avg = ConvBNReLU(512, 128, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        feat8, feat16, feat32 = self.resnet(x)
        # (B,128,1,1); broadcasting equals the nearest upsampling of a 1×1 map
        context = self.conv_avg(feat32.mean(dim=(2, 3), keepdim=True))
        sum32 = self.arm32(feat32) + context
        feat_cp16 = self.conv_head32(F.interpolate(sum32, size=feat16.shape[2:], mode="nearest"))
        sum16 = self.arm16(feat16) + feat_cp16
        feat_cp8 = self.conv_head16(F.interpolate(sum16, size=feat8.shape[2:], mode="nearest"))
        return feat8, feat_cp8, feat_cp16


class FeatureFusion(nn.Module):
    """``f = ConvBNReLU1x1(cat(a, b))``; ``f + f · sigmoid(conv2(relu(conv1(mean_hw(f)))))``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(c_in, c_out, 1)
        self.conv1 = nn.Conv2d(c_out, c_out // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out // 4, c_out, 1, bias=False)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        feat = self.convblk(torch.cat([a, b], dim=1))
        atten = torch.sigmoid(self.conv2(F.relu(self.conv1(feat.mean(dim=(2, 3), keepdim=True)))))
        return feat + feat * atten


class OutputHead(nn.Module):
    """``conv1x1(ConvBNReLU3x3(x))`` → class logits at the feature's resolution."""

    def __init__(self, c_in: int, c_mid: int, n_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(c_in, c_mid, 3)
        self.conv_out = nn.Conv2d(c_mid, n_classes, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """BiSeNet face parser: ``forward(x (B,3,H,W))`` → ``(out, out16, out32)``, each (B, n_classes, H, W).

    ``out`` is the main head (the parsing is its argmax), ``out16``/``out32`` the auxiliary heads of the
    stride-8 and stride-16 context features (names kept from the original; they do not match the strides).
    """

    def __init__(self, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    @staticmethod
    def _upsample(logits: Tensor, size: tuple[int, int]) -> Tensor:
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=True)

    def forward_native(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Head logits before upsampling: main (/8), aux of feat_cp8 (/8), aux of feat_cp16 (/16)."""
        feat8, feat_cp8, feat_cp16 = self.cp(x)
        main = self.conv_out(self.ffm(feat8, feat_cp8))
        return main, self.conv_out16(feat_cp8), self.conv_out32(feat_cp16)

    def forward_main(self, x: Tensor) -> Tensor:
        """Only the main head, upsampled to the input size: (B,3,H,W) → (B, n_classes, H, W)."""
        feat8, feat_cp8, _ = self.cp(x)
        return self._upsample(self.conv_out(self.ffm(feat8, feat_cp8)), x.shape[2:])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        size = x.shape[2:]
        return tuple(self._upsample(t, size) for t in self.forward_native(x))  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ checkpoints
def _shape(value: object) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(int(s) for s in shape)


def check_state_dict(
    state: Mapping[str, object], expected: Mapping[str, tuple[int, ...]], source: str, limit: int = 5
) -> None:
    """Raise :class:`BiSeNetCheckpointError` unless ``state`` has exactly the expected keys and shapes.

    ``*.num_batches_tracked`` may be absent (BatchNorm fills it in; older checkpoints omit it). The message is
    one line listing the first ``limit`` missing keys, unexpected keys and shape mismatches.
    """
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {_shape(state[k])} != {tuple(s)}"
        for k, s in expected.items()
        if k in state and _shape(state[k]) != tuple(s)
    ]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{label} {len(items)}: {', '.join(items[:limit])}{more}")
    raise BiSeNetCheckpointError(f"{source}: not a BiSeNet(n_classes=19) checkpoint: " + "; ".join(parts))


def _strip_module_prefix(state: dict[str, object]) -> dict[str, object]:
    """``module.x`` → ``x`` when every key carries the DataParallel prefix."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint (``.pth``/``.pt`` via ``torch.load(weights_only=True)``, or ``.npz`` of arrays).

    A dict nested under ``"state_dict"`` or ``"model"`` is unwrapped and a ``module.`` prefix is stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise BiSeNetCheckpointError(f"{path}: BiSeNet checkpoint not found")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                raw: object = {k: torch.from_numpy(np.array(z[k])) for k in z.files}
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/numpy raise many types for corrupt or foreign files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BiSeNetCheckpointError(f"{path}: cannot read BiSeNet checkpoint ({msg[:200]})") from exc
    if isinstance(raw, Mapping):
        for wrapper in ("state_dict", "model"):
            if wrapper in raw and isinstance(raw[wrapper], Mapping):
                raw = raw[wrapper]
                break
    if not isinstance(raw, Mapping) or not all(isinstance(v, Tensor) for v in raw.values()):
        raise BiSeNetCheckpointError(f"{path}: checkpoint is not a state dict of tensors")
    return _strip_module_prefix(dict(raw))  # type: ignore[arg-type]


def load_bisenet(path: str | Path, device: str | torch.device = "cpu") -> BiSeNet:
    """Build ``BiSeNet(19)``, load a checkpoint strictly, return it in eval mode on ``device``.

    Raises :class:`BiSeNetCheckpointError` naming the file and the first differing keys when the checkpoint is
    of another architecture.
    """
    model = BiSeNet(N_CLASSES)
    state = read_state_dict(path)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_state_dict(state, expected, str(path))
    # strictness is enforced above; strict=False only lets num_batches_tracked be absent
    model.load_state_dict(state, strict=False)
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------ segmenter
class BiSeNetSegmenter:
    """Face/skin segmenter with the torch model: ``segmenter(image, landmarks)`` → (H, W) bool facial mask.

    Args:
        weights_path: a face-parsing.PyTorch checkpoint (e.g. ``79999_iter.pth``) or an ``.npz`` state dict.
        device: torch device.
        crop, resize, classes: as in :class:`aflw_occ.skin.bisenet_onnx.BiSeNetOnnxSegmenter`.
        size: network input side (the official 512).
    """

    name = "bisenet"

    def __init__(
        self,
        weights_path: str | Path,
        device: str = "cpu",
        crop: Crop = "landmarks",
        resize: Resize = "cv2",
        classes: tuple[int, ...] = FACE_CLASSES,
        size: int = INPUT_SIZE,
    ) -> None:
        self.device = torch.device(device)
        self.model = load_bisenet(weights_path, self.device)
        self.crop: Crop = crop
        self.resize: Resize = resize
        self.classes = tuple(classes)
        self.size = int(size)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(1, 3, S, S) float32 normalised input → (1, 19, S, S) float32 main-head logits."""
        with torch.inference_mode():
            inp = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)
            out = self.model.forward_main(inp)
        return out.cpu().numpy()

    def parse(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB (+ landmarks) → (H, W) uint8 class map (0 outside the face window)."""
        x, box = prepare(image, landmarks, self.size, self.crop, self.resize)
        return labels_to_image(argmax_labels(self.logits(x)), box, image.shape[:2])

    def __call__(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB, (68, 2|3) landmarks → (H, W) bool mask of the facial classes."""
        return class_mask(self.parse(image, landmarks), self.classes)
