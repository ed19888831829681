"""The worker side of a build: decode each source image of a block once, run every requested builder variant on it
with its per-sample seed, encode the results (PNG patches, hashes, manifest lines) and write the block to the journal
(:func:`aflw_occ.journal.write_block`). Run in worker processes (or in the driver for a 1-worker build); imports no
HDF5.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .build_plan import BuildError
from .builders import BuildOptions, get_builder
from .builders.base import (
    Builder,
    BuilderConfig,
    SourceSample,
    prime_face_geometry,
    sample_rng,
    sample_seed,
)
from .errors import AflwOccError, SourceError
from .face_region import MeshFaceRegion
from .hashing import PixelHashes, sha256_bytes, sha256_file
from .heap import keep_freed_memory
from .journal import write_block
from .masks import EMPTY_BOX
from .source import Sample
from .store import codec, schema
from .store import manifest as mf

# --------------------------------------------------------------------------------------------------------------
# worker side
_WORKER: dict[str, Any] = {}


def init_worker(subsets: tuple[str, ...], options: BuildOptions, region_fn: Any) -> None:
    import cv2

    cv2.setNumThreads(1)
    keep_freed_memory()  # temporary arrays reuse freed memory instead of new zeroed pages (aflw_occ.heap)
    _WORKER.clear()
    _WORKER["region_fn"] = region_fn
    builders: list[Builder] = []
    provenance: dict[str, str] = {}
    try:
        if isinstance(region_fn, MeshFaceRegion):
            _ = region_fn.mesh  # load and prepare it now, before the first block
        for name in subsets:
            b = get_builder(name)(options)
            b.prepare()
            builders.append(b)
            provenance.update(b.provenance())
    except AflwOccError as exc:  # raised by the first block: the driver reports it as one line, no traceback
        _WORKER["error"] = exc
    _WORKER["builders"] = builders
    _WORKER["provenance"] = provenance


def _encode_base(sample: Sample, jpeg: np.ndarray, image: np.ndarray, hashes: PixelHashes) -> dict[str, Any]:
    """The journal entry of a source image: its row of the base schema and its manifest line."""
    pose = sample.pose_para.copy()
    re68 = sample.reannotated_68
    rec = {
        "id": sample.id,
        "jpeg": jpeg,
        "jpeg_sha256": sha256_bytes(jpeg),
        "mat_sha256": sha256_file(sample.mat_path),
        "pixels_sha256": hashes.digest,
        "shape": np.array(image.shape, dtype=np.int32),
        "landmarks": sample.pt3d_68.T.copy(),
        "reannotated": re68.T.copy() if re68 is not None else np.full((68, 2), np.nan),
        "pose_para": pose,
        "angles_deg": np.degrees(pose[:3]),
        "roi_box": sample.roi_box.copy() if sample.roi_box is not None else np.full(4, np.nan),
    }
    return _entry(schema.BASE, rec, {}, sample.id)


def _entry(kind: str, rec: dict[str, Any], digests: dict[str, Any], what: str) -> dict[str, Any]:
    """A journal entry: the record conformed to the row schema, and its manifest line."""
    row = schema.conform(kind, rec, what)
    return {"row": row, "line": mf.line_text(mf.render_line(kind, row, digests))}


def _encode_example(
    builder: Builder, config: BuilderConfig, src: SourceSample, hashes: PixelHashes, seed32: int
) -> dict[str, Any]:
    split = builder.split_name(config)
    what = f"{split}/{src.id}"
    ex = builder.generate(src, config, sample_rng(seed32))
    if ex.image is not None:
        if ex.mask is None:
            raise BuildError(f"{what}: builder returned pixels without an occluder mask")
        patch = codec.encode_patch(ex.image, src.image, ex.mask, what)  # checks: no change outside the mask box
        pix = hashes.of_edit(ex.image, src.image.shape[0] if patch.box == EMPTY_BOX else patch.box[1])
    else:
        empty = np.zeros(0, dtype=np.uint8)
        patch = codec.Patch(EMPTY_BOX, empty, empty)
        pix = hashes.digest
    occluded = np.asarray(ex.occluded, dtype=bool)
    if occluded.shape != (68,):
        raise BuildError(f"{what}: occlusion flags have shape {occluded.shape}, expected (68,)")
    masks = {k: np.asarray(m, dtype=bool) for k, m in ex.masks.items()}
    rec = {
        "id": f"{src.id}.{split}",
        "source_id": src.id,
        "source_index": src.index,
        "seed": seed32,
        "params": json.dumps(ex.params, sort_keys=True, separators=(",", ":")),
        "patch_box": np.array(patch.box, dtype=np.int32),
        "patch_png": patch.pixels_png,
        "mask_png": patch.mask_png,
        "occluded": occluded,
        "covered_fraction": float(ex.covered_fraction),
        "selected": bool(ex.selected),
        "pixels_sha256": pix,
        "fields": {k: np.asarray(v) for k, v in ex.fields.items()},
        "mask_pngs": {k: codec.encode_png(m) for k, m in masks.items()},
    }
    # the occluder mask as stored: none for a subset without pixels (NOD keeps its region and skin in masks)
    full_mask = ex.mask if ex.image is not None else np.zeros(src.shape, dtype=bool)
    digests = {
        "mask_sha256": schema.mask_sha256(full_mask),
        "masks": {k: schema.mask_sha256(m) for k, m in sorted(masks.items())},
    }
    return _entry(schema.SPLIT, rec, digests, what)


def _read_source_image(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """The JPEG bytes and decoded RGB pixels of a source image; :class:`SourceError` naming the file otherwise."""
    try:
        jpeg = np.fromfile(sample.image_path, dtype=np.uint8)
        return jpeg, codec.decode_jpeg(jpeg)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SourceError(f"{sample.image_path}: cannot be decoded ({reason})") from None


def process_block(
    block: int, samples: list[Sample], journal: Path, identity_sha: str, seed: int, lenient: bool = False
) -> int:
    """Compute one block and write it to the journal atomically. Returns the block number. A source image that
    cannot be read or decoded is an error, or with ``lenient`` left out and listed in the block's ``skipped``."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    builders: list[Builder] = _WORKER["builders"]
    base_records: list[dict[str, Any]] = []
    split_records: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    skipped: list[dict[str, str]] = []
    sources: list[SourceSample] = []
    hashes: list[PixelHashes] = []
    for sample in samples:
        try:
            jpeg, image = _read_source_image(sample)
        except SourceError as exc:
            if not lenient:
                raise SourceError(f"{exc}; replace the file, or pass --lenient to leave the image out") from None
            reason = str(exc).partition(": ")[2]
            skipped.append(schema.Skip(sample.id, sample.image_path.name, reason).to_json())
            continue
        image.setflags(write=False)
        hashes.append(PixelHashes(image))
        base_records.append(_encode_base(sample, jpeg, image, hashes[-1]))
        sources.append(SourceSample.of(sample, image, _WORKER["region_fn"]))
    prime_face_geometry(sources)
    for src, src_hashes in zip(sources, hashes, strict=True):
        for builder in builders:
            for config in builder.CONFIGS:
                seed32 = sample_seed(seed, builder.name, config.name, src.id)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    rec = _encode_example(builder, config, src, src_hashes, seed32)
                split = builder.split_name(config)
                notes.extend(_note(split, src.id, str(w.message)) for w in caught)
                split_records.setdefault(split, []).append(rec)
    payload = {
        "identity_sha256": identity_sha,
        "block": block,
        "base": base_records,
        "splits": split_records,
        "warnings": notes,
        "skipped": skipped,
        "provenance": _WORKER["provenance"],
    }
    write_block(journal, block, payload)
    return block


def _note(split: str, sid: str, message: str) -> str:
    """A builder warning as listed: ``split/id: message`` (a message that starts with the id keeps it once)."""
    text = message[len(sid) + 2 :] if message.startswith(f"{sid}: ") else message
    return f"{split}/{sid}: {text}"
