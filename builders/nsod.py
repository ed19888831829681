"""NSOD, the NatOcc Synthetically Occluded Dataset: one object pasted over every face (``docs/nsod.md``).

Two subsets share this module:

* **nsod** (split ``nsod``) — one occluder drawn uniformly with replacement from the library given by
  ``--occluders`` (default: the selected tuxpaint stamps + the CC0 pack), composited by
  :func:`aflw_occ.builders.compositing.composite` inside the face region P;
* **randocc** (split ``randocc``, opt-in: ``--subset randocc``) — a random textured Bézier blob
  (:func:`aflw_occ.builders.occluders.randocc.random_blob`), composited the same way.

Draw order per sample (one generator, seeded from ``(seed, "nsod", variant, source id)``): the occluder index (natocc)
or the blob (randocc), then the composite's values in :func:`~aflw_occ.builders.compositing.composite`'s fixed order.
``params`` holds the occluder's id, category, library and sha256 (or the blob's parameters) and every composite value.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np

from ..face_region import landmark_hull_region
from ..landmark_patches import landmarks_under
from . import kernels
from .base import (
    Builder,
    BuilderConfig,
    Example,
    Occluder,
    SourceSample,
    covered_fraction,
    hex_colour,
)
from .compositing import NatOccConfig, composite, config_dict
from .occluders.library import OccluderLibrary
from .occluders.randocc import random_blob
from .occluders.registry import load_library
from .registry import Subset


class NSOD(Builder):
    """NatOcc-style object occluders (natocc) and RandOcc textured blobs (randocc), one per image."""

    name = "nsod"
    VERSION = "2.0.0"
    CONFIGS: ClassVar[tuple[BuilderConfig, ...]] = (
        BuilderConfig("natocc", "one daily-life object from the occluder library, NatOcc compositing", split="nsod"),
    )
    composite_config: ClassVar[NatOccConfig] = NatOccConfig()

    _library: OccluderLibrary | None = None

    def prepare(self) -> None:
        """Load the occluder library and the pixel kernels (:mod:`.kernels`: numba's, compiled or from its cache)
        once per worker process."""
        kernels.load()
        _ = self.library

    @property
    def library(self) -> OccluderLibrary:
        """The occluder library, loaded on first use (once per worker process)."""
        if self._library is None:
            self._library = load_library(list(self.options.occluders))
        return self._library

    @classmethod
    def describe_occluder(cls, params: dict[str, Any]) -> Occluder:
        occ = params.get("occluder", {})
        blob = occ.get("blob")
        if blob is not None:  # RandOcc: a textured blob, its texture's colours
            texture = blob.get("texture", {})
            colours = "+".join(hex_colour(c) for c in texture.get("colours", []))
            return Occluder("blob", str(texture.get("kind", "")), colours)
        return Occluder(str(occ.get("category", "")), str(occ.get("id", "")))  # a photograph: no one colour

    def provenance(self) -> dict[str, str]:
        lib = self.library
        return {
            "occluders": " ".join(self.options.occluders),
            "occluder_fingerprint": lib.fingerprint,
            "occluder_count": str(len(lib)),
            "occluder_categories": ", ".join(f"{k} {v}" for k, v in lib.categories().items()),
            "natocc_config": json.dumps(config_dict(self.composite_config), sort_keys=True),
        }

    def generate(self, sample: SourceSample, config: BuilderConfig, rng: np.random.Generator) -> Example:
        region = sample.face_region
        region_kind = "face_region"
        if not region.any():
            region = landmark_hull_region(sample)
            region_kind = "landmark_hull"
        params: dict[str, Any] = {"variant": config.name, "region": region_kind}
        if config.name == "natocc":
            occ = self.library.draw(rng)
            rgba = occ.rgba()
            points = occ.points_at_face
            params["occluder"] = {"id": occ.id, "category": occ.category, "library": occ.library, "sha256": occ.sha256}
        elif config.name == "blob":
            rgba, blob = random_blob(rng)
            points = False
            params["occluder"] = {"id": "randocc", "category": "blob", "library": "randocc", "blob": blob}
        else:
            raise ValueError(f"nsod: unknown variant {config.name!r}")
        result = composite(sample.image, region, rgba, rng, points_at_face=points, config=self.composite_config)
        params.update(result.params)
        return Example(
            source_id=sample.id,
            image=result.image,
            mask=result.mask,
            occluded=landmarks_under(result.mask, sample.landmarks),
            covered_fraction=covered_fraction(result.mask, region),
            params=params,
        )


class RandOcc(NSOD):
    """RandOcc: one random textured Bézier blob per image, NatOcc compositing (no occluder library needed)."""

    name = "randocc"
    VERSION = "2.0.0"
    CONFIGS: ClassVar[tuple[BuilderConfig, ...]] = (
        BuilderConfig("blob", "one random textured Bézier blob, NatOcc compositing", split="randocc"),
    )

    def prepare(self) -> None:
        """Blobs need no occluder library; the pixel kernels are loaded as for NSOD."""
        kernels.load()

    def provenance(self) -> dict[str, str]:
        return {"randocc_natocc_config": repr(config_dict(self.composite_config))}


#: loads the compiled pixel kernels in a multi-worker build's forkserver (:mod:`.kernels.warm`)
WARM_KERNELS = "aflw_occ.builders.kernels.warm"

SUBSET = Subset(
    name="nsod",
    builder=NSOD,
    input_options=("occluders",),
    preload=(WARM_KERNELS,),
    summary="one daily-life object composited over the face (NatOcc technique, [docs/nsod.md](docs/nsod.md))",
    rows="2000",
)
RANDOCC_SUBSET = Subset(
    name="randocc",
    builder=RandOcc,
    input_options=("occluders",),
    preload=(WARM_KERNELS,),
    summary="one random textured Bézier blob (NatOcc's RandOcc)",
    rows="2000",
)
