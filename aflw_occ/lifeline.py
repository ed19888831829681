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
* a watchdog thread in each worker (any platform): it ends the worker once its parent changed (re-parented) or the
  driver ended (``pidfd`` on Linux, else a poll). This also covers a forkserver that could not be armed (it imports
  nothing when BLAS runs multi-threaded): every worker holds the forkserver's "alive" pipe, so the forkserver ends
  once the workers have.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
import time

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


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False


def _watch(parent: int, driver: int | None) -> None:
    pidfd = None
    if driver is not None and hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(driver)  # readable once the driver has ended (no pid-reuse race)
    while True:
        if os.getppid() != parent:
            os._exit(1)  # nothing to clean: the driver owns the output and cleans up or is gone
        if pidfd is not None:
            if select.select([pidfd], [], [], WATCH_INTERVAL)[0]:
                os._exit(1)
            continue
        if driver is not None and _gone(driver):
            os._exit(1)
        time.sleep(WATCH_INTERVAL)


def start_watchdog(parent: int | None = None, driver: int | None = None) -> threading.Thread:
    """A daemon thread that ends this process once its parent (``os.getppid()`` now, or ``parent``) or the
    ``driver`` process (the build's main process, when it is not the parent) is gone."""
    parent = os.getppid() if parent is None else parent
    t = threading.Thread(target=_watch, args=(parent, driver), name="aflw-occ-parent-watchdog", daemon=True)
    t.start()
    return t


def arm_worker(driver: int | None = None) -> None:
    """Run first in a worker: dies with its parent and with ``driver`` (the process that made the pool; a forkserver
    worker's parent is the forkserver, which keeps running while any worker does), and ignores SIGINT (a Ctrl-C
    reaches the whole foreground process group; the driver handles it and stops the workers itself, so they print no
    traceback of their own)."""
    parent = os.getppid()
    set_parent_death_signal()
    with contextlib.suppress(ValueError):  # not the main thread: leave the handler alone
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != parent or (driver is not None and _gone(driver)):  # gone before the signal was armed
        os._exit(1)
    start_watchdog(parent, driver if driver != parent else None)
