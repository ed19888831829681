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
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
    if preload and single_threaded and ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(list(preload))
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=initializer, initargs=initargs)
