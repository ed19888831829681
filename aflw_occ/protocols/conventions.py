"""The field's scoring conventions as typed options: :data:`CONVENTIONS` (flag, header key, choices and their
meaning, the first choice the default) and :class:`Conventions`, the validated set a score is computed under."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from ..errors import AflwOccError

GtSource = Literal["original", "reannotated"]
YawSource = Literal["pose-para", "aflw-labels"]
Binning = Literal["3ddfa", "sadrnet"]
PoseMae = Literal["wrapped", "raw"]
PoseDecoding = Literal["as-given", "aflw2000-3d", "synergynet"]
PointSet = Literal["68", "inner-51"]


class ScoringError(AflwOccError):
    """The scoring request cannot be served (unknown protocol, ground truth lacking what it needs)."""


# Conventions ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConventionSpec:
    """One named convention: the :class:`Conventions` field, its CLI flag, header key, values and their meaning."""

    field: str
    flag: str
    key: str
    choices: tuple[str, ...]
    meanings: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.choices[0]

    def help(self) -> str:
        return "; ".join(f"{c}: {m}" for c, m in zip(self.choices, self.meanings, strict=True))


#: Every convention the scorer offers, in the order headers print them (the first choice is the default).
CONVENTIONS: tuple[ConventionSpec, ...] = (
    ConventionSpec(
        "gt",
        "--gt",
        "gt",
        ("original", "reannotated"),
        ("pt3d_68 of the release", "the LS3D-W 2D re-annotation (its own box; sparse-2d only)"),
    ),
    ConventionSpec(
        "yaw_source",
        "--yaw-source",
        "yaw",
        ("pose-para", "aflw-labels"),
        (
            "|degrees(Pose_Para[1])| = 3DDFA's AFLW2000-3D.pose.npy, bins 1312/383/305",
            "AFLW's own yaw labels, 3DDFA's AFLW2000-3D-new.pose.npy ('same as paper' in its code), 1306/462/232",
        ),
    ),
    ConventionSpec(
        "bins",
        "--bins",
        "bins",
        ("3ddfa", "sadrnet"),
        (
            "[0,30], (30,60], >60",
            "SADRNet's evaluate_aflw: <=30/<=60/<=90, |yaw|>90 keeps the previous image's bin (non-standard)",
        ),
    ),
    ConventionSpec(
        "points",
        "--points",
        "points",
        ("68", "inner-51"),
        (
            "all 68 points",
            "the 51 inner points 17-67 (0-based; no jaw line), normaliser still the 68-point box",
        ),
    ),
    ConventionSpec(
        "pose_mae",
        "--pose-mae",
        "mae",
        ("wrapped", "raw"),
        ("|wrap(â − a)|, the shortest angle (correct)", "|â − a| unwrapped (SynergyNet, DSFNet, FSA-Net code)"),
    ),
    ConventionSpec(
        "pose_decoding",
        "--pose-decoding",
        "decoding",
        ("as-given", "aflw2000-3d", "synergynet"),
        (
            "the file's angles_deg as they are",
            "decode the file's rotation with the release's R = Rx·Ry·Rz (yaw = −asin R[0,2])",
            "decode the file's rotation with SynergyNet's matrix2angle (yaw = asin R[2,0]; published tables)",
        ),
    ),
)
SPECS: dict[str, ConventionSpec] = {c.field: c for c in CONVENTIONS}


@dataclass(frozen=True)
class Conventions:
    """The field's conventions as typed options (defaults: aflw-occ's own, see :data:`CONVENTIONS`)."""

    gt: GtSource = "original"
    yaw_source: YawSource = "pose-para"
    bins: Binning = "3ddfa"
    points: PointSet = "68"
    pose_mae: PoseMae = "wrapped"
    pose_decoding: PoseDecoding = "as-given"

    def __post_init__(self) -> None:
        for f in fields(self):
            spec = SPECS[f.name]
            value = getattr(self, f.name)
            if value not in spec.choices:
                what = "ground truth" if f.name == "gt" else spec.flag.lstrip("-")
                raise ScoringError(f"unknown {what} {value!r} (choose {', '.join(spec.choices)})")

    def label(self, names: tuple[str, ...]) -> str:
        """``key=value`` of the named conventions, in :data:`CONVENTIONS` order."""
        return " ".join(f"{c.key}={getattr(self, c.field)}" for c in CONVENTIONS if c.field in names)
