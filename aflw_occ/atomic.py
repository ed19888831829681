"""Atomic output files: write beside the target under a temporary name, rename over it only when complete.

Every writer of the package goes through :func:`atomic_path` (a file) or :func:`atomic_folder` (a folder of files,
such as a manifest), so an interrupted or failed write never leaves a half-written file or folder under the final
name (the previous one, if any, stays as it was).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import AflwOccError
from .oserrors import STORAGE_ERRNOS, describe_os_error, os_errno


@contextmanager
def atomic_path(out: str | Path, *, make_parent: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary path in ``out``'s folder (same suffix, so format-sniffing writers work); on a normal
    exit it is renamed over ``out``, on an exception it is deleted and the exception propagates.

    Raises :class:`AflwOccError` naming ``out`` when its folder does not exist (unless ``make_parent``).
    """
    out = Path(out)
    if make_parent:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AflwOccError(f"{out}: cannot create its folder: {describe_os_error(exc)}") from None
    elif not out.parent.is_dir():
        what = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise AflwOccError(f"{out}: folder {out.parent} {what}")
    # a fresh name, not a file: the writer creates it, with the usual permissions (mkstemp's would be 0600)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp{out.suffix}")
    try:
        yield tmp
        os.replace(tmp, out)
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) not in (tmp, out, out.parent):
            raise  # about another file: its own message
        if exc.filename is None and os_errno(exc) not in STORAGE_ERRNOS:
            raise

        exc.filename = None  # name the file the user asked for, not the temporary one
        raise AflwOccError(f"{out}: cannot be written: {describe_os_error(exc)}") from None
    finally:
        if os.path.lexists(tmp):  # (unlink on a read-only file system fails even for a missing file)
            tmp.unlink()


def write_text_atomic(out: str | Path, text: str, *, make_parent: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``out`` atomically (:func:`atomic_path`). Returns ``out`` as a Path."""
    with atomic_path(out, make_parent=make_parent) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(out)


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out`` (``.<name>.<random>.tmp``, created with the usual permissions,
    parents made); on a normal exit it replaces ``out`` (an existing ``out`` is first renamed to ``<name>.old``, then
    removed), on an exception it is deleted and the exception propagates."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            old = out.with_name(out.name + ".old")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
