"""Manifests: the per-sample record of a data version, one line per stored row rendered from the row schema.

A manifest is a folder: ``manifest.json`` (version, seed, builders, per-split file hashes and counts, source hash)
plus one ``<split>.jsonl`` per split (``base.jsonl`` for the clean images), one JSON object per line in id order
(:func:`render_line`: ids, seeds, drawn parameters, flags, pixel and mask hashes, ``row_sha256`` of the ground truth).
The manifest hash is the sha256 of ``manifest.json``, which pins every split file through its sha256.
``environment.json`` records the machine and libraries that built it: informational, outside the hash.
The same files are embedded in the HDF5 store (group ``/manifest``), so ``verify`` works without the folder.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_folder
from ..errors import StoreError
from ..hashing import sha256_bytes
from . import schema
from .schema import Render
from .versions import MANIFEST_FORMAT, MANIFEST_FORMATS

MANIFEST_FILE = "manifest.json"
ENVIRONMENT_FILE = "environment.json"


def render_line(kind: str, rec: dict[str, Any], digests: dict[str, Any]) -> dict[str, Any]:
    """The manifest line of a conformed record (:func:`schema.conform`) and its payload ``digests``
    (:data:`schema.DIGESTS`): every column rendered as :class:`schema.Render` says, plus ``row_sha256``."""
    line: dict[str, Any] = {}
    for col in schema.COLUMNS[kind]:
        value = rec[col.key]
        if col.render is Render.VALUE:
            line[col.key] = {k: v.tolist() for k, v in value.items()} if col.family else _json_value(value)
        elif col.render is Render.FLAGS:
            line[col.key] = flags_string(value)
        elif col.render is Render.JSON:
            line[col.key] = json.loads(value)
    missing = {d.key for d in schema.DIGESTS[kind]} ^ set(digests)
    if missing:
        raise ValueError(f"digests differ from the schema's: {sorted(missing)}")
    line.update(digests)
    line[schema.ROW_SHA256] = schema.row_sha256(kind, rec)
    return line


def _json_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.ndarray | np.generic) else value


def flags_string(flags: Any) -> str:
    """68 per-landmark flags as a string of 0/1."""
    if isinstance(flags, np.ndarray) and flags.dtype == bool:  # the bytes b"0"/b"1" directly: the same string
        return (flags.reshape(-1).view(np.uint8) + 48).tobytes().decode("ascii")
    return "".join("1" if f else "0" for f in flags)


def identity_view(line: dict[str, Any]) -> dict[str, str]:
    """What of a manifest line decides a verify: each key's canonical JSON, without the parameters'
    ``diagnostics``."""
    out = {}
    for key, value in line.items():
        if key == "params" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != schema.DIAGNOSTICS}
        out[key] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return out


def line_differences(got: dict[str, Any], want: dict[str, Any], level: int) -> list[str]:
    """The keys in which a stored row's line ``got`` differs from the manifest's ``want``. A format-1 manifest
    pins only the keys its lines have; from format 2 on, a key on either side only is a difference too."""
    a, b = identity_view(got), identity_view(want)
    keys = sorted(b) if level == 1 else sorted(set(a) | set(b))
    return [k for k in keys if a.get(k) != b.get(k)]


def line_text(line: dict[str, Any]) -> str:
    """One manifest line as stored: canonical JSON (sorted keys, no spaces), without the newline."""
    return json.dumps(line, sort_keys=True, separators=(",", ":"))


@dataclass
class Manifest:
    """A parsed manifest: the header, per split the lines keyed by sample id, and the ids listed more than once."""

    header: dict[str, Any]
    splits: dict[str, dict[str, dict[str, Any]]]
    sha256: str
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    environment: dict[str, Any] | None = None

    @property
    def version(self) -> str:
        return str(self.header["data_version"])

    @property
    def level(self) -> int:
        """The manifest format's number (1: lines pin pixels, flags, parameters; 2: also ground truth and masks)."""
        return MANIFEST_FORMATS[self.header["format"]]

    @classmethod
    def from_texts(cls, header_text: str, split_texts: dict[str, str], origin: str) -> Manifest:
        header = parse_header(header_text, origin)
        splits: dict[str, dict[str, dict[str, Any]]] = {}
        duplicates: dict[str, list[str]] = {}
        for name, info in header["splits"].items():
            text = split_texts.get(name)
            if text is None:
                raise StoreError(f"{origin}: split file {info['file']} is missing")
            if sha256_bytes(text.encode()) != info["sha256"]:
                raise StoreError(f"{origin}: {info['file']} does not match the sha256 in manifest.json")
            splits[name], dup = _parse_lines(text, f"{origin}/{info['file']}")
            if dup:
                duplicates[name] = dup
        return cls(header, splits, sha256_bytes(header_text.encode()), duplicates)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest folder (or its ``manifest.json``)."""
        folder = path.parent if path.name == MANIFEST_FILE else path
        head = folder / MANIFEST_FILE
        if not head.is_file():
            raise StoreError(f"{folder}: no {MANIFEST_FILE} (not a manifest folder)")
        header_text = _read_text(head)
        texts = {}
        for name, info in parse_header(header_text, str(folder))["splits"].items():
            p = folder / info["file"]
            if not p.is_file():
                raise StoreError(f"{p}: manifest split file is missing")
            texts[name] = _read_text(p)
        man = cls.from_texts(header_text, texts, str(folder))
        env = folder / ENVIRONMENT_FILE
        with contextlib.suppress(ValueError, OSError):
            man.environment = json.loads(env.read_text()) if env.is_file() else None
        return man


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: cannot be read ({exc})") from None


def parse_header(text: str, origin: str) -> dict[str, Any]:
    """``manifest.json`` parsed and checked for the keys every reader needs; :class:`StoreError` otherwise."""
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"{origin}: manifest.json is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(header, dict) or header.get("format") not in MANIFEST_FORMATS:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise StoreError(f"{origin}: not an aflw-occ manifest (format {fmt!r})")
    splits = header.get("splits")
    ok = isinstance(splits, dict) and all(isinstance(i, dict) and {"file", "sha256"} <= set(i) for i in splits.values())
    if not ok or "data_version" not in header or "seed" not in header:
        raise StoreError(f"{origin}: manifest.json lacks data_version, seed or a valid splits table")
    return header


def _parse_lines(text: str, origin: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The lines of one split file keyed by id, and the ids listed more than once."""
    rows: dict[str, dict[str, Any]] = {}
    duplicates: list[str] = []
    for n, t in enumerate(text.splitlines(), 1):
        if not t:
            continue
        try:
            row = json.loads(t)
        except json.JSONDecodeError as exc:
            raise StoreError(f"{origin}: line {n} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise StoreError(f"{origin}: line {n} is not a manifest line (no id)")
        if row["id"] in rows:
            duplicates.append(row["id"])
        rows[row["id"]] = row
    return rows, duplicates


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


def write_folder(
    folder: Path,
    header_text: str,
    texts: dict[str, str],
    environment: dict[str, Any] | None = None,
    notes: dict[str, str] | None = None,
) -> None:
    """Write a manifest folder atomically (:func:`aflw_occ.atomic.atomic_folder`), with the building
    ``environment`` as ``environment.json`` and ``notes`` (file name → text, e.g. the build notes): informational,
    outside the manifest hash."""
    header = json.loads(header_text)
    with atomic_folder(folder) as tmp:
        for name, text in texts.items():
            (tmp / header["splits"][name]["file"]).write_text(text)
        if environment is not None:
            (tmp / ENVIRONMENT_FILE).write_text(json.dumps(environment, sort_keys=True, indent=1) + "\n")
        for name, text in (notes or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        (tmp / MANIFEST_FILE).write_text(header_text)
