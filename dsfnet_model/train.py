"""DSFNet training entry point following the SADRNet recipe the authors point to (docs/dsfnet.md §2.2).

Data: a 300W-LP-format folder (``<name>.jpg`` + ``<name>.mat`` with ``pt3d_68`` or ``pt2d``, ``Shape_Para``,
``Exp_Para``, ``Pose_Para``), searched recursively. Augmentation per sample: 1.5× landmark crop, shift ±10%,
scale ±3%, in-plane rotation U[-90°, 90°) with p = 0.25, an occlusion hook ``augment(image, landmarks, rng) ->
image`` (default: random rectangles with p = 0.25; pixels it changes are removed from the segmentation target),
per-channel colour scale 0.6–1.4 with p = 0.5, then the official standardisation. Optimiser: Adam (lr 1e-5),
linear warm-up to 8× over 3 epochs, then ×0.85 per epoch. Losses (deterministic mode, differentiable end to
end except the splat indices): face-mask RSE on the final / image-space / model-space maps (weight 1) and the
offset maps (0.5), MSE on the 3DMM coefficients (0.1) and Tm (0.1 on R·s, 1e-4 on t), BCE on seg (0.05), L1 on
grid and depth over visible pixels, and MSE of the confidence to the detached ``exp(-error)``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io as sio
import torch
import torch.nn.functional as F
from torch import Tensor

from .basis import UVBasis, load_basis
from .errors import InputError
from .model import DSFNet
from .preprocess import standardise
from .targets import CropSpec, Targets, landmark_crop, make_targets

Augment = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class TrainConfig:
    epochs: int = 35
    batch_size: int = 16
    lr: float = 1e-5
    warmup_epochs: int = 3
    warmup_factor: float = 8.0
    decay: float = 0.85
    max_samples: int | None = None
    seed: int = 0
    occlusion_p: float = 0.25
    colour_p: float = 0.5


def random_patches(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Default occluder: 1–3 rectangles covering 2–30% of the image each (aspect 0.3–3.3), filled with a random
    grey, a random colour or a random tint."""
    out = image.copy()
    h, w = out.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        area = rng.uniform(0.02, 0.3) * h * w
        aspect = rng.uniform(0.3, 3.3)
        ph, pw = int(min(h, math.sqrt(area * aspect))), int(min(w, math.sqrt(area / aspect)))
        y, x = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        kind = rng.integers(0, 3)
        if kind == 0:
            out[y : y + ph, x : x + pw] = rng.integers(0, 256)
        elif kind == 1:
            out[y : y + ph, x : x + pw] = rng.integers(0, 256, size=3)
        else:
            out[y : y + ph, x : x + pw] = np.clip(out[y : y + ph, x : x + pw] * rng.uniform(0.2, 1.8, 3), 0, 255)
    return out


def list_samples(root: str | Path, max_samples: int | None = None) -> list[Path]:
    """Sorted image paths with an annotation ``.mat`` next to them."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"training folder not found: {root}")
    images = sorted(p for p in root.rglob("*.jpg") if p.with_suffix(".mat").is_file())
    if not images:
        raise InputError(f"{root}: no <name>.jpg + <name>.mat pairs (300W-LP format) found")
    return images[:max_samples] if max_samples else images


def read_annotation(path: Path) -> dict[str, np.ndarray]:
    try:
        mat = sio.loadmat(path)
    except Exception as exc:  # scipy raises several types on corrupt files
        raise InputError(f"{path}: unreadable annotation ({exc})") from exc
    for key in ("Shape_Para", "Exp_Para", "Pose_Para"):
        if key not in mat:
            raise InputError(f"{path}: missing field {key}")
    if "pt3d_68" not in mat and "pt2d" not in mat:
        raise InputError(f"{path}: missing landmarks (pt3d_68 or pt2d)")
    return mat


def make_sample(
    image_path: Path, basis: UVBasis, rng: np.random.Generator | None, augment: Augment | None,
    cfg: TrainConfig,
) -> tuple[np.ndarray, Targets]:
    """One (augmented) training sample: uint8 crop ``(256, 256, 3)`` and its targets."""
    mat = read_annotation(image_path.with_suffix(".mat"))
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{image_path}: unreadable image")
    image = np.ascontiguousarray(image[:, :, ::-1])
    lm = np.asarray(mat["pt3d_68"] if "pt3d_68" in mat else mat["pt2d"], np.float64)[:2].T
    crop: CropSpec = landmark_crop(lm, rng)
    targets = make_targets(basis, mat, image.shape[0], crop)
    crop_img = cv2.warpAffine(image, crop.matrix(), (256, 256), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if rng is not None:
        if augment is not None and rng.random() < cfg.occlusion_p:
            m = crop.matrix()
            lm_crop = lm @ m[:, :2].T + m[:, 2]
            occluded = augment(crop_img, lm_crop, rng)
            changed = np.any(occluded != crop_img, axis=2)
            targets.seg[0][changed] = 0.0
            crop_img = occluded
        if rng.random() < cfg.colour_p:
            crop_img = np.clip(crop_img * rng.uniform(0.6, 1.4, 3), 0, 255).astype(np.uint8)
    return crop_img, targets


def collate(samples: list[tuple[np.ndarray, Targets]]) -> dict[str, Tensor]:
    crops = np.stack([s[0] for s in samples])
    out = {"image": torch.from_numpy(standardise(crops))}
    for name in Targets.__dataclass_fields__:
        out[name] = torch.from_numpy(np.stack([getattr(s[1], name) for s in samples]))
    return out


def dsfnet_loss(model: DSFNet, out: dict[str, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    """Weighted sum of the losses listed in the module docstring; returns (total, parts)."""
    face = model.face_mask.to(out["face_uvm"].dtype)
    n_face = face.sum()

    def rse(pred: Tensor, gt: Tensor) -> Tensor:
        return ((pred - gt).norm(dim=1) * face).sum((1, 2)).mean() / n_face

    vis = batch["seg"]
    n_vis = vis.sum().clamp_min(1.0)
    err = (out["face_uvm"] - batch["pos"]).norm(dim=1, keepdim=True).detach()
    tm, tm_gt = out["hrnet.Tm"].view(-1, 3, 4), batch["tm"].view(-1, 3, 4)
    r, c = model.nose  # the model-space map has z relative to the nose-tip texel
    nose_z = batch["pos"][:, :, r : r + 1, c : c + 1] * torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
    parts = {
        "face": rse(out["face_uvm"], batch["pos"]),
        "face_is": rse(out["face_uvm_is"], batch["pos"]),
        "face_ms": rse(out["face_uvm_ms"], batch["pos"] - nose_z),
        "offset_f": 0.5 * rse(out["unet.offset_uvm_f"], batch["offset"]),
        "offset_is": 0.5 * rse(out["offset_uvm_is"], batch["offset"]),
        "para": 0.1 * (F.mse_loss(out["hrnet.shape_para"], batch["shape"]) + F.mse_loss(out["hrnet.exp_para"],
                       batch["exp"]) + F.mse_loss(out["pointnet.shape_para"], batch["shape"])
                       + F.mse_loss(out["pointnet.exp_para"], batch["exp"])),
        "tm": 0.1 * F.mse_loss(tm[:, :, :3] * 1e3, tm_gt[:, :, :3] * 1e3)
        + 1e-4 * F.mse_loss(tm[:, :, 3], tm_gt[:, :, 3]),
        "seg": 0.05 * F.binary_cross_entropy(out["hrnet.seg"].clamp(1e-6, 1 - 1e-6), vis),
        "grid": ((out["hrnet.grid"] - batch["grid"]).abs() * vis).sum() / n_vis,
        "depth": ((out["hrnet.depth"] - batch["depth"]).abs() * vis).sum() / n_vis,
        "conf": F.mse_loss(out["conf_is_uv"], torch.exp(-err * 280.0 / 10.0)),
    }
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}  # type: ignore[return-value]


def init_for_training(model: DSFNet, tm_prior: Tensor | None = None) -> DSFNet:
    """Start the pose head at a realistic scale: ``fc_Tm_bn`` weight 1e-4 and bias = ``tm_prior (12,)`` (default:
    a frontal face filling a 256 crop, ``s = 1.3e-3`` crop pixels per BFM unit, y flipped, centred)."""
    if tm_prior is None:
        s = 1.3e-3
        tm_prior = torch.tensor([s, 0.0, 0.0, 128.0, 0.0, -s, 0.0, 128.0, 0.0, 0.0, s, 100.0])
    with torch.no_grad():
        model.hrnet.fc_Tm_bn.weight.fill_(1e-4)
        model.hrnet.fc_Tm_bn.bias.copy_(tm_prior)
    return model


def lr_factor(epoch_float: float, cfg: TrainConfig) -> float:
    """Warm-up linearly from 1 to ``warmup_factor`` over ``warmup_epochs``, then × ``decay`` per epoch."""
    if epoch_float < cfg.warmup_epochs:
        return 1.0 + (cfg.warmup_factor - 1.0) * epoch_float / cfg.warmup_epochs
    return cfg.warmup_factor * cfg.decay ** int(epoch_float - cfg.warmup_epochs)


def train_steps(
    model: DSFNet, batches: list[dict[str, Tensor]], optimiser: torch.optim.Optimizer
) -> list[float]:
    """One optimisation step per batch (deterministic mode, train-mode BN); returns the losses."""
    model.train()
    model.mode = "deterministic"
    losses = []
    for batch in batches:
        optimiser.zero_grad()
        out = model(batch["image"])
        loss, _ = dsfnet_loss(model, out, batch)
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    return losses


def save_state_dict(model: DSFNet, path: Path) -> Path:
    """Write the official-format state dict atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".pth.tmp")
    os.close(fd)
    try:
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def train(
    data: str | Path, basis: str | Path | UVBasis, out_dir: str | Path, cfg: TrainConfig | None = None,
    init: str | Path | None = None, augment: Augment | None = random_patches,
    log: Callable[[str], None] = print,
) -> Path:
    """Train on a 300W-LP folder; writes ``net_epochNN.pth`` each epoch and ``net.pth`` at the end."""
    cfg = cfg or TrainConfig()
    if cfg.batch_size < 2:
        raise InputError("batch size must be at least 2 (BatchNorm on the 12 pose values needs a batch)")
    basis = basis if isinstance(basis, UVBasis) else load_basis(basis)
    torch.manual_seed(cfg.seed)
    model = init_for_training(DSFNet(basis, mode="deterministic"))
    if init is not None:
        from .checkpoint import check_state_dict, read_state_dict

        sd = read_state_dict(init)
        check_state_dict(model, sd, str(init))
        model.load_state_dict(sd)
    images = list_samples(data, cfg.max_samples)
    optimiser = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = max(1, len(images) // cfg.batch_size)
    out_dir = Path(out_dir)
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(images))
        for step in range(steps_per_epoch):
            for group in optimiser.param_groups:
                group["lr"] = cfg.lr * lr_factor(epoch + step / steps_per_epoch, cfg)
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            if len(idx) < 2:
                continue
            batch = collate([make_sample(images[i], basis, rng, augment, cfg) for i in idx])
            (loss,) = train_steps(model, [batch], optimiser)
            log(f"epoch {epoch + 1} step {step + 1}/{steps_per_epoch} loss {loss:.4f}")
        save_state_dict(model, out_dir / f"net_epoch{epoch + 1:02d}.pth")
    return save_state_dict(model, out_dir / "net.pth")
