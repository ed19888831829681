"""``verify``'s checks of the store as a whole: the embedded manifest and its hash, the root attributes, the images a
``--lenient`` build left out, the split groups, and which manifest the rows are compared with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py

from ..errors import StoreError
from . import schema
from .manifest import Manifest
from .reader import DataStore
from .verify_report import STORE, VerifyReport
from .verify_rows import brief


# --------------------------------------------------------------------------------------------------------------
# the store and its manifests
def embedded_manifest(store: DataStore, report: VerifyReport) -> Manifest | None:
    """The embedded manifest (None when it is missing or invalid: a mismatch), its hash checked against the
    store's ``manifest_sha256`` attribute."""
    try:
        header, texts = store.manifest_texts()
        man = Manifest.from_texts(header, texts, f"{store.path}#/manifest")
    except StoreError as exc:
        report.add(STORE, "manifest", f"embedded manifest unusable: {exc}")
        return None
    attr = store.file.attrs.get("manifest_sha256")
    if attr is not None and str(attr) != man.sha256:
        report.add(STORE, "manifest", f"attribute manifest_sha256 {str(attr)[:12]} is not the sha256 of the "
                                      f"embedded manifest.json ({man.sha256[:12]})")  # fmt: skip
    return man


def check_attrs(store: DataStore, man: Manifest | None, report: VerifyReport) -> None:
    """Every declared root attribute present (format 1 stores had ``created_with`` for ``environment``) and equal
    to what the embedded manifest says; the list of images a ``--lenient`` build left out (attribute ``skipped``)
    equal to the manifest's ``source.skipped`` (both absent when nothing was left out)."""
    attrs = store.file.attrs
    legacy = attrs.get("format") == "aflw-occ/hdf5-1"
    for name in schema.ROOT_ATTRS:
        if name not in attrs and not (legacy and name == "environment"):
            report.add(STORE, "attributes", f"attribute {name!r} is missing")
    if man is None:
        return
    source = man.header.get("source") or {}
    expect = {
        "builders": man.header.get("builders"),
        "options": man.header.get("options"),
        "source_sha256": source.get("sha256"),
    }
    for name, value in expect.items():
        if name in attrs and _attr_value(attrs[name]) != value:
            report.add(STORE, "attributes", f"attribute {name!r} differs from the embedded manifest")
    stored = _attr_value(attrs[schema.SKIPPED_ATTR]) if schema.SKIPPED_ATTR in attrs else None
    if stored != source.get("skipped"):
        report.add(STORE, "attributes", f"attribute {schema.SKIPPED_ATTR!r} (images left out by --lenient) differs "
                                        "from the embedded manifest's source.skipped")  # fmt: skip


def skipped_images(store: DataStore, report: VerifyReport) -> dict[str, schema.Skip]:
    """Source id → why a ``--lenient`` build left it out (the store's ``skipped`` attribute), with a note."""
    if schema.SKIPPED_ATTR not in store.file.attrs:
        return {}
    try:
        skips = [schema.Skip.from_json(v) for v in json.loads(str(store.file.attrs[schema.SKIPPED_ATTR]))]
    except (ValueError, TypeError) as exc:
        report.add(STORE, "attributes", f"attribute {schema.SKIPPED_ATTR!r} is not a skip list ({brief(exc)})")
        return {}
    if skips:
        shown = ", ".join(str(k) for k in skips[:3]) + (f", … ({len(skips) - 3} more)" if len(skips) > 3 else "")
        report.notes.append(f"built with --lenient: {len(skips)} source image(s) left out of every split: {shown}")
    return {k.id: k for k in skips}


def _attr_value(value: Any) -> Any:
    text = str(value)
    try:
        return json.loads(text) if text[:1] in "{[" else text
    except json.JSONDecodeError:
        return text


def split_groups(store: DataStore, report: VerifyReport) -> dict[str, str]:
    """Split name → group of every split group in the file (a group without its ``split`` attribute: a mismatch)."""
    out = {"base": "base"} if isinstance(store.file.get("base"), h5py.Group) else {}
    if not out:
        report.add(STORE, "base", "group /base is missing")
    for subset, g in store.file.items():
        if subset in ("base", "manifest") or not isinstance(g, h5py.Group):
            continue
        for variant, vg in g.items():
            name = vg.attrs.get("split") if isinstance(vg, h5py.Group) else None
            if name is None:
                report.add(STORE, f"{subset}/{variant}", "split group has no 'split' attribute")
            else:
                out[str(name)] = f"{subset}/{variant}"
    return out


def reference_manifest(
    store: DataStore, embedded: Manifest | None, manifest: str | Path | None, report: VerifyReport
) -> tuple[Manifest, str]:
    """The manifest the report is against: the folder ``manifest``, else the embedded one."""
    if manifest is not None:
        return Manifest.load(Path(manifest)), str(manifest)
    if embedded is None:
        raise StoreError(f"{store.path}: {report.mismatches[-1].what}; pass --manifest to verify against a folder")
    return embedded, "embedded"


def check_identity(store: DataStore, man: Manifest, origin: str) -> None:
    if man.version != store.version:
        raise StoreError(f"{origin}: manifest is for data version {man.version}, the store is {store.version}")
    seed = int(store.attr("seed"))
    if int(man.header["seed"]) != seed:
        raise StoreError(f"{origin}: manifest was built with seed {man.header['seed']}, the store with seed {seed}")
