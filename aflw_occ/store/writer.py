"""Assemble the journal blocks of a finished build into one HDF5 file (temporary file, renamed at the end).

Layout (``docs/store.md``)::

    /                       attrs: format, data_version, generator_version, seed, options, builders, created_with,
                                   source_sha256, manifest_sha256, provenance (JSON)
    /base                   the clean images: ids, jpeg (original bytes), jpeg_sha256, mat_sha256, pixels_sha256,
                            shape, landmarks (N,68,3), reannotated (N,68,2; NaN if absent), pose_para (N,7),
                            angles_deg (N,3), roi_box (N,4; NaN if absent)
    /<subset>/<variant>     one group per split: ids, source_index, seed, params (JSON), patch_box (N,4),
                            patch_png, mask_png, occluded (N,68), covered_fraction, selected, pixels_sha256,
                            field_<name>, mask_<name>_png
    /manifest               manifest.json and <split>.jsonl texts
"""

from __future__ import annotations

import json
import pickle
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from ..atomic import atomic_path
from ..builders import get_builder
from ..source import AFLW2000_3D
from . import manifest as mf
from .hashing import sha256_bytes
from .versions import FORMAT, store_filename

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..builders.base import Builder
    from ..pipeline import BuildPlan

VLEN_U8 = h5py.vlen_dtype(np.dtype("uint8"))
STR = h5py.string_dtype("utf-8")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("aflw-occ", "numpy", "opencv-python-headless", "h5py", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    import cv2

    out["opencv-build"] = cv2.__version__
    return out


def group_path(split: str, subsets: tuple[str, ...]) -> str:
    """HDF5 group of a public split name: ``clean`` → ``base``, ``csod-single`` → ``csod/single``."""
    if split == "clean":
        return "base"
    for name in subsets:
        cls = get_builder(name)
        for config in cls.CONFIGS:
            if cls.split_name(config) == split:
                return f"{name}/{config.name}"
    raise KeyError(split)


def _vlen(g: h5py.Group, name: str, arrays: list[np.ndarray]) -> None:
    data = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):  # element-wise: equal-length arrays must not broadcast into 2-D
        data[i] = a
    g.create_dataset(name, data=data, dtype=VLEN_U8)


def _write_base(g: h5py.Group, rows: list[dict[str, Any]]) -> None:
    g.create_dataset("ids", data=[r["id"] for r in rows], dtype=STR)
    _vlen(g, "jpeg", [r["jpeg"] for r in rows])
    for key in ("jpeg_sha256", "mat_sha256", "pixels_sha256"):
        g.create_dataset(key, data=[r[key] for r in rows], dtype=STR)
    g.create_dataset("shape", data=np.stack([r["shape"] for r in rows]))
    for key in ("landmarks", "reannotated", "pose_para", "roi_box"):
        g.create_dataset(key, data=np.stack([r[key] for r in rows]).astype(np.float64), compression="gzip")
    angles = np.degrees(np.stack([r["pose_para"][:3] for r in rows]))
    g.create_dataset("angles_deg", data=angles)


def _write_split(g: h5py.Group, rows: list[dict[str, Any]], index: dict[str, int]) -> None:
    g.create_dataset("ids", data=[r["id"] for r in rows], dtype=STR)
    g.create_dataset("source_ids", data=[r["source_id"] for r in rows], dtype=STR)
    g.create_dataset("source_index", data=np.array([index[r["source_id"]] for r in rows], dtype=np.int32))
    g.create_dataset("seed", data=np.array([r["seed"] for r in rows], dtype=np.uint32))
    g.create_dataset("params", data=[r["params"] for r in rows], dtype=STR)
    g.create_dataset("patch_box", data=np.stack([r["box"] for r in rows]).astype(np.int32))
    _vlen(g, "patch_png", [r["pixels_png"] for r in rows])
    _vlen(g, "mask_png", [r["mask_png"] for r in rows])
    g.create_dataset("occluded", data=np.stack([r["occluded"] for r in rows]), compression="gzip")
    g.create_dataset("covered_fraction", data=np.array([r["covered_fraction"] for r in rows]))
    g.create_dataset("selected", data=np.array([r["selected"] for r in rows], dtype=bool))
    g.create_dataset("pixels_sha256", data=[r["pixels_sha256"] for r in rows], dtype=STR)
    for name in sorted(rows[0]["fields"]) if rows else []:
        g.create_dataset(f"field_{name}", data=np.stack([r["fields"][name] for r in rows]))
    for name in sorted(rows[0]["masks"]) if rows else []:
        _vlen(g, f"mask_{name}_png", [r["masks"][name] for r in rows])


def _read_blocks(
    journal: Path, n_blocks: int, identity_sha: str
) -> tuple[list[dict], dict[str, list[dict]], list[str]]:
    base: list[dict[str, Any]] = []
    splits: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for b in range(n_blocks):
        path = journal / f"block-{b:05d}.pkl"
        with path.open("rb") as fh:
            payload = pickle.load(fh)
        if payload["identity_sha256"] != identity_sha or payload["block"] != b:
            raise RuntimeError(f"{path}: journal block belongs to another build")
        base.extend(payload["base"])
        notes.extend(payload["warnings"])
        for name, rows in payload["splits"].items():
            splits.setdefault(name, []).extend(rows)
    return base, splits, notes


def assemble(
    plan: BuildPlan,
    ds: AFLW2000_3D,
    journal: Path,
    n_blocks: int,
    identity: dict[str, Any],
    builders: Sequence[Builder] | None = None,
) -> tuple[Path, dict[str, int], list[str]]:
    """Write the store and its manifest from the journal (``builders``: the build's prepared builders, asked for
    their provenance; made afresh when not given)."""
    identity_sha = sha256_bytes(json.dumps(identity, sort_keys=True).encode())
    base, splits, notes = _read_blocks(journal, n_blocks, identity_sha)
    index = {r["id"]: i for i, r in enumerate(base)}
    source_lines = "".join(f"{r['id']} {r['jpeg_sha256']} {r['mat_sha256']}\n" for r in base)
    region_kind = getattr(plan.region_fn, "kind", "custom") if plan.region_fn is not None else "landmark-hull"
    provenance: dict[str, str] = {"face_region": region_kind}
    for b in builders if builders is not None else [get_builder(name)(plan.options) for name in plan.subsets]:
        provenance.update(b.provenance())
    header = {
        "data_version": plan.version,
        "generator_version": _generator_version(),
        "seed": plan.options.seed,
        "options": plan.options.identity(),
        "builders": identity["builders"],
        "source": {"count": len(base), "sha256": sha256_bytes(source_lines.encode())},
        "provenance": provenance,
    }
    lines = {"base": [mf.base_line(r) for r in base]}
    lines.update({name: [mf.split_line(r) for r in rows] for name, rows in splits.items()})
    header_text, texts = mf.render(header, lines)
    manifest_sha = sha256_bytes(header_text.encode())

    final = plan.out / store_filename(plan.version)
    with atomic_path(final) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["data_version"] = plan.version
        f.attrs["generator_version"] = header["generator_version"]
        f.attrs["seed"] = plan.options.seed
        f.attrs["options"] = json.dumps(plan.options.identity(), sort_keys=True)
        f.attrs["builders"] = json.dumps(identity["builders"], sort_keys=True)
        f.attrs["created_with"] = json.dumps(library_versions(), sort_keys=True)
        f.attrs["source_sha256"] = header["source"]["sha256"]
        f.attrs["manifest_sha256"] = manifest_sha
        f.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
        f.attrs["splits"] = json.dumps(["clean", *splits], sort_keys=False)
        _write_base(f.create_group("base"), base)
        for name, rows in splits.items():
            g = f.create_group(group_path(name, plan.subsets))
            g.attrs["split"] = name
            _write_split(g, rows, index)
        m = f.create_group("manifest")
        m.create_dataset("manifest.json", data=header_text, dtype=STR)
        for name, text in texts.items():
            m.create_dataset(f"{name}.jsonl", data=text, dtype=STR)
    mf.write_folder(plan.out / f"manifest-{plan.version}", header_text, texts)
    counts = {"clean": len(base)} | {name: int(sum(r["selected"] for r in rows)) for name, rows in splits.items()}
    return final, counts, notes


def _generator_version() -> str:
    from .. import __version__

    return __version__
