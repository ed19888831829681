"""Operating-system errors as one line: what failed, where, and what to do (disk full, read-only, permissions).

Used by every writer (:mod:`aflw_occ.atomic`, the build's output folder, the CLI's last-resort handler).
"""

from __future__ import annotations

import errno
import os

_HINTS = {
    errno.ENOSPC: "free some space (or choose another --out), then re-run; a build continues with --resume",
    errno.EDQUOT: "free some space (or choose another --out), then re-run; a build continues with --resume",
    errno.EROFS: "the file system is read-only; choose another --out",
    errno.EACCES: "no permission; choose another --out or fix its permissions",
    errno.EPERM: "no permission; choose another --out or fix its permissions",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "a folder is in the way of a file",
}


#: errors of the file system being written to (not of the data): disk full, read-only, permissions, a path in the way
STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EFBIG}
)


def os_errno(exc: BaseException) -> int | None:
    """The errno of an OSError, also when a library (HDF5) only names it in its message."""
    if isinstance(exc, OSError) and exc.errno:
        return int(exc.errno)
    text = str(exc)
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
        if f"errno = {code}," in text or os.strerror(code) in text:
            return code
    return None


def describe_os_error(exc: BaseException) -> str:
    """One line for an OSError: what failed, where, and what to do."""
    code = os_errno(exc)
    where = getattr(exc, "filename", None)
    what = os.strerror(code) if code else (getattr(exc, "strerror", None) or str(exc).splitlines()[0])
    line = f"{where}: {what}" if where else what
    hint = _HINTS.get(code) if code else None
    return f"{line} ({hint})" if hint else line
