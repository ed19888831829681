"""Pure tensor functions of DSFNet's glue stages: splat, UV gather, weighted similarity, model-space transform.

All functions are batched and differentiable where the maths is. Conventions (see ``docs/dsfnet.md``):
UV maps are ``(B, C, 256, 256)`` with texel index ``t = row·256 + col``; image-space positions are in crop
pixels / 280; canonical (model-space) positions are in BFM units × 1.5e-5.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

UV = 256
K_IMG = 280.0
K_BFM = 1.5e-5


class Draws(Protocol):
    """Source of the random numbers the official forward draws (``torch.randint`` / ``torch.rand``)."""

    def randint(self, high: int, n: int) -> Tensor: ...

    def rand(self, shape: tuple[int, ...]) -> Tensor: ...


class TorchDraws:
    """Draws from a torch generator (the official behaviour; ``generator=None`` = torch's default generator)."""

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.generator = generator

    def randint(self, high: int, n: int) -> Tensor:
        return torch.randint(high, (n,), generator=self.generator)

    def rand(self, shape: tuple[int, ...]) -> Tensor:
        return torch.rand(shape, generator=self.generator)


class ReplayDraws:
    """Replays recorded draws in call order (for stage-by-stage equivalence with the official forward)."""

    def __init__(self, randints: list[Tensor], rands: list[Tensor]) -> None:
        self._randints = list(randints)
        self._rands = list(rands)

    def randint(self, high: int, n: int) -> Tensor:
        out = self._randints.pop(0)
        if out.shape != (n,) or (out.numel() and int(out.max()) >= high):
            raise ValueError(f"replayed randint draw does not fit: shape {tuple(out.shape)}, high {high}")
        return out

    def rand(self, shape: tuple[int, ...]) -> Tensor:
        out = self._rands.pop(0)
        return out.reshape(shape)


# ----------------------------------------------------------------------------------------------------------
# image space → UV (splat and gather)
# ----------------------------------------------------------------------------------------------------------


def visible_mask(seg: Tensor, threshold: float = 0.5) -> Tensor:
    """``seg (B, 1, H, W)`` probabilities → bool mask ``seg > threshold``; an all-false sample becomes all-true."""
    mask = seg > threshold
    empty = ~mask.flatten(1).any(1)
    return mask | empty.view(-1, 1, 1, 1)


def grid_to_texel(grid: Tensor, mask: Tensor) -> Tensor:
    """UV grid in [-1, 1] → integer texel coordinates.

    ``t = clamp(trunc(((g·mask + 1) / 2)·256), 0, 255)`` in float32; ``grid (B, 2, H, W)`` (channel 0 = column,
    1 = row), ``mask (B, 1, H, W)`` bool → ``(B, 2, H, W)`` int64. Masked-out pixels land on texel (128, 128).
    """
    g = grid * mask.to(grid.dtype)
    # floor equals trunc here: the two differ only for negative values, which the clamp maps to 0 either way
    return torch.clamp(torch.floor((g + 1.0) / 2.0 * UV), 0, UV - 1).to(torch.int64)


def last_writer(grid_int: Tensor) -> Tensor:
    """For each UV texel, the row-major index ``p = i·W + j`` of the **last** image pixel written to it, or -1.

    This pins the official scatter (plain index assignment, "last write wins", undefined order on GPU and with
    several CPU threads) to the deterministic row-major rule: the winner is the maximum pixel index among the
    pixels mapped to the texel. ``grid_int (B, 2, H, W)`` → ``(B, 65536)`` int64.
    """
    b, _, h, w = grid_int.shape
    tex = (grid_int[:, 1] * UV + grid_int[:, 0]).reshape(b, h * w)
    pix = torch.arange(h * w, dtype=torch.float32, device=grid_int.device).expand(b, h * w)
    init = torch.full((b, UV * UV), -1.0, dtype=torch.float32, device=grid_int.device)
    return init.scatter_reduce(1, tex, pix, reduce="amax", include_self=True).to(torch.int64)


def inverse_grid(winner: Tensor, width: int = UV) -> Tensor:
    """The official ``grid_uv (B, 256, 256, 2)``: (x, y) of the writing pixel /128 - 1; unwritten texels → (-1, -1)."""
    p = winner.clamp(min=0)
    x = torch.where(winner >= 0, p % width, torch.zeros_like(p)).to(torch.float32)
    y = torch.where(winner >= 0, p // width, torch.zeros_like(p)).to(torch.float32)
    return (torch.stack([x, y], -1) / 128.0 - 1.0).reshape(-1, UV, UV, 2)


def gather_source_index(winner: Tensor, width: int = UV) -> Tensor:
    """Image pixel each texel reads in the official ``grid_sample(mode='nearest', align_corners=False)``.

    The sample position of pixel j is exactly ``j - 0.5``, which rounds half-to-even to ``2·floor(j/2)``;
    unwritten texels read pixel (0, 0). ``winner (B, 65536)`` → flat pixel index ``(B, 65536)`` int64.
    """
    p = winner.clamp(min=0)
    row = torch.div(p // width, 2, rounding_mode="floor") * 2
    col = torch.div(p % width, 2, rounding_mode="floor") * 2
    return row * width + col


def gather_to_uv(image_map: Tensor, src_index: Tensor) -> Tensor:
    """``image_map (B, C, H, W)`` sampled at ``src_index (B, 65536)`` → UV map ``(B, C, 256, 256)``."""
    b, c = image_map.shape[:2]
    flat = image_map.reshape(b, c, -1)
    idx = src_index.unsqueeze(1).expand(b, c, src_index.shape[1])
    return torch.gather(flat, 2, idx).reshape(b, c, UV, UV)


def image_points(depth: Tensor, mask: Tensor) -> Tensor:
    """``dkpt_img (B, 3, H, W) = [col/280, row/280, depth]·mask``."""
    b, _, h, w = depth.shape
    rows = torch.arange(h, dtype=depth.dtype, device=depth.device).view(1, 1, h, 1).expand(b, 1, h, w)
    cols = torch.arange(w, dtype=depth.dtype, device=depth.device).view(1, 1, 1, w).expand(b, 1, h, w)
    return torch.cat([cols / K_IMG, rows / K_IMG, depth], 1) * mask.to(depth.dtype)


# ----------------------------------------------------------------------------------------------------------
# weighted similarity (the official VisibilityRebuildModule)
# ----------------------------------------------------------------------------------------------------------


def polar_orthogonal(m: Tensor, iterations: int = 40) -> Tensor:
    """Orthogonal polar factor Q of ``m (B, 3, 3)`` (m = Q·P, P symmetric PSD), keeping det(Q) = sign det(m).

    Newton–Schulz iteration ``X ← ½·X·(3I - XᵀX)`` from ``X₀ = m/‖m‖_F`` (matrix products only, so it exports to
    ONNX with a few nodes per step). Every singular value in (0, 1] converges to 1 — small ones grow ×1.5 per step,
    then quadratically — so 40 steps reach float precision for condition numbers up to ~10⁴.
    For ``m = U S Vᵀ`` the result is ``U Vᵀ``.
    """
    x = m / m.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1)
    eye3 = 3.0 * torch.eye(3, dtype=m.dtype, device=m.device).unsqueeze(0)
    for _ in range(iterations):
        x = 0.5 * (x @ (eye3 - x.transpose(1, 2) @ x))
    return x


def weighted_similarity(
    src: Tensor,
    dst: Tensor,
    weight: Tensor,
    count: Tensor,
    noise: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
    solver: str = "svd",
) -> tuple[Tensor, Tensor, Tensor]:
    """DSFNet's confidence-weighted similarity fit ``dst ≈ s·R·src + t``.

    ``src, dst (B, N, 3)``, ``weight (B, N)`` (confidence), ``count (B, N)`` multiplicity of each point (1 for
    sampled points, the validity mask when fitting over all valid texels). With ``m = count``:

    * ``W = Σ m·w + ε₀``, ``c_src = Σ m·w·src / W``, ``c_dst = Σ m·w·dst / W``;
    * ``s = (Σ m‖dst - c_dst‖ + ε₂) / (Σ m‖src - c_src‖ + ε₁)``, ``A = s·src``;
    * ``H = Σ m·w·(A - Ā)(dst - D̄)ᵀ + E`` with unweighted means ``Ā``, ``D̄``;
    * ``R = V Uᵀ`` for ``H = U S Vᵀ`` (no reflection fix: the map goes from y-up to y-down space);
    * ``t = mean(dst - A Rᵀ)``.

    ``noise`` = (ε₀, ε₁, ε₂ as ``(B, 1, 1)``, E as ``(B, 3, 3)``) — the official jitter; ``None`` uses
    ε = 1e-8 and E = 0. ``solver`` "svd" (torch.linalg.svd) or "polar" (ONNX-friendly Newton iteration).
    Returns ``s (B,)``, ``R (B, 3, 3)``, ``t (B, 3)``.
    """
    if noise is None:
        e0 = e1 = e2 = torch.full((src.shape[0], 1, 1), 1e-8, dtype=src.dtype, device=src.device)
        e_h = torch.zeros((src.shape[0], 3, 3), dtype=src.dtype, device=src.device)
    else:
        e0, e1, e2, e_h = noise
    m = count.unsqueeze(-1)
    mw = (count * weight).unsqueeze(-1)
    wsum = mw.sum(1, keepdim=True) + e0.reshape(-1, 1, 1)
    c_src = (mw * src).sum(1, keepdim=True) / wsum
    c_dst = (mw * dst).sum(1, keepdim=True) / wsum
    d1 = (m * (src - c_src).norm(dim=-1, keepdim=True)).sum(1, keepdim=True) + e1.reshape(-1, 1, 1)
    d2 = (m * (dst - c_dst).norm(dim=-1, keepdim=True)).sum(1, keepdim=True) + e2.reshape(-1, 1, 1)
    scale = d2 / d1
    a = src * scale
    n = m.sum(1, keepdim=True).clamp_min(1.0)
    a_c = a - (m * a).sum(1, keepdim=True) / n
    d_c = dst - (m * dst).sum(1, keepdim=True) / n
    h = (a_c * mw).transpose(1, 2) @ d_c + e_h.reshape(-1, 3, 3)
    if solver == "svd":
        u, _, vh = torch.linalg.svd(h)
        r = vh.transpose(1, 2) @ u.transpose(1, 2)
    elif solver == "polar":
        r = polar_orthogonal(h.transpose(1, 2))
    else:
        raise ValueError(f"unknown solver {solver!r} (use 'svd' or 'polar')")
    t = (m * (dst - a @ r.transpose(1, 2))).sum(1) / n.squeeze(-1)
    return scale.reshape(-1), r, t


def apply_similarity(uv_map: Tensor, scale: Tensor, rot: Tensor, trans: Tensor) -> tuple[Tensor, Tensor]:
    """Apply ``p ↦ s·R·p + t`` to every texel of ``uv_map (B, 3, H, W)``; returns (with t, without t)."""
    b, _, h, w = uv_map.shape
    sr = rot * scale.view(-1, 1, 1)
    shaped = (sr @ uv_map.reshape(b, 3, h * w)).reshape(b, 3, h, w)
    return shaped + trans.view(b, 3, 1, 1), shaped


def valid_texels(uv_map: Tensor, face_mask: Tensor) -> Tensor:
    """``(Σ_c uv_map ≠ 0) ∧ face_mask`` → ``(B, 65536)`` bool (the official point mask)."""
    return (uv_map.sum(1) != 0).flatten(1) & face_mask.flatten().unsqueeze(0)


# ----------------------------------------------------------------------------------------------------------
# model space
# ----------------------------------------------------------------------------------------------------------


def transform_by_tm(canonical: Tensor, tm: Tensor, nose: tuple[int, int]) -> Tensor:
    """Model-space face: ``X = canonical / 1.5e-5``; ``F = ([X, 1]·Tmᵀ) / 280``; z made relative to the nose texel.

    ``canonical (B, 3, 256, 256)`` (mean + offset), ``tm (B, 12)`` (row-major 3×4) → ``(B, 3, 256, 256)``.
    """
    b, _, h, w = canonical.shape
    t = tm.reshape(b, 3, 4)
    x = canonical.reshape(b, 3, h * w) / K_BFM
    face = ((t[:, :, :3] @ x) + t[:, :, 3:]) / K_IMG
    face = face.reshape(b, 3, h, w)
    z = face[:, 2:3] - face[:, 2:3, nose[0] : nose[0] + 1, nose[1] : nose[1] + 1]
    return torch.cat([face[:, :2], z], 1)


def pose_from_rotation(rot: Tensor) -> Tensor:
    """Head pose (pitch, yaw, roll) in degrees from the final similarity rotation ``rot (B, 3, 3)``.

    ``M = (diag(1, -1, 1)·R)ᵀ``; pitch = atan2(M21, M22), yaw = atan2(-M20, √(M00² + M10²)),
    roll = atan2(M10, M00) (docs/dsfnet.md §3.4). Returns ``(B, 3)``.
    """
    flip = torch.tensor([1.0, -1.0, 1.0], dtype=rot.dtype, device=rot.device).view(1, 3, 1)
    m = (flip * rot).transpose(1, 2)
    pitch = torch.atan2(m[:, 2, 1], m[:, 2, 2])
    yaw = torch.atan2(-m[:, 2, 0], torch.sqrt(m[:, 0, 0] ** 2 + m[:, 1, 0] ** 2))
    roll = torch.atan2(m[:, 1, 0], m[:, 0, 0])
    return torch.rad2deg(torch.stack([pitch, yaw, roll], 1))
