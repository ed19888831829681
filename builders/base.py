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

import cv2
import numpy as np

from ..region_kernel import FaceGeometry


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
    """What a builder sees of one AFLW2000-3D image.

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


LANDMARK_ORIGIN = 1.0
"""AFLW2000-3D landmarks are 1-based pixel coordinates (MATLAB; the release projects with ``y ← 451 − y``): the
pixel centre of 0-based array element ``[r, c]`` is at ``(x, y) = (c + 1, r + 1)``."""


def landmark_pixels(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0-based pixel (row, col) of each landmark — ``round(y − 1)``, ``round(x − 1)`` — and an inside-image flag."""
    cols = np.rint(landmarks[:, 0] - LANDMARK_ORIGIN).astype(np.int64)
    rows = np.rint(landmarks[:, 1] - LANDMARK_ORIGIN).astype(np.int64)
    inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    return np.clip(rows, 0, shape[0] - 1), np.clip(cols, 0, shape[1] - 1), inside


def landmark_flags(mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(68,) bool: the landmark's pixel lies under ``mask``. Landmarks outside the image are never flagged."""
    rows, cols, inside = landmark_pixels(landmarks, mask.shape)
    return mask[rows, cols] & inside


def covered_fraction(mask: np.ndarray, region: np.ndarray) -> float:
    """|mask ∩ region| / |region| (0 when the region is empty)."""
    area = int(np.count_nonzero(region))
    return float(np.count_nonzero(mask & region)) / area if area else 0.0


class MeshFaceRegion:
    """Region function: the face region P of :mod:`aflw_occ.geometry` (fitted mesh, front-facing triangles).

    Made either from a loaded ``mesh`` or from where to load it (``aflw_root``: the AFLW2000-3D folder with
    ``Code/Model_Shape_Sim.mat``; ``bfm_dir``: 3DDFA's BFM subset). It pickles as that recipe, so a worker process
    loads and prepares its own mesh (in parallel with the others, and with the driver reading the source) instead of
    receiving ~40 MB of matrices; the mesh and its matrices do not depend on the process or its thread count.
    """

    kind = "mesh"

    def __init__(
        self, mesh: Any = None, *, aflw_root: Path | str | None = None, bfm_dir: Path | str | None = None
    ) -> None:
        if mesh is None and aflw_root is None and bfm_dir is None:
            raise ValueError("MeshFaceRegion needs a mesh or where to load it from")
        self._mesh = mesh
        self.aflw_root, self.bfm_dir = aflw_root, bfm_dir

    @property
    def mesh(self) -> Any:
        """The prepared face mesh (loaded on first use)."""
        if self._mesh is None:
            from ..geometry import load_face_mesh

            self._mesh = load_face_mesh(aflw_root=self.aflw_root, bfm_dir=self.bfm_dir).prepare()
        return self._mesh

    def __getstate__(self) -> dict[str, Any]:
        recipe = self.aflw_root is not None or self.bfm_dir is not None
        return {"_mesh": None if recipe else self._mesh, "aflw_root": self.aflw_root, "bfm_dir": self.bfm_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __call__(self, sample: SourceSample) -> FaceGeometry:
        return self.many([sample])[0]

    def many(self, samples: Sequence[SourceSample]) -> list[FaceGeometry]:
        """P of several samples at once (one matrix product for all their fits, :meth:`RegionKernel.many`)."""
        from ..geometry import face_geometries

        return face_geometries(samples, self.mesh, [s.shape for s in samples])


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


def landmark_hull_region(sample: SourceSample) -> np.ndarray:
    """Face region fallback: the filled convex hull of the 68 ground-truth landmarks (x, y), rounded to pixels.

    The hull's vertices come from ``cv2.convexHull`` on integer points (integer geometry); the fill is
    :func:`aflw_occ.face_region.fill_polygon` (pixel centres inside or within ½ px of the outline, exact), not
    ``cv2.fillConvexPoly``, whose edge pixels may change between OpenCV releases."""
    from ..face_region import fill_polygon

    pts = np.rint(sample.landmarks[:, :2] - LANDMARK_ORIGIN).astype(np.int32)
    hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
    return fill_polygon(hull, sample.shape)
