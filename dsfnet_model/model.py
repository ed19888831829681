"""The DSFNet network: backbone + heads, splat, three weighted-similarity rebuilds, PointNet, 3DMM, fusion U-Net.

``DSFNet().state_dict()`` has exactly the 972 keys/shapes of the official checkpoint (``hrnet.*``, ``unet.*``,
``pointnet.*``, ``rebuilder.mean_posmap_tensor``). The UV basis, face mask and keypoint texels are
non-persistent buffers set by :meth:`DSFNet.set_basis` (see :mod:`dsfnet_model.basis`).

Two modes:

* ``"official"``: the released forward — 2048 texels drawn with replacement per solver and for the PointNet,
  tiny random jitter, SVD. Draws come from a :class:`~dsfnet_model.geometry.Draws` (torch generator, or replayed
  from a recording). The splat is pinned to "last write in row-major order wins".
* ``"deterministic"``: every valid texel is used (solver sums weighted by the validity mask; PointNet max
  over all valid texels), no jitter, the polar-decomposition solver. Reproducible bit for bit, exportable to ONNX.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from . import geometry as G
from .basis import UVBasis
from .hrnet import HRNetDSF
from .pointnet import PointNet
from .unet import FusionUNet

UV = 256
N_SELECT = 2048
NOSE_KPT = 30
MODES = ("official", "deterministic")


class Rebuilder(nn.Module):
    """Holds the frozen canonical mean face ``mean_posmap_tensor (3, 256, 256)`` (a checkpoint entry)."""

    def __init__(self) -> None:
        super().__init__()
        self.mean_posmap_tensor = nn.Parameter(torch.zeros(3, UV, UV), requires_grad=False)


class DSFNet(nn.Module):
    """DSFNet (CVPR 2023) with official key names; see the module docstring for the two modes."""

    def __init__(self, basis: UVBasis | None = None, mode: str = "deterministic") -> None:
        super().__init__()
        self.hrnet = HRNetDSF()
        self.unet = FusionUNet()
        self.pointnet = PointNet()
        self.rebuilder = Rebuilder()
        self.mode = mode
        self.register_buffer("face_mask", torch.zeros(UV, UV, dtype=torch.bool), persistent=False)
        self.register_buffer("kpt_ind", torch.zeros(68, 2, dtype=torch.int64), persistent=False)
        self.register_buffer("shape_basis", torch.zeros(0, 3 * UV * UV), persistent=False)
        self.register_buffer("exp_basis", torch.zeros(0, 3 * UV * UV), persistent=False)
        self.register_buffer("shape_ev", torch.zeros(0), persistent=False)
        self.register_buffer("exp_ev", torch.zeros(0), persistent=False)
        self.nose = (96, 128)
        self.has_basis = False
        if basis is not None:
            self.set_basis(basis, set_mean=True)

    # ------------------------------------------------------------------------------------------------------
    def set_basis(self, basis: UVBasis, set_mean: bool = False) -> None:
        """Install the UV basis, face mask and keypoint texels; ``set_mean`` also copies the basis mean face into
        ``rebuilder.mean_posmap_tensor`` (for training from scratch; a checkpoint carries its own)."""
        basis.validate()
        self.face_mask = torch.from_numpy(np.ascontiguousarray(basis.face_mask, dtype=bool))
        self.kpt_ind = torch.from_numpy(np.asarray(basis.kpt_ind, np.int64))
        self.shape_basis = torch.from_numpy(np.ascontiguousarray(basis.shape_pc, np.float32).reshape(-1, 3 * UV * UV))
        self.exp_basis = torch.from_numpy(np.ascontiguousarray(basis.exp_pc, np.float32).reshape(-1, 3 * UV * UV))
        self.shape_ev = torch.from_numpy(np.asarray(basis.shape_ev, np.float32))
        self.exp_ev = torch.from_numpy(np.asarray(basis.exp_ev, np.float32))
        r, c = (int(v) for v in basis.kpt_ind[NOSE_KPT])
        self.nose = (r, c)
        if set_mean:
            with torch.no_grad():
                self.rebuilder.mean_posmap_tensor.copy_(torch.from_numpy(np.asarray(basis.mean_map, np.float32)))
        self.has_basis = True

    @property
    def mean_map(self) -> Tensor:
        return self.rebuilder.mean_posmap_tensor

    def offsets(self, shape_para: Tensor, exp_para: Tensor) -> Tensor:
        """3DMM offset map ``1.5e-5·((α⊙ev_s)·PC_s + (β⊙ev_e)·PC_e)`` → ``(B, 3, 256, 256)`` (leading components)."""
        ks, ke = self.shape_basis.shape[0], self.exp_basis.shape[0]
        v = (shape_para[:, :ks] * self.shape_ev) @ self.shape_basis + (exp_para[:, :ke] * self.exp_ev) @ self.exp_basis
        return (v * G.K_BFM).reshape(-1, 3, UV, UV)

    # ------------------------------------------------------------------------------------------------------
    def splat(self, grid: Tensor, seg: Tensor, conf: Tensor, depth: Tensor) -> dict[str, Tensor]:
        """Image-space maps → partial UV maps (docs/dsfnet.md §1.6, pinned last-write rule)."""
        seg_mask = G.visible_mask(seg)
        grid_int = G.grid_to_texel(grid, seg_mask)
        winner = G.last_writer(grid_int)
        src = G.gather_source_index(winner, grid.shape[-1])
        dkpt_img = G.image_points(depth, seg_mask)
        return {
            "seg_mask": seg_mask,
            "grid_int": grid_int,
            "winner": winner,
            "dkpt_img": dkpt_img,
            "dkpt_uv": G.gather_to_uv(dkpt_img, src),
            "conf_is_uv": G.gather_to_uv(conf, src),
            "mask_uv": G.gather_to_uv(seg_mask.to(conf.dtype), src)[:, 0],
        }

    def rebuild(
        self, src_map: Tensor, dst_map: Tensor, conf: Tensor, valid: Tensor, draws: G.Draws | None
    ) -> dict[str, Tensor]:
        """Weighted similarity of ``src_map`` onto ``dst_map`` over ``valid (B, 65536)`` texels, applied to the
        whole ``src_map``. Official mode samples 2048 valid texels per sample from ``draws``."""
        b = src_map.shape[0]
        src = src_map.flatten(2).transpose(1, 2)
        dst = dst_map.flatten(2).transpose(1, 2)
        w = conf.flatten(1)
        if self.mode == "official":
            if draws is None:
                draws = G.TorchDraws()
            sel = self._sample_valid(valid, draws)
            gather = sel.unsqueeze(-1).expand(b, N_SELECT, 3)
            noise = (draws.rand((b, 1, 1)), draws.rand((b, 1, 1)), draws.rand((b, 1, 1)), draws.rand((b, 3, 3)))
            noise = (noise[0] * 1e-8, noise[1] * 1e-8, noise[2] * 1e-8, (noise[3] - 0.5) * 2e-8)
            s, r, t = G.weighted_similarity(
                torch.gather(src, 1, gather),
                torch.gather(dst, 1, gather),
                torch.gather(w, 1, sel),
                torch.ones_like(sel, dtype=src.dtype),
                noise=noise,
                solver="svd",
            )
        else:
            valid = valid | ~valid.any(1, keepdim=True)  # no valid texel: fit over all texels
            s, r, t = G.weighted_similarity(src, dst, w, valid.to(src.dtype), noise=None, solver="polar")
        out_pos, out_shape = G.apply_similarity(src_map, s, r, t)
        return {"out_pos": out_pos, "out_shape": out_shape, "R_rot": r, "scale": s, "t": t}

    def _sample_valid(self, valid: Tensor, draws: G.Draws) -> Tensor:
        """Official mode: ``N_SELECT`` texel indices per sample drawn from its ``valid (B, 65536)`` texels, in batch
        order (one ``draws.randint`` per sample) → ``(B, N_SELECT)``."""
        idx = []
        for i in range(valid.shape[0]):
            cand = torch.nonzero(valid[i]).squeeze(1)
            if cand.numel() == 0:  # no valid texel (the official code would fail): use the face texels
                cand = torch.nonzero(self.face_mask.flatten()).squeeze(1)
            idx.append(cand[draws.randint(int(cand.numel()), N_SELECT)])
        return torch.stack(idx)

    def pointnet_stage(self, pn_input: Tensor, valid: Tensor, draws: G.Draws | None) -> dict[str, Tensor]:
        """``pn_input (B, 4, 256, 256)`` (xyz, conf) → PointNet outputs; points = ``valid (B, 65536)`` texels."""
        b = pn_input.shape[0]
        rows = torch.arange(UV, device=pn_input.device).repeat_interleave(UV)
        cols = torch.arange(UV, device=pn_input.device).repeat(UV)
        coords = torch.stack([rows, cols]).to(pn_input.dtype) / 128.0 - 1.0  # (2, 65536)
        feats = pn_input.flatten(2)
        if self.mode == "official":
            if draws is None:
                draws = G.TorchDraws()
            sel = self._sample_valid(valid, draws)
            pts = torch.cat(
                [torch.gather(feats, 2, sel.unsqueeze(1).expand(b, 4, N_SELECT)), coords[:, sel].permute(1, 0, 2)], 1
            )
            out = self.pointnet(pts)
        else:
            union = torch.nonzero(valid.any(0)).squeeze(1)  # texels valid in at least one sample
            use = union if union.numel() > 0 else torch.nonzero(self.face_mask.flatten()).squeeze(1)
            pts = torch.cat([feats[:, :, use], coords[:, use].unsqueeze(0).expand(b, 2, use.numel())], 1)
            out = self.pointnet(pts, valid[:, use])
        out["pts"] = pts
        return out

    # ------------------------------------------------------------------------------------------------------
    def decode(self, heads: dict[str, Tensor], draws: G.Draws | None = None) -> dict[str, Tensor]:
        """Everything after the backbone, from the head outputs (``grid``, ``seg``, ``image_space_conf``,
        ``depth``, ``model_space_feature``, ``shape_para``, ``exp_para``, ``Tm``). Returns every intermediate."""
        if not self.has_basis:
            from .basis import BUILD_HINT
            from .errors import BasisError

            raise BasisError(f"DSFNet has no UV basis installed (call set_basis / pass basis=); {BUILD_HINT}")
        if self.mode not in MODES:
            raise ValueError(f"unknown DSFNet mode {self.mode!r}; use one of {MODES}")
        out: dict[str, Tensor] = {}
        sp = self.splat(heads["grid"], heads["seg"], heads["image_space_conf"], heads["depth"])
        out.update(sp)
        mean = self.mean_map.unsqueeze(0)
        dkpt_uv, conf_uv = sp["dkpt_uv"], sp["conf_is_uv"]
        # 1) visible points → canonical pose (mask from src)
        r0 = self.rebuild(dkpt_uv, mean.expand_as(dkpt_uv), conf_uv, G.valid_texels(dkpt_uv, self.face_mask), draws)
        out.update({f"rebuild0.{k}": v for k, v in r0.items()})
        # 2) PointNet on the canonical visible points
        pn_input = torch.cat([r0["out_pos"], conf_uv], 1)
        pn_valid = (sp["mask_uv"] != 0).flatten(1) & self.face_mask.flatten().unsqueeze(0)
        pn = self.pointnet_stage(pn_input, pn_valid, draws)
        out["pointnet.input"] = pn_input
        out.update({f"pointnet.{k}": v for k, v in pn.items()})
        offset_is = self.offsets(pn["shape_para"], pn["exp_para"])
        # 3) complete 3DMM face fitted to the visible points (mask from dst)
        r_is = self.rebuild(offset_is + mean, dkpt_uv, conf_uv, G.valid_texels(dkpt_uv, self.face_mask), draws)
        out.update({f"rebuild_is.{k}": v for k, v in r_is.items()})
        # 4) model-space face
        offset_ms = self.offsets(heads["shape_para"], heads["exp_para"])
        face_ms = G.transform_by_tm(offset_ms + mean, heads["Tm"], self.nose)
        flip = torch.tensor([1.0, -1.0, 1.0], dtype=face_ms.dtype, device=face_ms.device).view(1, 3, 1)
        out["R_rot_ms"] = flip * heads["Tm"].reshape(-1, 3, 4)[:, :, :3]
        # 5) fusion
        unet_in = torch.cat([r_is["out_pos"], face_ms, offset_is, offset_ms], 1)
        offset_f, kpt_f = self.unet(unet_in, heads["model_space_feature"])
        # 6) final similarity (mask from dst)
        r_f = self.rebuild(offset_f + mean, kpt_f, conf_uv, G.valid_texels(kpt_f, self.face_mask), draws)
        out.update({f"rebuild_f.{k}": v for k, v in r_f.items()})
        out.update(
            {
                "offset_uvm_is": offset_is,
                "face_uvm_is": r_is["out_pos"],
                "offset_uvm_ms": offset_ms,
                "face_uvm_ms": face_ms,
                "unet.offset_uvm_f": offset_f,
                "unet.kpt_uvm_f": kpt_f,
                "face_uvm": r_f["out_pos"],
                "R_rot": r_f["R_rot"],
            }
        )
        out["kpt68"] = self.landmarks(out["face_uvm"])
        return out

    def landmarks(self, face_uvm: Tensor) -> Tensor:
        """``face_uvm (B, 3, 256, 256)`` → 68 landmarks ``(B, 68, 3)`` read at the keypoint texels (/280 units)."""
        return face_uvm[:, :, self.kpt_ind[:, 0], self.kpt_ind[:, 1]].transpose(1, 2)

    def forward(self, image: Tensor, draws: G.Draws | None = None) -> dict[str, Tensor]:
        """``image (B, 3, 256, 256)`` standardised crop → dict with ``face_uvm (B, 3, 256, 256)``, ``R_rot (B, 3, 3)``,
        ``kpt68 (B, 68, 3)`` and every intermediate (keys as in the reference vectors)."""
        heads = self.hrnet(image)
        out = {f"hrnet.{k}": v for k, v in heads.items() if k != "stage4"}
        out.update({f"hrnet.stage4_out{i}": x for i, x in enumerate(heads["stage4"])})
        out.update(self.decode(heads, draws))
        return out
