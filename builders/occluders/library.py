"""The occluder library type, the pixel helpers its readers share, and the declaration a reader makes.

An :class:`OccluderLibrary` is an ordered, id-keyed list of :class:`Occluder` items (a cut-out object as straight-alpha
RGBA uint8, cropped to its alpha bounding box) plus the files that were *rejected* and why. Libraries combine with
``+`` (ids must stay unique). Items are sorted by id so that ``items[k]`` is the same object on every machine.

Each reader module (:mod:`.cc0_pack`, :mod:`.tuxpaint`, :mod:`.default_pack`, :mod:`.folder`, :mod:`.natocc`,
:mod:`.coco`) declares its ``--occluders`` spec kind as a :class:`LibraryKind`; :mod:`.registry` collects them, parses
spec strings and loads libraries. This module imports none of the readers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ...area import area_sums
from ...errors import AflwOccError
from ..exact_image import round_div

#: items larger than this (pixels, longest side) are downscaled once at load time (area-averaged, premultiplied)
MAX_SIDE = 400
#: items whose alpha bounding box is smaller than this on its longest side are rejected
MIN_SIDE = 24
#: alpha ≥ this (of 255) counts as "object" when measuring shape and coverage
OPAQUE = 128
#: principal-axis ratio from which an object counts as elongated (rotated to point at the face)
ELONGATED_RATIO = 2.5
#: categories whose objects point at the face (NatOcc's hands)
POINTING_CATEGORIES = frozenset({"hand", "hands"})


class OccluderError(AflwOccError):
    """An occluder library (folder, file, annotation) is missing, unusable or inconsistent."""


class Occluder:
    """One cut-out object.

    Attributes:
        id: unique, stable id (``library/relative/path/without/extension``).
        category: object category (tuxpaint: top-level stamp folder; COCO: category name).
        source: the file it came from (for COCO: ``image#annotation-id``).
        sha256: hash of the source file's bytes (COCO: of the annotation record + image file name).
        library: library kind (``tuxpaint``, ``cc0``, ``folder``, ``natocc``, ``coco``).

    :meth:`rgba` returns the (h, w, 4) uint8 straight-alpha cut-out; a lazily loaded item is decoded on first use and
    cached, unless ``cache=False`` (large libraries such as COCO: decoded on every use, memory stays flat).
    """

    __slots__ = ("id", "category", "source", "sha256", "library", "_loader", "_rgba", "_cache", "_points")

    def __init__(
        self,
        id: str,
        category: str,
        source: str,
        sha256: str,
        library: str,
        rgba: np.ndarray | None = None,
        loader: Callable[[], np.ndarray] | None = None,
        cache: bool = True,
    ) -> None:
        if rgba is None and loader is None:
            raise ValueError("Occluder needs rgba or a loader")
        self.id = id
        self.category = category
        self.source = source
        self.sha256 = sha256
        self.library = library
        self._loader = loader
        self._rgba = rgba
        self._cache = cache
        self._points: bool | None = None

    def rgba(self) -> np.ndarray:
        """(h, w, 4) uint8 straight-alpha RGBA, cropped to the alpha bounding box (read-only)."""
        if self._rgba is not None:
            return self._rgba
        assert self._loader is not None
        arr = self._loader()
        arr.setflags(write=False)
        if self._cache:
            self._rgba = arr
        return arr

    @property
    def points_at_face(self) -> bool:
        """True for hands and elongated objects (NatOcc rotates them to point at the face centre)."""
        if self._points is None:
            self._points = (
                self.category.lower() in POINTING_CATEGORIES or elongation(self.rgba()[..., 3]) >= ELONGATED_RATIO
            )
        return self._points

    def __repr__(self) -> str:
        return f"Occluder({self.id!r}, category={self.category!r})"


@dataclass(frozen=True)
class Rejected:
    """A file a library reader did not use, and why."""

    source: str
    reason: str


class OccluderLibrary:
    """An ordered set of occluders (sorted by id) plus the rejected files of every part.

    ``spec`` is the spec string(s) it was built from, ``fingerprint`` a sha256 over (id, sha256) of every item.
    """

    def __init__(self, items: Iterable[Occluder], rejected: Iterable[Rejected] = (), spec: str = "") -> None:
        items = sorted(items, key=lambda o: o.id)
        dup = [k for k, n in Counter(o.id for o in items).items() if n > 1]
        if dup:
            raise OccluderError(f"occluder library {spec!r}: duplicate occluder id {dup[0]!r} (same library twice?)")
        self.items: tuple[Occluder, ...] = tuple(items)
        self.rejected: tuple[Rejected, ...] = tuple(rejected)
        self.spec = spec

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> Occluder:
        return self.items[k]

    def __iter__(self) -> Iterator[Occluder]:
        return iter(self.items)

    def __add__(self, other: OccluderLibrary) -> OccluderLibrary:
        spec = " ".join(s for s in (self.spec, other.spec) if s)
        return OccluderLibrary(self.items + other.items, self.rejected + other.rejected, spec)

    def categories(self) -> dict[str, int]:
        """Item count per category, sorted by category name."""
        return dict(sorted(Counter(o.category for o in self.items).items()))

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for o in self.items:
            h.update(f"{o.id}\0{o.sha256}\n".encode())
        return h.hexdigest()

    def draw(self, rng: np.random.Generator) -> Occluder:
        """One item, uniform with replacement (one ``rng.integers`` call)."""
        if not self.items:
            raise OccluderError(f"occluder library {self.spec!r} holds no usable occluder")
        return self.items[int(rng.integers(len(self.items)))]


# --------------------------------------------------------------------------------------------------------------
# pixel helpers shared by the readers


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode image bytes to uint8 RGB (h, w, 3) or RGBA (h, w, 4); 16-bit is scaled to 8-bit.

    Raises:
        OccluderError: the bytes are not a decodable image.
    """
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.size == 0:
        raise OccluderError(f"{name}: not a readable image")
    if arr.dtype == np.uint16:
        arr = ((arr.astype(np.int32) * 2 + 257) // 514).astype(np.uint8)  # v/257 rounded half up
    elif arr.dtype != np.uint8:
        raise OccluderError(f"{name}: unsupported pixel type {arr.dtype}")
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    if arr.shape[2] == 2:  # grey + alpha
        return np.dstack([arr[..., 0]] * 3 + [arr[..., 1]])
    if arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)


def crop_to_alpha(rgba: np.ndarray) -> np.ndarray | None:
    """Crop to the bounding box of alpha > 0 (None when alpha is 0 everywhere)."""
    nz = np.flatnonzero(rgba[..., 3].any(axis=1))
    if nz.size == 0:
        return None
    mz = np.flatnonzero(rgba[..., 3].any(axis=0))
    return rgba[nz[0] : nz[-1] + 1, mz[0] : mz[-1] + 1]


def limit_size(rgba: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Downscale to ``max_side`` by exact area averaging in premultiplied space (no dark or bright fringes): alpha =
    mean α over the footprint, colour = Σ c·α / Σ α (both rounded half up; colour 0 where alpha is 0)."""
    h, w = rgba.shape[:2]
    if max(h, w) <= max_side:
        return rgba
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    alpha_sums, den = area_sums(rgba[..., 3:4], size)
    # c·α ≤ 255² fits uint16 exactly (the same products as in int32, half the bytes to resample)
    colour_sums, _ = area_sums(rgba[..., :3].astype(np.uint16) * rgba[..., 3:4], size, limit=255 * 255)
    alpha = round_div(alpha_sums, den)
    colour = np.where(alpha_sums > 0, np.minimum(round_div(colour_sums, np.maximum(alpha_sums, 1)), 255), 0)
    return np.concatenate([colour, alpha], axis=-1).astype(np.uint8)


def _moments(alpha: np.ndarray) -> tuple[int, int, int, int, int, int] | None:
    """n, Σx, Σy, Σx², Σy², Σxy (exact integers) of the pixels with alpha ≥ 128; None for fewer than 3."""
    ys, xs = np.nonzero(alpha >= OPAQUE)
    if xs.size < 3:
        return None
    xs, ys = xs.astype(np.int64), ys.astype(np.int64)
    return (len(xs), int(xs.sum()), int(ys.sum()), int((xs * xs).sum()), int((ys * ys).sum()), int((xs * ys).sum()))


def elongation(alpha: np.ndarray) -> float:
    """√(λ₁/λ₂) of the covariance of the opaque pixels' coordinates (1 = round, ∞ = a line), from exact integer
    moments: with n²·cov = [[a, b], [b, c]], λ = (a + c ± √((a − c)² + 4b²))/2 (IEEE sqrt of exact integers)."""
    m = _moments(alpha)
    if m is None:
        return 1.0
    n, sx, sy, sxx, syy, sxy = m
    a, c, b = n * sxx - sx * sx, n * syy - sy * sy, n * sxy - sx * sy
    root = math.sqrt(float((a - c) ** 2 + 4 * b * b))
    big, small = (a + c + root) / 2.0, (a + c - root) / 2.0
    return math.sqrt(big / max(small, 1e-9 * n * n))


def finish_rgba(rgba: np.ndarray, name: str) -> tuple[np.ndarray | None, str]:
    """Crop, size-limit and sanity-check a cut-out. Returns (rgba, "") or (None, reason)."""
    cropped = crop_to_alpha(rgba)
    if cropped is None:
        return None, "alpha is 0 everywhere (empty cut-out)"
    if max(cropped.shape[:2]) < MIN_SIDE:
        return None, f"too small: {cropped.shape[1]}×{cropped.shape[0]} px (< {MIN_SIDE} px)"
    if int(np.count_nonzero(cropped[..., 3] >= OPAQUE)) < MIN_SIDE * MIN_SIDE // 4:
        return None, "almost fully transparent (too few pixels with alpha ≥ 128)"
    return np.ascontiguousarray(limit_size(cropped)), ""


# --------------------------------------------------------------------------------------------------------------
# what a reader module declares


@dataclass(frozen=True)
class LibraryKind:
    """What a reader module declares about its ``--occluders`` spec kind (collected by :mod:`.registry`).

    Attributes:
        kind: the spec's prefix (``natocc`` in ``natocc:IMGDIR,MASKDIR``).
        forms: how the spec is written (``("default", "default:DIR|DEB")``); error messages and help show them.
        summary: what the library holds, one sentence (README table, help).
        min_args, max_args: how many comma-separated arguments follow the ``:``.
        load: ``(arguments, strict) -> library``; ``strict``: the first unusable file is an error (else it is listed
            as rejected).
    """

    kind: str
    forms: tuple[str, ...]
    summary: str
    min_args: int
    max_args: int
    load: Callable[[tuple[str, ...], bool], OccluderLibrary]

    @property
    def usage(self) -> str:
        """The forms as one phrase: ``default or default:DIR|DEB``."""
        return " or ".join(self.forms)


def describe(lib: OccluderLibrary) -> str:
    """Human-readable summary: counts per category and rejected files (what `aflw-occ occluders list` prints)."""
    lines = [f"{lib.spec}: {len(lib)} occluders, {len(lib.rejected)} rejected, fingerprint {lib.fingerprint[:16]}"]
    by_lib = Counter(o.library for o in lib.items)
    lines.append("  libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(by_lib.items())))
    for cat, n in lib.categories().items():
        lines.append(f"  {cat:<24} {n:6d}")
    if lib.rejected:
        lines.append("  rejected:")
        lines += [f"    {r.source}: {r.reason}" for r in lib.rejected]
    return "\n".join(lines)


def as_json(lib: OccluderLibrary) -> str:
    """Machine-readable summary (items and rejections)."""
    return json.dumps(
        {
            "spec": lib.spec,
            "fingerprint": lib.fingerprint,
            "categories": lib.categories(),
            "items": [{"id": o.id, "category": o.category, "source": o.source, "sha256": o.sha256} for o in lib],
            "rejected": [{"source": r.source, "reason": r.reason} for r in lib.rejected],
        },
        indent=1,
    )
