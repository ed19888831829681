"""Visible rate v of every image and the NOD selection (DSFNet's naturally occluded subset).

For one image: P = fitted, posed, front-facing face mesh rasterised into the image
(:func:`aflw_occ.face_region.face_region_mask`), F = visible facial skin and parts from a segmenter
(:mod:`aflw_occ.skin`), and

    v = |P ∩ F| / |P|        (pixels of P outside the image are not counted: v is over the visible part)

NOD = images with |yaw| ≤ 60° (yaw wrapped to (−180°, 180°]) and v < 0.6. Per-landmark flags: landmark inside P but
outside F (occluded). :func:`compute_all` runs every image of a dataset over worker processes; every value depends
only on its own image, so the result is bit-identical for any worker count.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import AflwOccError
from .face_mesh import FaceMesh
from .face_region import face_geometries, face_geometry
from .geometry import PIXEL_OFFSET
from .landmark_patches import central_face_mask, landmarks_under
from .region_kernel import FaceGeometry, RegionKernel
from .skin import SkinSegmenter, get_segmenter, is_grayscale, ita_degrees
from .source import wrap_degrees

NOD_MAX_VISIBLE = 0.6
NOD_MAX_YAW_DEG = 60.0
PAPER_NOD_COUNT = 127


class VisibilityWarning(UserWarning):
    """A visible rate was computed on partial data (face partly or wholly outside the image)."""


@dataclass
class VisibilityResult:
    """One image: ``v`` (NaN when P is empty), ``region`` P and ``skin`` F (H, W) bool, ``landmark_occluded`` (68,)
    bool (inside P, outside F), ``outside_fraction`` = share of the face-mesh vertices projected outside the image,
    and ``warnings``."""

    v: float
    region: np.ndarray
    skin: np.ndarray
    landmark_occluded: np.ndarray
    outside_fraction: float
    warnings: list[str] = field(default_factory=list)

    @property
    def region_area(self) -> int:
        return int(self.region.sum())


def visible_fraction(region: np.ndarray, skin: np.ndarray) -> float:
    """v = |P ∩ F| / |P| for (H, W) bool masks; NaN when P is empty."""
    p = np.asarray(region, dtype=bool)
    area = int(p.sum())
    if area == 0:
        return float("nan")
    return float(np.count_nonzero(p & np.asarray(skin, dtype=bool)) / area)


def visible_rate(
    image: np.ndarray,
    sample: Any,
    mesh: FaceMesh | None,
    segmenter: SkinSegmenter,
    geometry: FaceGeometry | None = None,
) -> VisibilityResult:
    """Visible rate of one image: P from the fitted mesh, F from ``segmenter(image, sample.landmarks)``.

    ``sample``: a :class:`~aflw_occ.source.Sample` (``id``, ``pose_para``, ``pt3d_68``). ``geometry``: P of this
    image already computed (:func:`aflw_occ.face_region.face_geometry`), so a build shares it; ``mesh`` may then be
    None. A pose that puts part of the face outside the image gives v over the visible part and a warning naming the
    sample.
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise AflwOccError(f"{getattr(sample, 'id', '?')}: image must be (H, W, 3), got {img.shape}")
    shape = img.shape[:2]
    sid = getattr(sample, "id", "?")
    if geometry is None:
        if mesh is None:
            raise AflwOccError(f"{sid}: visible_rate needs the face mesh or the image's face geometry")
        geometry = face_geometry(sample, mesh, shape)
    region, out_frac = geometry.region, geometry.outside_fraction
    if region.shape != shape:
        raise AflwOccError(f"{sid}: face region {region.shape} does not match the {shape} image")
    h, w = shape
    msgs: list[str] = []
    if out_frac > 0:
        msgs.append(
            f"{sid}: {100 * out_frac:.1f}% of the posed face falls outside the {w}x{h} image; "
            "v computed on the visible part"
        )
    skin = np.asarray(segmenter(img, sample.landmarks), dtype=bool)
    if skin.shape != shape:
        raise AflwOccError(f"{sid}: segmenter {segmenter.name!r} returned a {skin.shape} mask for a {shape} image")
    v = visible_fraction(region, skin)
    if math.isnan(v):
        msgs.append(f"{sid}: the face region is empty inside the image; v is undefined (NaN)")
    flags = landmarks_under(region & ~skin, sample.landmarks)  # inside P and outside F
    return VisibilityResult(v, region, skin, flags, out_frac, msgs)


def select_nod(
    v: np.ndarray, yaw_deg: np.ndarray, max_visible: float = NOD_MAX_VISIBLE, max_yaw: float = NOD_MAX_YAW_DEG
) -> np.ndarray:
    """NOD selection: |wrap(yaw)| ≤ ``max_yaw`` and v < ``max_visible`` (NaN v never selected). Shapes (N,) → (N,)."""
    vv = np.asarray(v, dtype=np.float64)
    yaw = np.abs(wrap_degrees(np.asarray(yaw_deg, dtype=np.float64)))
    with np.errstate(invalid="ignore"):
        return (yaw <= max_yaw) & (vv < max_visible) & np.isfinite(vv)


@dataclass
class VisibilityTable:
    """Visible rates of a whole dataset, one row per image (sorted as the dataset).

    ``v`` (N,), ``yaw_deg`` (N,) raw, ``selected`` (N,) NOD flag at the default rule, ``grayscale`` (N,),
    ``ita`` (N,) individual typology angle of the central face patch (NaN for grey images), ``region_area`` (N,),
    ``outside_fraction`` (N,), ``landmark_occluded`` (N, 68), ``warnings`` (one line each), ``segmenter`` name.
    """

    ids: list[str]
    v: np.ndarray
    yaw_deg: np.ndarray
    grayscale: np.ndarray
    ita: np.ndarray
    region_area: np.ndarray
    outside_fraction: np.ndarray
    landmark_occluded: np.ndarray
    warnings: list[str]
    segmenter: str
    mesh_source: str = ""

    @property
    def selected(self) -> np.ndarray:
        return select_nod(self.v, self.yaw_deg)

    def select(self, max_visible: float = NOD_MAX_VISIBLE, max_yaw: float = NOD_MAX_YAW_DEG) -> np.ndarray:
        return select_nod(self.v, self.yaw_deg, max_visible, max_yaw)

    def to_frame(self):
        """A pandas DataFrame (id, v, yaw_deg, selected, grayscale, ita, region_area, outside_fraction)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "id": self.ids,
                "v": self.v,
                "yaw_deg": self.yaw_deg,
                "selected": self.selected,
                "grayscale": self.grayscale,
                "ita": self.ita,
                "region_area": self.region_area,
                "outside_fraction": self.outside_fraction,
            }
        )


_STATE: dict[str, Any] = {}


def _openblas_threads_api() -> tuple[Any, Any] | None:
    """(set, get) thread-count functions of the OpenBLAS that numpy loaded, or None."""
    import ctypes
    import re

    try:
        with open("/proc/self/maps") as fh:
            libs = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", fh.read())))
    except OSError:
        return None
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("64_", "", "_"):
            setter = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None) or getattr(
                lib, f"openblas_set_num_threads{suffix}", None
            )
            getter = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None) or getattr(
                lib, f"openblas_get_num_threads{suffix}", None
            )
            if setter is not None and getter is not None:
                return setter, getter
    return None


class _SingleThreadedLibraries:
    """Context manager: OpenBLAS and OpenCV use one thread inside (set in the parent *before* forking workers, so
    the children never touch a thread pool they did not inherit), previous counts restored on exit."""

    def __enter__(self) -> _SingleThreadedLibraries:
        import ctypes

        import cv2

        self._cv = cv2.getNumThreads()
        cv2.setNumThreads(1)
        self._blas = _openblas_threads_api()
        self._prev = None
        if self._blas is not None:
            setter, getter = self._blas
            self._prev = int(getter())
            setter(ctypes.c_int(1))
        return self

    def __exit__(self, *exc: object) -> None:
        import ctypes

        import cv2

        cv2.setNumThreads(self._cv)
        if self._blas is not None and self._prev is not None:
            self._blas[0](ctypes.c_int(self._prev))


def _init_worker(mesh: FaceMesh, spec: str) -> None:
    _STATE["mesh"] = mesh
    _STATE["segmenter"] = get_segmenter(spec)


def _one(
    sample: Any, img: np.ndarray, geometry: FaceGeometry | None = None
) -> tuple[float, float, bool, float, int, np.ndarray, list[str]]:
    res = visible_rate(img, sample, _STATE["mesh"], _STATE["segmenter"], geometry)
    grey = is_grayscale(img)
    seed = central_face_mask(sample.landmarks[:, :2] - PIXEL_OFFSET, img.shape[:2])
    ita = float("nan") if grey else ita_degrees(img, seed, check_grey=False)
    return res.v, res.outside_fraction, grey, ita, res.region_area, res.landmark_occluded, res.warnings


def _run_chunk(samples: Sequence[Any]) -> list[tuple[float, float, bool, float, int, np.ndarray, list[str]]]:
    """Every sample of a chunk; P of the whole chunk in one batch (:meth:`RegionKernel.many`)."""
    images = [s.read_image() for s in samples]
    geometries = face_geometries(samples, _STATE["mesh"], [img.shape[:2] for img in images])
    return [_one(s, img, g) for s, img, g in zip(samples, images, geometries, strict=True)]


def compute_all(
    dataset: Sequence[Any],
    mesh: FaceMesh,
    segmenter_spec: str = "adaptive",
    workers: int = 1,
    chunk: int = 25,
    progress: bool = False,
) -> VisibilityTable:
    """Visible rates (and grey flag, ITA, landmark flags) of every sample of ``dataset``.

    Work is split into fixed chunks of ``chunk`` samples handed to ``workers`` processes (fork); results are put back
    in dataset order, so the table is identical for any worker count. Warnings are collected and also issued once as
    :class:`VisibilityWarning` (count + first message).
    """
    samples = list(dataset)
    RegionKernel.of(mesh.prepare())  # cached matrices computed once here, inherited by the workers
    chunks = [samples[i : i + chunk] for i in range(0, len(samples), chunk)]
    results: list[tuple[float, float, bool, float, int, np.ndarray, list[str]]] = []
    if workers <= 1 or len(chunks) <= 1:
        _init_worker(mesh, segmenter_spec)
        for c in chunks:
            results.extend(_run_chunk(c))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with (
            _SingleThreadedLibraries(),
            ProcessPoolExecutor(
                max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(mesh, segmenter_spec)
            ) as pool,
        ):
            for part in pool.map(_run_chunk, chunks):
                results.extend(part)
    n = len(samples)
    msgs = [m for r in results for m in r[6]]
    table = VisibilityTable(
        ids=[s.id for s in samples],
        v=np.array([r[0] for r in results], dtype=np.float64).reshape(n),
        yaw_deg=np.array([s.yaw_deg for s in samples], dtype=np.float64).reshape(n),
        grayscale=np.array([r[2] for r in results], dtype=bool).reshape(n),
        ita=np.array([r[3] for r in results], dtype=np.float64).reshape(n),
        region_area=np.array([r[4] for r in results], dtype=np.int64).reshape(n),
        outside_fraction=np.array([r[1] for r in results], dtype=np.float64).reshape(n),
        landmark_occluded=np.stack([r[5] for r in results]).astype(bool) if results else np.zeros((0, 68), bool),
        warnings=msgs,
        segmenter=segmenter_spec,
        mesh_source=mesh.source,
    )
    if msgs:
        warnings.warn(f"{len(msgs)} visibility warning(s); first: {msgs[0]}", VisibilityWarning, stacklevel=2)
    return table


def fairness_shares(table: VisibilityTable) -> dict[str, float]:
    """Shares used by the fairness checks (fractions, NaN when undefined).

    ``grey_all`` / ``grey_nod``: grey images among all / among NOD. ``dark_all`` / ``dark_nod``: the darkest fifth by
    ITA among colour images (ITA ≤ its 20th percentile) as a share of all colour images / of colour NOD images.
    """
    sel = table.selected
    colour = ~table.grayscale & np.isfinite(table.ita)
    cut = float(np.percentile(table.ita[colour], 20)) if colour.any() else float("nan")
    dark = colour & (table.ita <= cut)
    n_sel = int(sel.sum())
    n_col_sel = int((sel & colour).sum())
    return {
        "nod_count": float(n_sel),
        "grey_all": float(table.grayscale.mean()) if len(sel) else float("nan"),
        "grey_nod": float((sel & table.grayscale).sum() / n_sel) if n_sel else float("nan"),
        "dark_cut_ita": cut,
        "dark_all": float(dark.sum() / colour.sum()) if colour.any() else float("nan"),
        "dark_nod": float((sel & dark).sum() / n_col_sel) if n_col_sel else float("nan"),
    }
