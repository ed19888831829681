"""Semantic data versions: patch = same pixels; minor = new fields; major = new pixels.

A data version pins the builder version of every subset. Building version X with a generator whose builders have
other versions is refused, so the same version + seed always gives the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import StoreError

#: the store format this aflw-occ writes, and those it reads (format 1: the embedded manifest in scalar datasets)
FORMAT = "aflw-occ/hdf5-2"
FORMATS = ("aflw-occ/hdf5-1", FORMAT)
#: the manifest format this aflw-occ writes, and those it verifies against (format → level; a level-1 manifest pins
#: pixels, flags and parameters, level 2 adds the ground-truth row hash and the mask hashes)
MANIFEST_FORMAT = "aflw-occ-manifest/2"
MANIFEST_FORMATS = {"aflw-occ-manifest/1": 1, MANIFEST_FORMAT: 2}


@dataclass(frozen=True)
class DataVersion:
    version: str
    builders: dict[str, str]
    default_seed: int = 0
    notes: str = ""
    #: why this aflw-occ cannot build the version any more (empty: it can)
    retired: str = ""
    #: the per-file sha256 list of the source release this version is built from (``aflw_occ/assets/checksums/``)
    checksums: str = "aflw2000-3d.tsv"


DATA_VERSIONS: dict[str, DataVersion] = {
    "1.0.0": DataVersion(
        "1.0.0",
        builders={"csod": "1.0.0", "nod": "1.0.0", "nsod": "1.0.0", "randocc": "1.0.0"},
        notes="first release: base + CSOD (single/double/column) + NOD + NSOD; RandOcc opt-in",
        retired=(
            "its NSOD/RandOcc pixels came from float OpenCV operations whose last bits depend on the CPU's vector "
            "unit and the OpenCV release (docs/reproducibility.md); rebuild it only with aflw-occ 0.1.0 (commit "
            "40b9e4c) and opencv-python-headless 5.0.0 on an AVX2 CPU, or build data version 2.0.0"
        ),
    ),
    "2.0.0": DataVersion(
        "2.0.0",
        builders={"csod": "2.0.0", "nod": "2.0.0", "nsod": "2.0.0", "randocc": "2.0.0"},
        notes=(
            "bit-identical on every machine: NSOD/RandOcc in exact integer arithmetic with every drawn value on a "
            "dyadic grid, exact face region P; every ground-truth row, mask and flag part of the manifest identity"
        ),
    ),
}
CURRENT_VERSION = "2.0.0"


def get_version(version: str) -> DataVersion:
    try:
        return DATA_VERSIONS[version]
    except KeyError:
        known = ", ".join(sorted(DATA_VERSIONS))
        raise StoreError(f"unknown data version {version!r}; this aflw-occ knows: {known}") from None


def store_filename(version: str) -> str:
    return f"aflw-occ-{version}.h5"
