"""Worker processes that cannot deadlock on inherited thread pools.

Forking a process whose OpenCV / BLAS / OpenMP thread pools are already running can leave a lock held in the child
(seen here: a forked worker hangs in ``cv2.setNumThreads``). Workers are therefore started from a clean
``forkserver`` process (``spawn`` where fork is unavailable), and each worker runs single-threaded libraries:
with N workers on N cores, multi-threaded BLAS inside each worker oversubscribes the machine (measured: a
2-worker build ran 1.8× slower).

The forkserver imports the modules the workers need (``preload``) once, before it forks them: each worker then starts
with numpy, OpenCV and the package already imported (measured: a 2-worker NSOD build 1.1 s faster). Importing
them starts no thread (BLAS is single-threaded by then; if the environment asks for more BLAS threads, nothing is
preloaded), so forking the server stays safe. The forkserver is started once per process, by the first pool: its
``preload`` is the one that counts.

The workers and the forkserver die with the driver (:mod:`aflw_occ.lifeline`): the forkserver is started from the
calling thread (the parent-death signal is tied to the thread that starts a process) and arms itself first thing;
each worker arms itself before the pool's initialiser runs. :func:`stop_pool` ends a pool at once (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: imported first by the forkserver: it dies with the driver (:mod:`aflw_occ.lifeline`)
ARM_MODULE = "aflw_occ._forkserver_arm"


def process_pool(
    workers: int,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
    preload: Sequence[str] = (),
) -> ProcessPoolExecutor:
    """A process pool whose workers start from a clean interpreter state (with the ``preload`` modules imported)."""
    for var in SINGLE_THREAD_ENV:  # read by BLAS / OpenMP when the worker imports numpy
        os.environ.setdefault(var, "1")
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    single_threaded = all(os.environ[var] == "1" for var in SINGLE_THREAD_ENV)
    if ctx.get_start_method() == "forkserver":
        # importing the package imports numpy: only when BLAS is single-threaded (no thread in the forkserver)
        ctx.set_forkserver_preload([ARM_MODULE, *preload] if single_threaded else [])
        # started here, not by the thread that submits the first task: that thread may end before the pool does,
        # and the forkserver's parent-death signal would then kill it
        multiprocessing.forkserver.ensure_running()
    return ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_armed_initializer, initargs=(os.getpid(), initializer, tuple(initargs))
    )


def _armed_initializer(driver: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    from .lifeline import arm_worker

    arm_worker(driver)
    if initializer is not None:
        initializer(*initargs)


def stop_pool(pool: ProcessPoolExecutor, failed: bool) -> None:
    """Leave a pool: wait for its work after a normal exit; after a failure or an interrupt, cancel the tasks not
    started and end the running workers now (their blocks are not written; a resumed build computes them again)."""
    if failed:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
