"""The C thread pool, one per thread count, shared by the sessions that ask for it.

A session's ``cpu_threads`` option (``Model.session(..., cpu_threads=N)``, CLI
``--threads``) reaches every prepared kernel; all kernels of the session then share one
pool, created on first use. Threads are never created per op. The pool lives while any
prepared kernel holds it.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from mace_core.errors import MaceError

from mace_cpu.native import load


def default_threads() -> int:
    """Cores this process may run on (affinity mask), else the online cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class ThreadPool:
    """A ``mc_threads`` pool of ``count`` threads (the caller's thread is one of them)."""

    def __init__(self, count: int) -> None:
        ffi, lib = load()
        raw = lib.mc_threads_create(count)
        if raw == ffi.NULL:
            raise MaceError(f"could not create a pool of {count} CPU threads")
        self.ptr = ffi.gc(raw, lib.mc_threads_destroy)
        self.count = int(lib.mc_threads_count(raw))

    def __repr__(self) -> str:
        return f"<ThreadPool {self.count} threads>"


_pools: weakref.WeakValueDictionary[int, ThreadPool] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def set_grain(scale: float) -> None:
    """Scale the work per thread below which a job runs on fewer threads of the pool
    (default 1.0; 0 splits every job over the whole pool, as the tests do)."""
    _, lib = load()
    lib.mc_set_grain(float(scale))


def threads_option(options: Mapping[str, Any]) -> int:
    """The thread count asked for by session options (default: :func:`default_threads`)."""
    value = options.get("cpu_threads")
    if value is None or value == 0:
        return default_threads()
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise MaceError(f"cpu_threads must be a positive integer, got {value!r}") from None
    if count < 0:
        raise MaceError(f"cpu_threads must be a positive integer, got {count}")
    return count


def pool_for(options: Mapping[str, Any]) -> ThreadPool:
    """The shared pool for the thread count in ``options``."""
    count = threads_option(options)
    with _lock:
        pool = _pools.get(count)
        if pool is None:
            pool = ThreadPool(count)
            _pools[count] = pool
        return pool
