"""The drawn ranges and probabilities of NatOcc compositing, the grids every drawn value is quantised to, and the
fixed draw order (:func:`draw`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..grid import grid_uniform
from .colour import COLOUR_BITS

#: quantisation grids, as fractional bits: every drawn or derived value is a multiple of 2^-bits (exact in binary
#: and in JSON) before it is used
GRID_BITS: dict[str, int] = {
    "area_fraction": 12,
    "centre_px": 4,
    "scale": 12,
    "angle_deg": 6,
    "colour": 12,
    "sigma_px": 6,
}


@dataclass(frozen=True)
class NatOccConfig:
    """The drawn ranges and probabilities (defaults: NatOcc's reference values, ``docs/nsod.md``)."""

    area: tuple[float, float] = (0.5, 1.0)
    jitter_p: float = 0.7
    jitter_scale: tuple[float, float] = (0.8, 1.2)
    jitter_rotation: float = 15.0
    jitter_shear: float = 8.0
    transfer_p: float = 1.0
    transfer_y: tuple[float, float] = (0.3, 0.7)
    transfer_c: tuple[float, float] = (0.0, 0.3)
    bc_p: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.1
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (70, 100)
    erode: int = 3
    gauss: int = 5
    edge_blur: int = 3


def draw(rng: np.random.Generator, cfg: NatOccConfig, box: tuple[int, int, int, int]) -> dict[str, Any]:
    """Every random value of one composite, in a fixed order, each on its grid (:data:`GRID_BITS`)."""
    x0, y0, x1, y1 = box
    g = GRID_BITS
    d: dict[str, Any] = {}
    d["area_fraction"] = grid_uniform(rng, *cfg.area, g["area_fraction"])
    d["centre"] = [grid_uniform(rng, x0, x1, g["centre_px"]), grid_uniform(rng, y0, y1, g["centre_px"])]
    d["jitter"] = {
        "applied": bool(rng.random() < cfg.jitter_p),
        "scale": grid_uniform(rng, *cfg.jitter_scale, g["scale"]),
        "rotation_deg": grid_uniform(rng, -cfg.jitter_rotation, cfg.jitter_rotation, g["angle_deg"]),
        "shear_deg": grid_uniform(rng, -cfg.jitter_shear, cfg.jitter_shear, g["angle_deg"]),
    }
    d["colour_transfer"] = {
        "applied": bool(rng.random() < cfg.transfer_p),
        "t_y": grid_uniform(rng, *cfg.transfer_y, g["colour"]),
        "t_c": grid_uniform(rng, *cfg.transfer_c, g["colour"]),
    }
    d["brightness_contrast"] = {
        "applied": bool(rng.random() < cfg.bc_p),
        "brightness": grid_uniform(rng, -cfg.brightness, cfg.brightness, g["colour"]),
        "contrast": grid_uniform(rng, -cfg.contrast, cfg.contrast, g["colour"]),
    }
    d["blur"] = {
        "applied": bool(rng.random() < cfg.blur_p),
        "sigma": grid_uniform(rng, *cfg.blur_sigma, g["sigma_px"]),
    }
    d["jpeg"] = {
        "applied": bool(rng.random() < cfg.jpeg_p),
        "quality": int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)),
    }
    return d


def config_dict(config: NatOccConfig | None = None) -> dict[str, Any]:
    """The configuration as a JSON-serialisable dict (recorded in the build's provenance), with the grids."""
    return {**asdict(config or NatOccConfig()), "grid_bits": dict(GRID_BITS), "colour_bits": COLOUR_BITS}
