"""Child processes that die with the process that started them.

A build's workers are forked by a ``forkserver`` process, itself started by the build's driver (the ``aflw-occ``
process). If only the driver dies (``kill -9``, the OOM killer, ``kill PID``), nothing else would stop them: the
workers wait forever on their task queue, the forkserver on its clients, and all of them keep the driver's stdout open
(``aflw-occ build … | cat`` would never end). Two guards:

* the parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``): the kernel kills the process when its parent
  goes away. The forkserver imports :mod:`aflw_occ._forkserver_arm` first (its preload), which sets it;
  :func:`arm_worker` arms each worker (whose parent is the forkserver, so the chain driver → forkserver → workers
  holds). The signal fires when the *thread* that started the child ends, so the forkserver must be started from the
  driver's main thread (:func:`aflw_occ.parallel.process_pool` does).
* a watchdog thread in each worker (any platform; also covers a parent that was already gone before ``prctl``): it
  polls ``os.getppid()`` and ends the worker once it changed (the worker was re-parented).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
#: seconds between two checks of the watchdog
WATCH_INTERVAL = 0.5


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent ends (Linux only). True if it is set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # nothing to clean: the driver owns the output and is gone
        threading.Event().wait(WATCH_INTERVAL)


def start_watchdog(parent: int | None = None) -> threading.Thread:
    """A daemon thread that ends this process once its parent (``os.getppid()`` now, or ``parent``) is gone."""
    parent = os.getppid() if parent is None else parent
    t = threading.Thread(target=_watch, args=(parent,), name="aflw-occ-parent-watchdog", daemon=True)
    t.start()
    return t


def arm_worker() -> None:
    """Run first in a worker: dies with its parent, and ignores SIGINT (a Ctrl-C reaches the whole foreground process
    group; the driver handles it and stops the workers itself, so they print no traceback of their own)."""
    parent = os.getppid()
    set_parent_death_signal()
    with contextlib.suppress(ValueError):  # not the main thread: leave the handler alone
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    start_watchdog(parent)
