"""NOD, the Naturally Occluded Dataset: no new pixels, an index into the base images plus v, P, F and flags.

For every AFLW2000-3D image (all 2000 rows are computed and stored, so users can pick another threshold):

* P — the face region: the release's dense mean face (``Code/Model_Shape_Sim.mat``), or with ``--bfm`` the 3DDFA
  BFM subset, posed with ``Pose_Para``, fitted to ``pt3d_68`` and rasterised (front-facing triangles);
* F — visible facial skin and parts from the segmenter named by ``--skin`` (default ``adaptive``);
* v = |P ∩ F| / |P|; the row is *selected* (part of the NOD split) when |yaw| ≤ 60° and v < 0.6;
* per-landmark flags: landmark inside P but outside F; the mask is the occluded face P ∖ F.

See :mod:`aflw_occ.visibility` and ``docs/nod.md``. Nothing is drawn at random: the rng is unused.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..face_mesh import FaceMesh, mesh_source
from ..face_region import MeshFaceRegion
from ..paths import default_source
from ..region_kernel import FaceGeometry
from ..skin import get_segmenter
from ..source import load_mat
from ..visibility import NOD_MAX_VISIBLE, NOD_MAX_YAW_DEG, VisibilityWarning, select_nod, visible_rate
from .base import Builder, BuilderConfig, Example, Occluder, SourceSample
from .registry import Subset


class NOD(Builder):
    """Visible rate of every image; the NOD split = |yaw| ≤ 60° and v < 0.6."""

    name = "nod"
    VERSION = "2.0.0"
    adds_pixels = False
    CONFIGS: ClassVar[tuple[BuilderConfig, ...]] = (
        BuilderConfig("natural", "naturally occluded faces: |yaw| <= 60 deg and visible rate v < 0.6"),
    )

    @classmethod
    def describe_occluder(cls, params: dict[str, Any]) -> Occluder:
        """Whatever covers the face in the photograph (hair, hands, objects, the pose): not drawn, not named."""
        return Occluder("natural")

    def prepare(self) -> None:
        source = Path(self.options.source) if self.options.source is not None else default_source()
        self._source = source
        # checked now, read only if this builder needs its own P (a build normally shares the build's P)
        self._mesh_source = mesh_source(aflw_root=source, bfm_dir=self.options.bfm)
        self._own_region = MeshFaceRegion(aflw_root=source, bfm_dir=self.options.bfm)
        self.segmenter = get_segmenter(self.options.skin)

    @property
    def mesh(self) -> FaceMesh:
        """The face mesh of ``--bfm`` or of the source's ``Code/`` folder (loaded on first use)."""
        return self._own_region.mesh

    def _shared_geometry(self, sample: SourceSample) -> FaceGeometry | None:
        """The build's own P of this image when the build computes it with the same mesh (it then costs nothing
        here), else None."""
        fn = sample.region_fn
        if isinstance(fn, MeshFaceRegion) and fn.mesh.source == self._mesh_source:
            return sample.face_geometry
        return None

    def _with_bfm_coefficients(self, sample: SourceSample) -> SourceSample:
        """The sample as :func:`aflw_occ.visibility.visible_rate` fits it: with ``--bfm`` it needs the sample's shape
        and expression coefficients, read from its ``.mat`` when the pipeline did not carry them."""
        if self.options.bfm is None or (sample.shape_para is not None and sample.exp_para is not None):
            return sample
        fields = load_mat(self._source / f"{sample.id}.mat")
        return replace(sample, shape_para=fields["Shape_Para"].reshape(-1), exp_para=fields["Exp_Para"].reshape(-1))

    def generate(self, sample: SourceSample, config: BuilderConfig, rng: np.random.Generator) -> Example:
        if not hasattr(self, "_mesh_source"):
            self.prepare()
        shared = self._shared_geometry(sample)
        fit = self._with_bfm_coefficients(sample)
        res = visible_rate(sample.image, fit, self.mesh if shared is None else None, self.segmenter, shared)
        for msg in res.warnings:
            warnings.warn(msg, VisibilityWarning, stacklevel=2)
        yaw = float(np.degrees(sample.pose_para[1]))
        selected = bool(select_nod(np.array([res.v]), np.array([yaw]))[0])
        v = float(res.v)
        params: dict[str, Any] = {
            "visible_rate": v if np.isfinite(v) else None,
            "yaw_deg": yaw,
            "rule": {"max_visible_rate": NOD_MAX_VISIBLE, "max_abs_yaw_deg": NOD_MAX_YAW_DEG},
            "segmenter": self.segmenter.name,
            "mesh": "bfm-3ddfa" if self.options.bfm is not None else "Model_Shape_Sim",
            "region_area": res.region_area,
            "outside_fraction": res.outside_fraction,
            "warnings": list(res.warnings),
        }
        return Example(
            source_id=sample.id,
            image=None,
            mask=res.region & ~res.skin,
            occluded=res.landmark_occluded,
            covered_fraction=1.0 - v if np.isfinite(v) else float("nan"),
            params=params,
            selected=selected,
            fields={"visible_rate": np.float64(v)},
            masks={"region": res.region, "skin": res.skin},
        )


SUBSET = Subset(
    name="nod",
    builder=NOD,
    input_options=("skin",),
    summary=(
        "naturally occluded: \\|yaw\\| ≤ 60° and visible rate v < 0.6 (v, P, F stored for all 2000 rows; no new "
        "pixels)"
    ),
    rows="131 (paper: 127)",
)
