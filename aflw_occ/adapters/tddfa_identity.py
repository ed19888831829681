"""Which weights a 3DDFA_V2 model runs, and the model's name: the same for the ``.pth`` checkpoint and its ONNX
export (see :mod:`aflw_occ.adapters.tddfa` for the naming rule)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..hashing import sha256_file

#: ONNX metadata keys written by ``aflw-occ export 3ddfa-v2``: the checkpoint's file stem and sha256
META_NAME = "aflw_occ.weights_name"
META_SHA256 = "aflw_occ.weights_sha256"
DEFAULT_CROP = "3ddfa"
DEFAULT_POSE = "aflw2000-3d"


@dataclass(frozen=True)
class WeightsIdentity:
    """Which weights a 3DDFA_V2 model runs.

    Attributes:
        name: the original checkpoint's file stem (``mb05_120x120``).
        sha256: the checkpoint file's sha256, "" when unknown (an ONNX file without aflw-occ's metadata).
    """

    name: str
    sha256: str = ""

    def metadata(self) -> dict[str, str]:
        """The ONNX metadata that records this identity."""
        return {META_NAME: self.name, META_SHA256: self.sha256}


def checkpoint_identity(weights: str | Path) -> WeightsIdentity:
    """The identity of a ``.pth`` checkpoint: its stem and the sha256 of its bytes."""
    p = Path(weights)
    return WeightsIdentity(p.stem, sha256_file(p))


def onnx_identity(path: str | Path, metadata: dict[str, str]) -> WeightsIdentity:
    """The identity recorded in an exported model's metadata (``session.get_modelmeta().custom_metadata_map``),
    else the ONNX file's own stem with no sha256."""
    name = metadata.get(META_NAME, "").strip()
    if not name:
        return WeightsIdentity(Path(path).stem)
    return WeightsIdentity(name, metadata.get(META_SHA256, "").strip())


def model_name(weights: WeightsIdentity, crop: str = DEFAULT_CROP, pose: str = DEFAULT_POSE) -> str:
    """``3ddfa-v2-<weights>[-<crop>-box][-pose-<pose>]`` (see the module docstring)."""
    name = f"3ddfa-v2-{weights.name}"
    if crop != DEFAULT_CROP:
        name += f"-{crop}-box"
    if pose != DEFAULT_POSE:
        name += f"-pose-{pose}"
    return name
