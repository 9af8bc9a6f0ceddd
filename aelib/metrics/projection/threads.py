"""The worker threads: one pool per process, one thread per CPU, and BLAS held to one thread."""
from __future__ import annotations

import os

_POOL = None


def _n_threads() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _pool():
    """The shared thread pool (started on first use, one thread per CPU)."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=_n_threads(), thread_name_prefix="aelib-projection")
    return _POOL


def _blas_one_thread():
    """A context limiting BLAS to one thread (threadpoolctl), or None without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return None
    return threadpool_limits(limits=1, user_api="blas")

