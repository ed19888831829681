"""A build's output folder: who owns it (a lock), what it may replace, and what a build leaves behind.

* :class:`OutLock` — a build holds ``OUT/.aflw-occ.lock`` (``fcntl.flock``) while it runs: exclusively for a whole
  build and for the step that assembles the store; shared while one shard of several computes its blocks (shards of
  one build may run at the same time). A second build into the same folder fails at once with one line naming the
  pid(s) of the build(s) that hold it. The lock file is removed by the last holder.
* :func:`check_overwrite` — a folder that already holds a store (or the manifest folder) of the version is replaced
  only with ``--overwrite``.
* :func:`remove_leftovers` — the temporary files a killed build leaves (the store's ``.aflw-occ-<v>.h5.<rand>.tmp.h5``,
  the manifest's ``.manifest-<v>.<rand>/`` and ``manifest-<v>.old/``, a journal's ``.block-*.tmp*``, a half-made
  journal ``.journal-<v>.<rand>.tmp/``) are removed by the next build that owns the folder and again when a build
  finishes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from .errors import AflwOccError
from .oserrors import describe_os_error
from .store.versions import store_filename

LOCK_NAME = ".aflw-occ.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock (documented)
    fcntl = None  # type: ignore[assignment]


class OutFolderError(AflwOccError):
    """The output folder is held by another build, holds a store that would be replaced, or cannot be written."""


def _holders(path: Path) -> list[int]:
    """The live pids recorded in a lock file (one per line)."""
    try:
        text = path.read_text()
    except OSError:
        return []
    proc = Path("/proc").is_dir()
    pids = {int(tok) for tok in text.split() if tok.isdigit() and (not proc or Path(f"/proc/{tok}").exists())}
    return sorted(pids)


class OutLock:
    """``flock`` on ``out/.aflw-occ.lock``: exclusive (``shared=False``) or shared; never waits unless told to.

    Raises :class:`OutFolderError` naming the other build's pid when the folder is held.
    """

    def __init__(self, out: Path, *, shared: bool = False) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self.shared = shared
        self.fd: int | None = None

    def __enter__(self) -> OutLock:
        self.acquire(shared=self.shared)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def acquire(self, *, shared: bool = False, wait: bool = False) -> None:
        if fcntl is None:
            return
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
        while True:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(self.fd, mode)
            except BlockingIOError:
                pids = _holders(self.path)
                who = f"pid {', '.join(map(str, pids))}" if pids else "another process"
                self._close()
                raise OutFolderError(
                    f"{self.out}: another aflw-occ build ({who}) is writing into this folder; wait for it to end, "
                    "or stop it, or use another --out"
                ) from None
            # the holder before us may have removed the file after we opened it: lock the file that is there now
            try:
                same = os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            self._close()
        self.shared = shared
        self._record()

    def _record(self) -> None:
        """Write this pid into the lock file (alone when exclusive, added to the others' when shared)."""
        assert self.fd is not None
        mine = str(os.getpid())
        if self.shared:
            others = [str(p) for p in _holders(self.path) if p != os.getpid()]
            text = "\n".join([*others, mine]) + "\n"
        else:
            text = mine + "\n"
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, text.encode(), 0)

    def exclusive(self, *, wait: bool = True) -> None:
        """Turn a shared lock into an exclusive one (waits for the other holders by default)."""
        self.acquire(shared=False, wait=wait)

    def release(self) -> None:
        """Unlock; the lock file is removed when no other build holds it."""
        if self.fd is None or fcntl is None:
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else holds it: remove the file
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                    self.path.unlink()
        except BlockingIOError:  # other shards still hold it: drop our pid from it
            with contextlib.suppress(OSError):
                text = "".join(f"{p}\n" for p in _holders(self.path) if p != os.getpid())
                self.path.write_text(text)
        self._close()

    def _close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)  # closing releases the flock
            self.fd = None


def prepare_out(out: Path) -> bool:
    """Create ``out`` (and its parents) if needed; one-line errors for a path that is not a folder or not writable.
    Returns True when this call created it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutFolderError(f"{out}: output path exists and is not a folder; choose a folder for --out")
    existed = out.is_dir()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutFolderError(f"{out}: a part of this path is a file, not a folder; choose another --out") from None
    except OSError as exc:
        raise OutFolderError(f"cannot create the output folder: {describe_os_error(exc)}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutFolderError(f"{out}: output folder is not writable; choose another --out or fix its permissions")
    return not existed


def check_overwrite(out: Path, version: str, overwrite: bool) -> None:
    """Refuse (one line) to build into a folder that holds a store or manifest of ``version`` without ``overwrite``."""
    held = [p.name for p in (out / store_filename(version), out / f"manifest-{version}") if p.exists()]
    if held and not overwrite:
        raise OutFolderError(
            f"{out}: already holds {' and '.join(held)}; pass --overwrite to replace it, or choose another --out"
        )


def leftovers(out: Path, version: str) -> list[Path]:
    """Temporary files and folders of interrupted builds of ``version`` in ``out`` (only meaningful under the lock)."""
    found = [
        *out.glob(f".{store_filename(version)}.*.tmp.h5"),
        *out.glob(f".manifest-{version}.*"),
        *out.glob(f"manifest-{version}.old"),
        *(out / f".journal-{version}").glob(".block-*.tmp*"),
        *(out / f".journal-{version}").glob(".identity*.tmp*"),
        *out.glob(f".journal-{version}.*.tmp"),
    ]
    return sorted(found)


def remove_leftovers(out: Path, version: str) -> list[Path]:
    """Remove :func:`leftovers` (call only while holding the folder's exclusive lock). Returns what was removed."""
    gone = []
    for p in leftovers(out, version):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        gone.append(p)
    return gone
