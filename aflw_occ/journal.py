"""A build's journal (``OUT/.journal-<version>/``): the build's identity (``identity.json``) and one pickle per
finished block (``block-NNNNN.pkl``), each written atomically, so an interrupted build resumes from its finished
blocks and shards of one build share them.
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
import shutil
from pathlib import Path
from typing import Any

from .atomic import atomic_path
from .build_plan import BuildError, BuildPlan
from .errors import StoreError


def journal_blocks(journal: Path) -> set[int]:
    """The numbers of the finished blocks in ``journal``."""
    return {int(p.stem.split("-")[1]) for p in journal.glob("block-*.pkl")}


def open_journal(plan: BuildPlan, identity: dict[str, Any]) -> Path:
    """The build's journal folder: reused on ``--resume`` (or by another shard) when it belongs to the same build,
    started afresh otherwise; an interrupted build with other options is an error. A new journal appears with its
    identity already inside (:func:`_create`), so a shard starting at the same moment never sees it half made."""
    journal = plan.out / f".journal-{plan.version}"
    if journal.exists() and not plan.resume and plan.shard == (1, 1):
        shutil.rmtree(journal)
    if not journal.exists():
        _create(journal, identity)
    ident_file = journal / "identity.json"
    old = json.loads(ident_file.read_text()) if ident_file.is_file() else None
    if old != identity:
        differ = _differences(old or {}, identity)
        raise BuildError(
            f"{journal}: holds an interrupted build with other options ({', '.join(differ)}); "
            "rerun without --resume to start over"
        )
    return journal


def _create(journal: Path, identity: dict[str, Any]) -> None:
    """Make the journal folder with its ``identity.json`` under a temporary name, then rename it into place. When
    another shard's rename wins (the folder exists by then, never empty), this one's temporary folder is dropped and
    the caller compares identities."""
    tmp = journal.with_name(f"{journal.name}.{secrets.token_hex(6)}.tmp")
    tmp.mkdir(parents=True)
    try:
        (tmp / "identity.json").write_text(json.dumps(identity, sort_keys=True, indent=1))
        try:
            os.rename(tmp, journal)
        except OSError:
            if not journal.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """The keys whose values differ (``inputs.eval_dir``: nested dicts by their inner keys)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key == "inputs":
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def load_block(journal: Path, block: int, identity_sha: str) -> dict[str, Any]:
    """One journal block's payload, checked to belong to the build ``identity_sha``."""
    path = journal / f"block-{block:05d}.pkl"
    with path.open("rb") as fh:
        payload: dict[str, Any] = pickle.load(fh)
    if payload["identity_sha256"] != identity_sha or payload["block"] != block:
        raise StoreError(f"{path}: journal block belongs to another build")
    return payload


def write_block(journal: Path, block: int, payload: dict[str, Any]) -> Path:
    """Write one block's payload to the journal atomically (:func:`aflw_occ.atomic.atomic_path`). Returns its path."""
    final = journal / f"block-{block:05d}.pkl"
    with atomic_path(final) as tmp, tmp.open("wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return final
