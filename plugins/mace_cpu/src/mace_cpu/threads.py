"""The C thread pool, one per thread count and CPU set, shared by the sessions that ask for it.

A session's ``cpu_threads`` option (``Model.session(..., cpu_threads=N)``, CLI
``--threads``) reaches every prepared kernel; all kernels of the session then share one
pool, created on first use. Threads are never created per op. The pool lives while any
prepared kernel holds it. ``cpu_affinity`` (CLI ``--cpu-affinity``, see
:mod:`mace_cpu.affinity`) pins a pool to a set of cores; ``cpu_linger_us`` sets how long
its workers keep spinning after a fused run (default 1000 us, or $MACE_CPU_LINGER_US; 0
saves the power a phone would spend spinning, for about 1% of speed here). Pools are
shared per (thread count, cores, linger).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from mace_core.errors import MaceError

from mace_cpu.affinity import affinity_option, format_cpus
from mace_cpu.native import load


def default_threads() -> int:
    """Cores this process may run on (affinity mask), else the online cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class ThreadPool:
    """A ``mc_threads`` pool of ``count`` threads (the caller's thread is one of them),
    pinned to ``cpus`` when given."""

    def __init__(self, count: int, cpus: tuple[int, ...] | None = None,
                 linger_us: int | None = None) -> None:
        ffi, lib = load()
        self.cpus = cpus
        if cpus is None:
            raw = lib.mc_threads_create(count)
        else:
            error = ffi.new("int *")
            raw = lib.mc_threads_create_pinned(count, list(cpus), len(cpus), error)
            if raw == ffi.NULL and error[0]:
                raise MaceError(
                    f"cannot pin {count} CPU threads to CPU(s) {format_cpus(cpus)}: "
                    f"{os.strerror(error[0])} (errno {error[0]}); the OS refused the CPU "
                    "affinity: use cpu_affinity='none', or CPUs this process may use")
        if raw == ffi.NULL:
            raise MaceError(f"could not create a pool of {count} CPU threads")
        self.ptr = ffi.gc(raw, lib.mc_threads_destroy)
        self.count = int(lib.mc_threads_count(raw))
        if linger_us is not None:
            lib.mc_threads_set_linger(raw, linger_us)
        self.linger_us = int(lib.mc_threads_linger_us(raw))

    def __repr__(self) -> str:
        where = f" on CPUs {format_cpus(self.cpus)}" if self.cpus else ""
        return f"<ThreadPool {self.count} threads{where}>"


PoolKey = tuple[int, tuple[int, ...] | None, int | None]
_pools: weakref.WeakValueDictionary[PoolKey, ThreadPool] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def set_grain(scale: float) -> None:
    """Scale the work per thread below which a job runs on fewer threads of the pool
    (default 1.0; 0 splits every job over the whole pool, as the tests do)."""
    _, lib = load()
    lib.mc_set_grain(float(scale))


def threads_option(options: Mapping[str, Any]) -> int:
    """The thread count asked for by session options (default: the cores of
    ``cpu_affinity`` when set, else :func:`default_threads`)."""
    value = options.get("cpu_threads")
    if value is None or value == 0:
        cpus = affinity_option(options)
        return len(cpus) if cpus else default_threads()
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise MaceError(f"cpu_threads must be a positive integer, got {value!r}") from None
    if count < 0:
        raise MaceError(f"cpu_threads must be a positive integer, got {count}")
    return count


def linger_option(options: Mapping[str, Any]) -> int | None:
    """``cpu_linger_us`` (None: the default, or $MACE_CPU_LINGER_US)."""
    value = options.get("cpu_linger_us")
    if value is None:
        return None
    try:
        us = int(value)
    except (TypeError, ValueError):
        us = -1
    if us < 0 or (isinstance(value, float) and not value.is_integer()):
        raise MaceError(f"cpu_linger_us must be a whole number of microseconds >= 0 (0: "
                        f"workers sleep right after a run), got {value!r}")
    return us


def pool_for(options: Mapping[str, Any]) -> ThreadPool:
    """The shared pool for the thread count, CPU affinity and linger in ``options``."""
    key = (threads_option(options), affinity_option(options), linger_option(options))
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            pool = ThreadPool(*key)
            _pools[key] = pool
        return pool
