"""Kernel launches: local work size (tuned or heuristic) and time-limit splitting.

Every kernel's last global dimension runs over output rows (``N * H``). With the session
option ``gpu_kernel_time_limit_ms``, a launch is timed once whole; when it takes longer
than the limit it is split into chunks of rows, enqueued with global offsets and a queue
flush between them, so the GPU can be preempted (e.g. for UI work) between chunks. Chunks
aim at ``SAFETY`` times the limit; while calibrating, a run whose slowest chunk still
exceeds the limit shrinks the chunks again. A kernel measured under the limit then runs
like any other launch (plain queue, no event).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:
    from mace_gpu_opencl.device import GpuRuntime

SAFETY = 0.6  # chunks aim at this fraction of the time limit
CALIBRATION_RUNS = 6  # runs that re-measure the chunks after a split


def event_ms(event: Any) -> float:
    """Device execution time of a finished profiling event, in milliseconds."""
    return (event.profile.end - event.profile.start) * 1e-6


def back_to_back_ms(runtime: GpuRuntime, launches: Sequence[Any]) -> float:
    """GPU time of ``launches`` run back to back: each ``f(wait_for, event)`` enqueues one
    launch on the profiling queue (the first waits on a user event, so all are queued
    before the GPU starts them); ms from the first one's start to the last one's end: what
    launches cost inside a stream of work, for benchmarks. (The tuner times launches
    alone: tuning on back-to-back times made MobileNets 13-16% slower on an H100.)"""
    cl = runtime.cl
    runtime.use_queue(True)
    gate = cl.UserEvent(runtime.context)
    first = launches[0]([gate], True)
    for launch in launches[1:-1]:
        launch(None, False)
    last = launches[-1](None, True) if len(launches) > 1 else first
    gate.set_status(cl.command_execution_status.COMPLETE)
    last.wait()
    return (last.profile.end - first.profile.start) * 1e-6


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@attrs.define
class SplitState:
    """How one global size of one kernel is split: ``rows`` per chunk (None: whole)."""

    rows: int | None
    calibrating: int = 0  # runs left that measure and shrink the chunks


@attrs.frozen
class LaunchRecord:
    """One launch as kept in ``GpuRuntime.trace``: kernel, variant, sizes, its chunks, and
    what :meth:`replay` needs to enqueue it again (its launcher and arguments)."""

    name: str
    variant: str
    gws: tuple[int, ...]
    local: tuple[int, ...] | None
    chunks: list[Chunk]
    launcher: Launcher | None = attrs.field(default=None, eq=False, repr=False)
    args: list[Any] = attrs.field(factory=list, eq=False, repr=False)

    @property
    def ms(self) -> float:
        return sum(c.ms for c in self.chunks)

    def replay(self, wait_for: list[Any] | None = None, event: bool = True) -> Any:
        """Enqueue this launch again, whole, on the profiling queue: its event, or None
        with ``event=False`` (no event object: the cheapest enqueue). For benchmarks that
        time launches back to back (the arguments' buffers must still hold what the
        kernel reads: replay right after the run that recorded it)."""
        assert self.launcher is not None
        return self.launcher.enqueue_again(self.gws, self.args, wait_for, event)


@attrs.define
class Chunk:
    """One enqueue of the last run: first row, row count and its profiling event."""

    start: int
    rows: int
    event: Any

    @property
    def ms(self) -> float:
        return event_ms(self.event)


class Launcher:
    """Enqueues one cl.Kernel of one prepared node.

    Per-run host work is kept small: kernel arguments are set only when they differ from
    the previous launch's (OpenCL keeps them on the kernel object), scalars go through
    typed packing (``set_scalar_arg_dtypes``), and the rounded global size and local size
    of each global size are resolved once (again after the tuner's table changes).
    ``fixed_local`` pins the local size (kernels written for one work-group shape);
    ``internal`` launches (uploads) use the heuristic local size and are neither tuned nor
    traced, like the copies they stand for.
    """

    def __init__(self, runtime: GpuRuntime, kernel: Any, name: str, variant: str,
                 time_limit_ms: float | None = None, tuning: int = 0,
                 fixed_local: tuple[int, ...] | None = None, internal: bool = False) -> None:
        self.runtime = runtime
        self.internal = internal
        self.kernel = kernel
        self.name = name
        self.variant = variant
        self.time_limit_ms = time_limit_ms
        self.tuning = tuning  # candidates to time per new global size (0: no tuning)
        self.fixed_local = fixed_local
        wg_info = runtime.cl.kernel_work_group_info.WORK_GROUP_SIZE
        self.max_work_group = int(kernel.get_work_group_info(wg_info, runtime.device))
        self.splits: dict[tuple[int, ...], SplitState] = {}
        self._chunks: list[Chunk] | None = None  # the last run's chunks when split
        self._event: Any = None  # the last run's event when whole
        self._rows = 0
        self._args: list[Any] | None = None
        self._typed = False
        self._plans: dict[tuple[int, ...], tuple[Any, ...]] = {}
        self._kernel_ptr = kernel.int_ptr

    @property
    def last_chunks(self) -> list[Chunk]:
        """The enqueues of the last run (one chunk unless the launch was split)."""
        if self._chunks is not None:
            return self._chunks
        return [] if self._event is None else [Chunk(0, self._rows, self._event)]

    # -- arguments --------------------------------------------------------------------
    def set_args(self, args: list[Any]) -> None:
        """Set the kernel's arguments unless they equal the last ones set (memory objects
        compare by handle, numpy scalars by value)."""
        if self._args is not None and args == self._args:
            return
        if not self._typed:
            self.kernel.set_scalar_arg_dtypes([_scalar_dtype(a) for a in args])
            self._typed = True
        self.kernel.set_args(*args)
        self._args = list(args)

    # -- local size -------------------------------------------------------------------
    def local_size(self, gws: tuple[int, ...]) -> tuple[int, ...] | None:
        if self.fixed_local is not None:
            return self.fixed_local
        tuner = self.runtime.tuner
        if self.internal:
            return tuner.heuristic(gws, self.max_work_group)
        key = tuner.key(self.name, self.variant, gws)
        if tuner.recording is not None:
            tuner.recording.add(key)
        if self.tuning and key not in tuner.tuned:
            return tuner.tune(key, gws, self.max_work_group, self._time_once, self.tuning)
        found, local = tuner.lookup(key)
        return local if found else tuner.heuristic(gws, self.max_work_group)

    def _plan(self, given: Any) -> tuple[Any, ...]:
        """(global size with every dimension >= 1, that rounded up to the local size, the
        local size, and both as C arrays for the raw enqueue) for the global size
        ``given``; cached per global size until the tuner's table changes."""
        tuner = self.runtime.tuner
        key = given if isinstance(given, tuple) else tuple(given)
        plan = self._plans.get(key)
        if plan is not None and plan[0] == tuner.version and tuner.recording is None:
            return plan
        gws = tuple(max(int(g), 1) for g in key)
        local = self.local_size(gws)
        rounded = gws if local is None else tuple(
            round_up(g, lx) for g, lx in zip(gws, local, strict=True))
        raw = self.runtime.raw
        plan = (tuner.version, gws, rounded, local, raw and raw.sizes(rounded),
                raw and raw.sizes(local))
        # kept unless this size is still to be tuned (a pinned local size never is: not
        # keeping those made every launch of a tuning session plan again, ~10% host time)
        if (self.internal or not self.tuning or self.fixed_local is not None
                or tuner.key(self.name, self.variant, gws) in tuner.tuned):
            self._plans[key] = plan
        return plan

    def _enqueue(self, gws: Sequence[int], local: Sequence[int] | None,
                 offset: Sequence[int] | None = None) -> Any:
        cl = self.runtime.cl
        if local is not None:
            gws = [round_up(g, lx) for g, lx in zip(gws, local, strict=True)]
        return cl.enqueue_nd_range_kernel(self.runtime.queue, self.kernel, tuple(gws),
                                          None if local is None else tuple(local),
                                          None if offset is None else tuple(offset))

    def enqueue_again(self, gws: tuple[int, ...], args: list[Any],
                      wait_for: list[Any] | None = None, event: bool = True) -> Any:
        """One whole launch on the profiling queue with these arguments: its event, or
        None (``event=False`` where the event-less enqueue is available)."""
        self.set_args(args)
        runtime = self.runtime
        queue = runtime.use_queue(True)
        _, _, rounded, local, raw_gws, raw_local = self._plan(gws)
        if not event and not wait_for and runtime.raw is not None:
            runtime.raw(queue.int_ptr, self._kernel_ptr, len(rounded), raw_gws, raw_local)
            return None
        return runtime.cl.enqueue_nd_range_kernel(queue, self.kernel, rounded, local,
                                                  wait_for=wait_for)

    def _time_once(self, gws: tuple[int, ...], local: tuple[int, ...] | None) -> float:
        self.runtime.use_queue(True)
        event = self._enqueue(gws, local)
        event.wait()
        return event_ms(event)

    # -- running ----------------------------------------------------------------------
    def __call__(self, gws: Sequence[int], args: list[Any]) -> None:
        self.set_args(args)
        _, gws, rounded, local, raw_gws, raw_local = self._plan(gws)
        runtime = self.runtime
        traced = runtime.trace is not None and not self.internal
        if self.time_limit_ms and (traced or self._needs_timing(gws)):
            runtime.use_queue(True)
            self._launch_limited(gws, local)
        else:
            self._chunks = None
            self._rows = gws[-1]
            queue = runtime.use_queue(traced)
            if runtime.raw is not None and queue is runtime.plain_queue:
                self._event = None
                runtime.raw(runtime.queue_ptr, self._kernel_ptr, len(rounded), raw_gws,
                            raw_local)
            else:
                self._event = runtime.cl.enqueue_nd_range_kernel(queue, self.kernel,
                                                                 rounded, local)
            if runtime.flush_every:
                runtime.launches += 1
                if runtime.launches % runtime.flush_every == 0:
                    queue.flush()
            elif runtime.flush_interval:
                now = time.perf_counter()
                if now - runtime.last_flush >= runtime.flush_interval:
                    queue.flush()
                    runtime.last_flush = now
        if traced:
            runtime.trace.append(
                LaunchRecord(self.name, self.variant, gws, local, list(self.last_chunks),
                             self, list(args)))

    def _needs_timing(self, gws: tuple[int, ...]) -> bool:
        """Whether a launch under the time limit goes through the timed path: its first
        launch (measured), and every launch of a kernel that is split. One measured under
        the limit runs like any other launch from then on."""
        state = self.splits.get(gws)
        return state is None or (state.rows is not None and state.rows < gws[-1])

    def _launch_limited(self, gws: tuple[int, ...], local: tuple[int, ...] | None) -> None:
        limit = self.time_limit_ms
        assert limit
        state = self.splits.get(gws)
        self._event = None
        if state is None:
            event = self._enqueue(gws, local)
            event.wait()
            self._chunks = [Chunk(0, gws[-1], event)]
            took = event_ms(event)
            state = SplitState(rows=None)
            if took > limit:
                state = SplitState(self._chunk_rows(gws[-1], gws[-1], took, local),
                                   calibrating=CALIBRATION_RUNS)
            self.splits[gws] = state
            return
        if state.rows is None or state.rows >= gws[-1]:
            self._chunks = [Chunk(0, gws[-1], self._enqueue(gws, local))]
            return
        self._run_split(gws, local, state)

    def _chunk_rows(self, total: int, rows: int, took_ms: float,
                    local: tuple[int, ...] | None) -> int:
        """Rows per chunk so that a chunk of ``rows`` rows that took ``took_ms`` becomes
        about SAFETY x limit (at least one row, or one work-group of rows)."""
        step = local[-1] if local else 1
        want = rows * SAFETY * self.time_limit_ms / max(took_ms, 1e-9)
        return min(total, max(step, int(want) // step * step))

    def _run_split(self, gws: tuple[int, ...], local: tuple[int, ...] | None,
                   state: SplitState) -> None:
        queue = self.runtime.queue
        total, rows = gws[-1], state.rows
        assert rows is not None
        chunks = []
        for start in range(0, total, rows):
            count = min(rows, total - start)
            sizes = (*gws[:-1], count)
            offset = (0,) * (len(gws) - 1) + (start,)
            chunks.append(Chunk(start, count, self._enqueue(sizes, local, offset)))
            queue.flush()
        self._chunks = chunks
        if state.calibrating:
            state.calibrating -= 1
            chunks[-1].event.wait()
            slowest = max(chunks, key=lambda c: c.ms)
            if slowest.ms > self.time_limit_ms and rows > (local[-1] if local else 1):
                state.rows = self._chunk_rows(total, slowest.rows, slowest.ms, local)
            elif slowest.ms <= self.time_limit_ms:
                state.calibrating = 0


def _scalar_dtype(value: Any) -> Any:
    """The numpy dtype a scalar kernel argument is packed as (None: a memory object)."""
    if isinstance(value, np.generic):
        return value.dtype
    if isinstance(value, bool | int):
        return np.int32
    if isinstance(value, float):
        return np.float32
    return None


def heuristic_local(gws: Sequence[int], max_work_group: int, cpu: bool
                    ) -> tuple[int, ...] | None:
    """A local size without tuning: the driver's choice on CPU devices; on GPUs up to 64
    work items, a few channel blocks by a run of columns by rows."""
    if cpu:
        return None
    budget = min(max_work_group, 64)
    local = []
    caps = (4, 16, 64) if len(gws) == 3 else (16, 64)
    for g, cap in zip(gws, caps, strict=False):
        size = min(1 << (max(int(g), 1).bit_length() - 1), cap, budget)
        budget = max(1, budget // size)
        local.append(size)
    return tuple(local)
