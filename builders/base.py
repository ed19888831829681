"""The builder interface: one module per subset, each only says what it draws.

A subset (``csod``, ``nod``, ``nsod``) is a :class:`Builder` subclass with a semantic ``VERSION`` and named
:class:`BuilderConfig` variants (TFDS-style). For every source image and variant the pipeline calls
:meth:`Builder.generate` with a :class:`SourceSample` (decoded pixels + ground truth) and a ``numpy`` generator seeded
from ``(global seed, subset, variant, source id)``; the builder returns an :class:`Example` (plain record, no I/O).
The store is the only writer. Nothing here depends on worker count or order.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..face_region import landmark_hull_region
from ..region_kernel import FaceGeometry
from ..source import Sample


@dataclass(frozen=True)
class BuilderConfig:
    """A named variant of a subset (``single``, ``double``, ``column`` for CSOD).

    ``split`` overrides the public split name (default: the subset name for single-variant subsets, else
    ``subset-variant``).
    """

    name: str
    description: str
    split: str | None = None


@dataclass
class BuildOptions:
    """Options of one build that builders may read (all part of the build's identity)."""

    seed: int = 0
    occluders: tuple[str, ...] = ("default",)
    skin: str = "adaptive"
    bfm: Path | None = None
    source: Path | None = None

    def identity(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "occluders": list(self.occluders),
            "skin": self.skin,
            "bfm": self.bfm.name if self.bfm else None,
        }


#: a face-region function: the (H, W) bool region of a sample, or a :class:`FaceGeometry` (region + outside share)
RegionFn = Callable[["SourceSample"], "np.ndarray | FaceGeometry"]


@dataclass
class SourceSample:
    """What a builder sees of one AFLW2000-3D image (the builders' sample type; the source's is
    :class:`aflw_occ.source.Sample`, turned into this by :meth:`of`).

    ``image`` is the decoded RGB uint8 (H, W, 3) array (read-only: builders copy before drawing).
    ``landmarks`` is (68, 3) float64 image pixels, ``pose_para`` the raw (7,) ``Pose_Para``.
    ``face_region`` is the face region (H, W) bool, computed on first use by the pipeline's region function (the
    fitted dense mesh P when the source has it, else the landmark hull) and shared by every builder.
    """

    id: str
    index: int
    image: np.ndarray
    landmarks: np.ndarray
    pose_para: np.ndarray
    region_fn: RegionFn | None = field(default=None, repr=False)
    shape_para: np.ndarray | None = field(default=None, repr=False)
    exp_para: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, sample: Sample, image: np.ndarray, region_fn: RegionFn | None = None) -> SourceSample:
        """The builders' view of a source :class:`~aflw_occ.source.Sample` and its decoded ``image``: the landmarks
        as a (68, 3) array of their own (C order), the pose and the BFM coefficients as read."""
        return cls(
            sample.id, sample.index, image, sample.pt3d_68.T.copy(), sample.pose_para, region_fn, sample.shape_para,
            sample.exp_para,
        )  # fmt: skip

    @property
    def pt3d_68(self) -> np.ndarray:
        """(3, 68) landmarks as stored in the release."""
        return self.landmarks.T

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]

    @property
    def face_box(self) -> np.ndarray:
        """[x0, y0, x1, y1] extent of the 68 ground-truth landmarks (x, y)."""
        xy = self.landmarks[:, :2]
        return np.concatenate([xy.min(axis=0), xy.max(axis=0)])

    @cached_property
    def face_geometry(self) -> FaceGeometry:
        """The face region with the share of the face mesh outside the image (NaN for a region function that
        only gives a mask, such as the landmark hull)."""
        return _frozen_geometry((self.region_fn or landmark_hull_region)(self))

    @property
    def face_region(self) -> np.ndarray:
        return self.face_geometry.region


@dataclass
class Example:
    """One generated sample: a plain record, keyed by ``(subset, variant, source_id)``.

    Attributes:
        source_id: the AFLW2000-3D image it was made from.
        image: the full output RGB uint8 image, or None when the subset adds no pixels (NOD).
        mask: (H, W) bool occluder mask (None when there is no occluder object).
        occluded: (68,) bool per-landmark occlusion flags.
        covered_fraction: fraction of the face region that is covered.
        params: every drawn parameter, JSON-serialisable; compared exactly by ``verify``, except float diagnostics
            kept under the key ``"diagnostics"`` (stored and shown, never part of the identity).
        selected: False for rows that are computed and stored but not part of the split (NOD's v ≥ 0.6 images).
        fields: extra fixed-shape per-sample numeric values stored as datasets (e.g. ``visible_rate``).
        masks: extra (H, W) bool masks stored losslessly (e.g. NOD's region ``P`` and skin ``F``).
    """

    source_id: str
    image: np.ndarray | None
    mask: np.ndarray | None
    occluded: np.ndarray
    covered_fraction: float
    params: dict[str, Any]
    selected: bool = True
    fields: dict[str, float | int | np.ndarray] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Occluder:
    """What covers the face in one sample, for tables (``aflw-occ export-table``): a ``category`` (``solid colour``,
    ``food``, ``blob``, ``natural``), a ``kind`` within it (``square``, the library item's id, the blob texture) and
    its ``colour`` (``#rrggbb``, several joined with ``+``; empty for photographs). Empty strings: nothing drawn."""

    category: str = ""
    kind: str = ""
    colour: str = ""


def hex_colour(rgb: Sequence[int]) -> str:
    """``#rrggbb`` of an RGB triple (0–255)."""
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


class Builder(ABC):
    """Base class of a subset builder.

    Subclasses set ``name``, ``VERSION`` (semver: patch = same pixels; minor = new fields; major = new pixels),
    ``CONFIGS`` (the variants), and implement :meth:`generate`. ``adds_pixels`` is False for index-only subsets.
    """

    name: ClassVar[str]
    VERSION: ClassVar[str]
    CONFIGS: ClassVar[tuple[BuilderConfig, ...]]
    adds_pixels: ClassVar[bool] = True

    def __init__(self, options: BuildOptions) -> None:
        self.options = options

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Load shared resources once per worker process (occluder library, mesh, segmenter)."""

    def provenance(self) -> dict[str, str]:
        """Provenance attributes of the resources this builder used (e.g. occluder-pack hashes)."""
        return {}

    @abstractmethod
    def generate(self, sample: SourceSample, config: BuilderConfig, rng: np.random.Generator) -> Example:
        """Draw one example for ``sample`` in variant ``config`` from ``rng`` only."""

    @classmethod
    def describe_occluder(cls, params: dict[str, Any]) -> Occluder:
        """The occluder of a sample, read from its stored ``params`` (nothing drawn by default)."""
        return Occluder()

    @classmethod
    def split_name(cls, config: BuilderConfig) -> str:
        """Public split name: ``config.split`` if set, else the subset name alone for single-variant subsets,
        else ``subset-variant``."""
        if config.split:
            return config.split
        return cls.name if len(cls.CONFIGS) == 1 else f"{cls.name}-{config.name}"


def sample_seed(seed: int, subset: str, variant: str, source_id: str) -> int:
    """The 32-bit seed of one sample: sha256 of ``"seed/subset/variant/source_id"``, first 4 bytes, big-endian.

    Independent of worker count, order and machine.
    """
    digest = hashlib.sha256(f"{seed}/{subset}/{variant}/{source_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def sample_rng(seed32: int) -> np.random.Generator:
    """The generator a builder draws from (PCG64, stable across numpy versions and platforms)."""
    return np.random.Generator(np.random.PCG64(seed32))


def covered_fraction(mask: np.ndarray, region: np.ndarray) -> float:
    """|mask ∩ region| / |region| (0 when the region is empty)."""
    area = int(np.count_nonzero(region))
    return float(np.count_nonzero(mask & region)) / area if area else 0.0


def prime_face_geometry(samples: Sequence[SourceSample]) -> None:
    """Compute the face geometry of ``samples`` in one batch when their region function can (a
    :class:`MeshFaceRegion`), so :attr:`SourceSample.face_geometry` is ready; otherwise leave it to first use."""
    groups: dict[int, list[SourceSample]] = {}
    for s in samples:
        if "face_geometry" not in s.__dict__ and hasattr(s.region_fn, "many"):
            groups.setdefault(id(s.region_fn), []).append(s)
    for group in groups.values():
        for s, geometry in zip(group, group[0].region_fn.many(group), strict=True):  # type: ignore[union-attr]
            s.__dict__["face_geometry"] = _frozen_geometry(geometry)  # what the cached property would hold


def _frozen_geometry(out: np.ndarray | FaceGeometry) -> FaceGeometry:
    """A region function's result as a :class:`FaceGeometry` with a read-only region (a bare mask gets NaN as
    its outside share)."""
    geometry = out if isinstance(out, FaceGeometry) else FaceGeometry(np.asarray(out, dtype=bool), float("nan"))
    geometry.region.setflags(write=False)
    return geometry
