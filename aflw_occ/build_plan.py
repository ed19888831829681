"""What a build is: :class:`BuildPlan` (its options, and the identity a resumed build must match), what it did
(:class:`BuildResult`), and the driver's first steps on a plan (read the source, pick the face-region function).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .builders import BuildOptions, get_builder
from .builders.base import RegionFn
from .errors import AflwOccError
from .face_mesh import MODEL_FILE
from .face_region import MeshFaceRegion
from .fingerprint import build_inputs
from .hashing import sha256_bytes
from .paths import find_data
from .source import AFLW2000_3D
from .store import checksums, schema
from .store.versions import get_version

BLOCK_SIZE = 40


JOURNAL_FORMAT = 5  # 5: blocks list the images a --lenient worker skipped


class BuildError(AflwOccError):
    """A build cannot proceed (bad options, inconsistent output folder, builder failure)."""


@dataclass
class BuildPlan:
    """Everything that defines a build's output (its identity) plus how to run it."""

    source: Path
    out: Path
    version: str
    subsets: tuple[str, ...]
    options: BuildOptions
    eval_dir: Path | None = None
    workers: int = 1
    resume: bool = False
    #: replace a store of this version already in ``out`` (refused otherwise)
    overwrite: bool = False
    shard: tuple[int, int] = (1, 1)
    ids: tuple[str, ...] | None = None
    #: False (``--lenient``): a source image that cannot be read or decoded is left out and recorded, not an error
    strict: bool = True
    block_size: int = BLOCK_SIZE
    progress: bool = True
    region_fn: RegionFn | None = field(default=None, repr=False)
    #: what the manifest records about the source check (the checksum list used)
    source_record: dict[str, Any] = field(default_factory=dict, repr=False)
    #: source images the driver's check left out (``--lenient``); the workers add those they cannot decode
    skipped: list[schema.Skip] = field(default_factory=list, repr=False)

    def identity(self, ids: Sequence[str], eval_dir: Path | None = None) -> dict[str, Any]:
        """What the output depends on: a resumed build must match it (``eval_dir``: the one the source uses)."""
        builders = {name: get_builder(name).VERSION for name in self.subsets}
        return {
            "journal_format": JOURNAL_FORMAT,
            "version": self.version,
            "subsets": list(self.subsets),
            "builders": builders,
            "options": self.options.identity(),
            "face_region": getattr(self.region_fn, "kind", "custom") if self.region_fn else "landmark-hull",
            "ids_sha256": sha256_bytes("\n".join(ids).encode()),
            "block_size": self.block_size,
            "lenient": not self.strict,
            "inputs": build_inputs(self.subsets, self.options, eval_dir),
        }


@dataclass
class BuildResult:
    """What a build did. ``skipped``: the source images a ``--lenient`` build left out; ``warnings``: the builders'
    notes, ``"split/id: message"``; ``notes_file``: where both are listed (None when there is nothing to list)."""

    path: Path | None
    blocks_done: int
    blocks_total: int
    skipped: list[schema.Skip]
    splits: dict[str, int]
    computed: int = 0
    warnings: list[str] = field(default_factory=list)
    notes_file: Path | None = None


def load_source(plan: BuildPlan) -> AFLW2000_3D:
    eval_dir = plan.eval_dir
    if eval_dir is None:  # the one discovery rule (aflw_occ.paths); only a folder that holds the name list counts
        found = find_data("eval_dir", source=plan.source)
        eval_dir = found if found is not None and (found / "AFLW2000-3D_crop.list").is_file() else None
    ds = AFLW2000_3D(plan.source, eval_dir, strict=plan.strict, ids=plan.ids, checksums=source_checksums(plan))
    plan.skipped = [schema.Skip(Path(f).stem, Path(f).name, reason) for f, reason in ds.skipped]
    return ds


def source_checksums(plan: BuildPlan) -> dict[str, str] | None:
    """The data version's source checksums (None for a synthetic source); notes which in ``plan.source_record``."""
    if (plan.source / checksums.SYNTHETIC_MARKER).is_file():
        plan.source_record["checksums"] = "not checked (synthetic source)"
        return None
    name = get_version(plan.version).checksums
    plan.source_record["checksums"] = name
    return checksums.load(name)


def default_region_fn(plan: BuildPlan) -> RegionFn | None:
    """The mesh face region P when the mesh is available (``--bfm`` folder, or the source's ``Code/`` folder),
    else None (the landmark hull; e.g. the synthetic demo source, which has no mesh). The mesh itself is loaded where
    it is used (each worker, or this process for a 1-worker build)."""
    if plan.options.bfm is None and not (plan.source / "Code" / MODEL_FILE).is_file():
        return None
    if plan.options.bfm is not None:
        return MeshFaceRegion(bfm_dir=plan.options.bfm)
    return MeshFaceRegion(aflw_root=plan.source)
