"""Files made once per test session and shared by every pytest-xdist worker (expensive inputs several test modules
need, e.g. a DSFNet UV basis): the first caller writes the file under a lock, later callers in any worker read it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest


def session_file(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]) -> Path:
    """``<session temp>/session-cache/<name>``, written by ``make(path)`` if no worker has written it yet.

    Under xdist every worker's base temp folder is a child of one session folder, which is where the file goes;
    ``make`` must write ``path`` completely (an atomic write) or raise, and give the same bytes in every process."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / "session-cache" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.is_file():
                make(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path


def uv_basis_file(tmp_path_factory: pytest.TempPathFactory, shared: Path, n_shape: int, n_exp: int) -> Path:
    """The DSFNet UV basis of the shared 3DDFA BFM subset (``n_shape`` / ``n_exp`` components), built once per
    session by :func:`dsfnet_model.basis.build_basis` and saved with :meth:`UVBasis.save` (exact float32 arrays)."""
    from dsfnet_model.basis import build_basis

    def make(path: Path) -> None:
        build_basis(shared / "data" / "bfm-3ddfa", shared / "data" / "uv", n_shape=n_shape, n_exp=n_exp).save(path)

    return session_file(tmp_path_factory, f"dsfnet_uv_basis_{n_shape}_{n_exp}.npz", make)
