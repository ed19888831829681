"""Fingerprints of the files outside the source images that change a build's output, for its resume identity.

A resumed build (``--resume``, or another ``--shard``) reuses the journal blocks of the build it continues only if
every input that changes the output is the same: besides the options, the 3DDFA evaluation files (re-annotated
landmarks, crop boxes), the occluder files behind ``--occluders`` (NSOD, RandOcc), the segmenter weights behind
``--skin`` (NOD) and the ``--bfm`` folder. Small files are hashed (sha256 of the content); folders, which can hold
thousands of files, by the name, size and modification time of every file below them (cheap, and changed by any
edit or copy).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .builders.occluders.tuxpaint import default_tuxpaint_path
from .builders.registry import subset
from .hashing import sha256_file
from .source import NAME_LIST_FILE, REANNOTATED_FILE, ROI_BOX_FILE

#: files up to this size are fingerprinted by content, larger ones by size and modification time
CONTENT_LIMIT = 1 << 30


def file_fingerprint(path: Path) -> str:
    """sha256 of a file's content (``size:mtime`` above :data:`CONTENT_LIMIT`)."""
    st = path.stat()
    if st.st_size > CONTENT_LIMIT:
        return f"stat:{st.st_size}:{st.st_mtime_ns}"
    return sha256_file(path)


def tree_fingerprint(path: Path) -> str:
    """A fingerprint of a file (its content) or of a folder (name, size, mtime of every file below it, sorted)."""
    path = Path(path)
    if path.is_file():
        return file_fingerprint(path)
    if not path.is_dir():
        return "missing"
    lines = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            try:
                st = p.stat()
            except OSError:
                continue
            lines.append(f"{p.relative_to(path).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n")
    return "tree:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def eval_dir_fingerprint(eval_dir: Path | None) -> str | None:
    """Content fingerprint of the 3DDFA files a source reads from ``eval_dir`` (None without one)."""
    if eval_dir is None:
        return None
    h = hashlib.sha256()
    for name in (NAME_LIST_FILE, REANNOTATED_FILE, ROI_BOX_FILE):
        p = Path(eval_dir) / name
        h.update(f"{name}\t{file_fingerprint(p) if p.is_file() else 'missing'}\n".encode())
    return h.hexdigest()


def occluder_paths(specs: Iterable[str]) -> list[Path]:
    """The files and folders behind ``--occluders`` specs (``default`` without a path: the default stamps folder)."""
    paths: list[Path] = []
    for spec in specs:
        kind, sep, rest = spec.partition(":")
        args = [a.strip() for a in rest.split(",") if a.strip()] if sep else []
        if kind.strip().lower() in ("default", "tuxpaint") and not args:
            try:
                paths.append(default_tuxpaint_path())
            except Exception:  # not found: the builder says so with its own message
                continue
        paths.extend(Path(a).expanduser() for a in args if Path(a).expanduser().exists())
    return paths


def segmenter_path(skin: str) -> Path | None:
    """The weights file of a ``--skin`` spec such as ``bisenet:PATH`` (None for the built-in segmenters)."""
    _, sep, rest = skin.partition(":")
    return Path(rest).expanduser() if sep and rest else None


def _occluder_files(options: Any) -> tuple[str, Any]:
    return "occluders", {str(p): tree_fingerprint(p) for p in occluder_paths(options.occluders)}


def _segmenter_file(options: Any) -> tuple[str, Any]:
    weights = segmenter_path(options.skin)
    return "segmenter", tree_fingerprint(weights) if weights is not None else None


#: option a subset reads its input files through (``Subset.input_options``) → its identity entry (key, fingerprint)
INPUT_FINGERPRINTS: dict[str, Callable[[Any], tuple[str, Any]]] = {
    "occluders": _occluder_files,
    "skin": _segmenter_file,
}


def build_inputs(subsets: Iterable[str], options: Any, eval_dir: Path | None) -> dict[str, Any]:
    """The resume-identity entry of a build's input files: what each one holds now (the 3DDFA evaluation files, the
    files behind each option the built subsets declare in ``input_options``, the ``--bfm`` folder)."""
    out: dict[str, Any] = {"eval_dir": eval_dir_fingerprint(eval_dir)}
    read = {opt for name in subsets for opt in subset(name).input_options}
    for opt, fingerprint in INPUT_FINGERPRINTS.items():
        if opt in read:
            key, value = fingerprint(options)
            out[key] = value
    if options.bfm is not None:
        out["bfm"] = tree_fingerprint(Path(options.bfm))
    return out
