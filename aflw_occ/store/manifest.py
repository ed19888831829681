"""Manifests: the per-sample record of a data version (ids, seeds, drawn parameters, pixel hashes).

A manifest is a folder: ``manifest.json`` (version, seed, builders, per-split file hashes and counts, source hash)
plus one ``<split>.jsonl`` per split (``base.jsonl`` for the clean images), one JSON object per line in id order.
The manifest hash is the sha256 of ``manifest.json``, which pins every split file through its sha256.
The same files are embedded in the HDF5 store (group ``/manifest``), so ``verify`` works without the folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .hashing import sha256_bytes
from .versions import MANIFEST_FORMAT

MANIFEST_FILE = "manifest.json"


def base_line(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "jpeg_sha256": rec["jpeg_sha256"],
        "mat_sha256": rec["mat_sha256"],
        "pixels_sha256": rec["pixels_sha256"],
    }


def flags_string(flags: Any) -> str:
    """68 per-landmark flags as a string of 0/1."""
    return "".join("1" if f else "0" for f in flags)


def split_line(rec: dict[str, Any]) -> dict[str, Any]:
    line = {
        "id": rec["id"],
        "source_id": rec["source_id"],
        "seed": int(rec["seed"]),
        "pixels_sha256": rec["pixels_sha256"],
        "occluded": flags_string(rec["occluded"]),
        "covered_fraction": float(rec["covered_fraction"]),
        "selected": bool(rec["selected"]),
        "params": json.loads(rec["params"]),
    }
    if rec.get("fields"):
        line["fields"] = {k: v.tolist() for k, v in sorted(rec["fields"].items())}
    return line


def line_text(line: dict[str, Any]) -> str:
    """One manifest line as stored: canonical JSON (sorted keys, no spaces), without the newline."""
    return json.dumps(line, sort_keys=True, separators=(",", ":"))


@dataclass
class Manifest:
    """A parsed manifest: the header and, per split, the lines keyed by sample id."""

    header: dict[str, Any]
    splits: dict[str, dict[str, dict[str, Any]]]
    sha256: str

    @property
    def version(self) -> str:
        return str(self.header["data_version"])

    @classmethod
    def from_texts(cls, header_text: str, split_texts: dict[str, str], origin: str) -> Manifest:
        try:
            header = json.loads(header_text)
        except json.JSONDecodeError as exc:
            raise StoreError(f"{origin}: manifest.json is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if header.get("format") != MANIFEST_FORMAT:
            raise StoreError(f"{origin}: not an aflw-occ manifest (format {header.get('format')!r})")
        splits: dict[str, dict[str, dict[str, Any]]] = {}
        for name, info in header["splits"].items():
            text = split_texts.get(name)
            if text is None:
                raise StoreError(f"{origin}: split file {info['file']} is missing")
            digest = sha256_bytes(text.encode())
            if digest != info["sha256"]:
                raise StoreError(f"{origin}: {info['file']} does not match the sha256 in manifest.json")
            rows = [json.loads(t) for t in text.splitlines() if t]
            splits[name] = {r["id"]: r for r in rows}
        return cls(header, splits, sha256_bytes(header_text.encode()))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest folder (or its ``manifest.json``)."""
        folder = path.parent if path.name == MANIFEST_FILE else path
        head = folder / MANIFEST_FILE
        if not head.is_file():
            raise StoreError(f"{folder}: no {MANIFEST_FILE} (not a manifest folder)")
        header_text = head.read_text()
        header = json.loads(header_text)
        texts = {}
        for name, info in header.get("splits", {}).items():
            p = folder / info["file"]
            if not p.is_file():
                raise StoreError(f"{p}: manifest split file is missing")
            texts[name] = p.read_text()
        return cls.from_texts(header_text, texts, str(folder))


def render(header: dict[str, Any], split_lines: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    """The manifest texts: (manifest.json text, {split: jsonl text}) from each split's lines (:func:`line_text`,
    in id order). Adds per-split hashes to the header."""
    texts = {name: "".join(f"{line}\n" for line in lines) for name, lines in split_lines.items()}
    header = dict(header)
    header["format"] = MANIFEST_FORMAT
    header["splits"] = {
        name: {"file": f"{name}.jsonl", "count": len(split_lines[name]), "sha256": sha256_bytes(t.encode())}
        for name, t in texts.items()
    }
    return json.dumps(header, sort_keys=True, indent=1) + "\n", texts


def write_folder(folder: Path, header_text: str, texts: dict[str, str]) -> None:
    """Write a manifest folder atomically (a temporary sibling folder renamed at the end)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    tmp.chmod(0o755)  # mkdtemp makes it private; a manifest folder is meant to be shared
    header = json.loads(header_text)
    for name, text in texts.items():
        (tmp / header["splits"][name]["file"]).write_text(text)
    (tmp / MANIFEST_FILE).write_text(header_text)
    if folder.exists():
        old = folder.with_name(folder.name + ".old")
        os.replace(folder, old)
        os.replace(tmp, folder)
        for p in old.iterdir():
            p.unlink()
        old.rmdir()
    else:
        os.replace(tmp, folder)
