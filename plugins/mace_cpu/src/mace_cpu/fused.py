"""Fused partitions: the cpu device runs a partition by one C call over a step list.

Each prepared cpu kernel that maps to one C call records how (its ``native_step``: which
``mc_step`` entry point, its plan or parameters, which inputs it reads, its output slot);
views (Reshape, Flatten, Squeeze, Unsqueeze) record that their output is their input.
:func:`fuse` turns a partition into ``mc_step`` lists (one per run of such ops; the other
ops' Python runners are called in between) and a table of buffer pointers (arena slots and
constants fixed now, the partition's inputs and outputs without a slot set per run); the
session then calls one runner for the whole partition instead of one per op. The kernels
and buffers are those of the per-op runners, so results are bit-identical. The runner's
``timed`` is the same run with each op's wall time (the C steps timed one by one): what
profiles of a session show, so they time the run as it happens (arena slots, thread pool
state), not the ops called one by one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
from mace_core.dtypes import DType
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node
from mace_core.specs import FusedRun

from mace_cpu import native
from mace_cpu.kernels.common import check, f32
from mace_cpu.threads import pool_for

ALIAS = -1  # a view: the output is the input's buffer with another shape


@attrs.frozen
class NativeStep:
    """How a prepared cpu kernel runs as one ``mc_step`` (see csrc/mace_cpu.h)."""

    kind: int  # MC_STEP_*, or ALIAS
    shape: tuple[int, ...] = ()  # the output's shape
    slot: tuple[np.ndarray, Any] | None = None  # its arena slot; None: a new array per run
    # what in[0], in[1], in[2] read: a node input's position (-1: none, NULL) or a fixed
    # float32 array (e.g. a bias the kernel reshaped)
    inputs: tuple[int | np.ndarray, ...] = (0,)
    op: Any = None  # the cdata ``op`` points to (plan, parameters); kept alive here
    fields: dict[str, Any] = attrs.field(factory=dict)  # other mc_step fields (isa, code...)


def with_step(run: Callable, step: NativeStep) -> Callable:
    """Record ``step`` on a prepared runner (read by :func:`fuse`)."""
    run.native_step = step  # type: ignore[attr-defined]
    return run


def _f32_tensor(graph: Graph, name: str) -> bool:
    desc = graph.tensors.get(name)
    return desc is not None and desc.dtype == DType.FLOAT32


def _native(node: Node, runner: Callable, graph: Graph) -> NativeStep | None:
    """The runner's native step, if it can join a step list here (one float32 output,
    float32 data input)."""
    step = getattr(runner, "native_step", None)
    if step is None or len(node.outputs) != 1 or not node.outputs[0]:
        return None
    ok = _f32_tensor(graph, node.inputs[0]) and _f32_tensor(graph, node.outputs[0])
    return step if ok else None


def fuse_blocks_option(options: Any) -> bool:
    """``cpu_fuse_blocks`` (default True): run inverted-residual blocks as one op."""
    value = options.get("cpu_fuse_blocks", True)
    if not isinstance(value, bool):
        raise MaceError(f"cpu_fuse_blocks must be True or False, not {value!r}")
    return value


class _Program:
    """A partition as C step lists with Python runners in between (ops without a native
    step). Buffers: arrays fixed now (arena slots, constants) or set per run (the
    partition's inputs, outputs without a slot, outputs of the Python runners); those that
    C steps read get a pointer in the table."""

    def __init__(self, run: FusedRun) -> None:
        self.ffi, self.lib = native.load()
        self.graph = run.graph
        # uses of each tensor inside the partition, plus one for each partition output
        self.uses: dict[str, int] = {}
        for name in [n for node in run.nodes for n in node.inputs] + list(run.outputs):
            self.uses[name] = self.uses.get(name, 0) + 1
        self.fuse_blocks = fuse_blocks_option(run.options)
        self.conv_of: dict[str, tuple[int, Node, NativeStep]] = {}  # output -> conv step
        self.steps = self.ffi.new("mc_step[]", max(1, len(run.nodes)))
        self.count = 0
        self.arrays: list[np.ndarray | None] = []
        self.where: dict[str, int] = {}  # tensor -> buffer
        self.keep: list[Any] = []  # cdata the list points into
        self.feeds = [self.add(None) for _ in run.inputs]  # buffer of each input
        self.where.update(zip(run.inputs, self.feeds, strict=True))
        self.allocs: list[tuple[int, tuple[int, ...]]] = []  # buffers made per run
        self.c_reads: set[int] = set()  # buffers read by C steps
        # ("c", first step, count, nodes) or ("py", node, runner, inputs, outputs)
        self.segments: list[tuple[Any, ...]] = []

    def add(self, array: np.ndarray | None) -> int:
        self.arrays.append(array)
        return len(self.arrays) - 1

    def buffer(self, name: str) -> int:
        """The buffer of tensor ``name`` (a constant gets one on first use)."""
        if name not in self.where:
            self.where[name] = self.add(f32(self.graph.constants[name]))
        return self.where[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self.graph.desc(name).shape)

    def append(self, node: Node, runner: Callable) -> None:
        step = _native(node, runner, self.graph)
        if step is None:
            self._append_python(node, runner)
        elif step.kind == ALIAS:
            self.where[node.outputs[0]] = self.buffer(node.inputs[0])
        elif not self._append_block(node, step):
            self._append_native(node, step)
            if step.kind == self.lib.MC_STEP_CONV:
                self.conv_of[node.outputs[0]] = (self.count - 1, node, step)

    def _append_block(self, node: Node, step: NativeStep) -> bool:
        """Whether ``node`` ends an inverted-residual block: a 1x1 project conv after a 3x3
        depthwise conv, with or without the 1x1 expand conv before that (the previous
        steps; each one's output read only by the next) that the fused kernel takes
        (csrc/block.c). Then the first conv's step becomes the block's and the others are
        dropped; profiles show the block's time on ``node`` and none on the others."""
        if not self.fuse_blocks or step.kind != self.lib.MC_STEP_CONV:
            return False
        dw = self.conv_of.get(node.inputs[0])
        if (not dw or dw[0] != self.count - 1 or self.uses.get(node.inputs[0]) != 1
                or self.segments[-1][0] != "c"):
            return False
        expand = self.conv_of.get(dw[1].inputs[0])
        if (not expand or expand[0] != self.count - 2 or self.uses.get(dw[1].inputs[0]) != 1
                or self.segments[-1][2] < 2):
            expand = None
        raw = self._block(expand, dw, step)
        if raw == self.ffi.NULL and expand:  # the depthwise and project convs alone?
            expand = None
            raw = self._block(None, dw, step)
        if raw == self.ffi.NULL:
            return False
        block = self.ffi.gc(raw, self.lib.mc_block_destroy)
        self.keep.append(block)
        absorbed = 2 if expand else 1
        self.count -= absorbed - 1  # the steps after the block's first
        s = self.steps[self.count - 1]  # the first conv's: its input, the project's output
        s.kind = self.lib.MC_STEP_BLOCK
        s.op = block
        s.out = self.add(step.slot[0] if step.slot is not None else None)
        if step.slot is None:
            self.allocs.append((s.out, step.shape))
        self.where[node.outputs[0]] = s.out
        kind, first, count, nodes = self.segments[-1]
        self.segments[-1] = (kind, first, count - (absorbed - 1), [*nodes[:-absorbed], node])
        return True

    def _block(self, expand: tuple | None, dw: tuple, step: NativeStep) -> Any:
        """The C block of these conv steps, or NULL. Not where the block's input and
        output share memory: the arena gave the project's output the slot of the input,
        which died at the first conv when the three ran one by one; the block reads its
        input until its last chunk."""
        first = expand or dw
        source = self.arrays[getattr(self.steps[first[0]], "in")[0]]
        if (source is not None and step.slot is not None
                and np.shares_memory(source, step.slot[0])):
            return self.ffi.NULL
        return self.lib.mc_block_create(expand[2].op if expand else self.ffi.NULL, dw[2].op,
                                        step.op)

    def _append_native(self, node: Node, step: NativeStep) -> None:
        s = self.steps[self.count]
        if not self.segments or self.segments[-1][0] != "c":
            self.segments.append(("c", self.count, 0, []))
        kind, first, count, nodes = self.segments[-1]
        self.segments[-1] = (kind, first, count + 1, [*nodes, node])
        self.count += 1
        s.kind = step.kind
        if step.op is not None:
            s.op = step.op
            self.keep.append(step.op)
        for key, value in step.fields.items():
            setattr(s, key, value)
        ins = [self.add(f32(p)) if isinstance(p, np.ndarray)
               else self.buffer(node.inputs[p]) if 0 <= p < len(node.inputs) and node.inputs[p]
               else -1 for p in step.inputs]
        self.c_reads.update(k for k in ins if k >= 0)
        setattr(s, "in", ins + [-1] * (3 - len(ins)))
        s.out = self.add(step.slot[0] if step.slot is not None else None)
        if step.slot is None:
            self.allocs.append((s.out, step.shape))
        self.where[node.outputs[0]] = s.out

    def _append_python(self, node: Node, runner: Callable) -> None:
        inputs = []
        for name in node.inputs:
            if not name:
                inputs.append((None, None, ()))
            elif name in self.graph.constants and name not in self.where:
                inputs.append((self.graph.constants[name], None, ()))
            else:
                inputs.append((None, self.buffer(name), self.shape(name)))
        outputs = []
        for name in node.outputs:
            outputs.append(self.add(None) if name else None)
            if name:
                self.where[name] = outputs[-1]
        self.segments.append(("py", node, runner, inputs, outputs))


def fuse(run: FusedRun) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    """One runner for the partition; None when no op of it has a native step."""
    program = _Program(run)
    for node, runner in zip(run.nodes, run.runners, strict=True):
        program.append(node, runner)
    if program.count == 0:
        return None
    return _runner(run, program)


def _table(program: _Program) -> Any:
    """``float *bufs[]`` with the fixed buffers set."""
    ffi = program.ffi
    bufs = ffi.new("float *[]", max(1, len(program.arrays)))
    for k, array in enumerate(program.arrays):
        if array is not None:
            pointer = ffi.from_buffer("float[]", array)
            program.keep.append(pointer)
            bufs[k] = pointer
    return bufs


def _runner(run: FusedRun, program: _Program) -> Callable[[Sequence[Any]], Sequence[Any]]:
    ffi, lib = program.ffi, program.lib
    bufs, c_steps, fixed = _table(program), program.steps, program.arrays
    feeds = [(k, k in program.c_reads) for k in program.feeds]
    allocs, c_reads = program.allocs, program.c_reads
    outs = [(program.where[name], program.shape(name)) for name in run.outputs]
    segments = []  # C segments with a pointer to their first step
    for kind, *rest in program.segments:
        if kind == "c":  # stats: run with or without the workers (csrc/steps.c)
            first, count, nodes = rest
            rest = [c_steps + first, count, nodes, ffi.new("mc_steps_stats *")]
        segments.append((kind, *rest))
    ptr, steps_run, failed = ffi.from_buffer, lib.mc_steps_run, ffi.new("int *")
    pool = pool_for(run.options)
    seconds = ffi.new("double[]", max(1, program.count))  # per native step, when timed
    index = {id(node): i for i, node in enumerate(run.nodes)}

    def array(k: int, shape: tuple[int, ...], arrays: dict[int, np.ndarray]) -> np.ndarray:
        value = fixed[k] if fixed[k] is not None else arrays[k]
        return value.reshape(shape) if value.shape != shape else value

    def execute(inputs: Sequence[Any], ms: list[float] | None) -> list[np.ndarray]:
        """The run; ``ms`` (or None): filled with each node's time in ms."""
        arrays: dict[int, np.ndarray] = {}
        held = []  # pointers set in bufs for this run
        for (k, to_c), x in zip(feeds, inputs, strict=True):
            arrays[k] = x
            if to_c:
                arrays[k] = x = f32(x)
                held.append(ptr("float[]", x))
                bufs[k] = held[-1]
        for k, shape in allocs:
            arrays[k] = y = np.empty(shape, np.float32)
            held.append(ptr("float[]", y, require_writable=True))
            bufs[k] = held[-1]
        for kind, *seg in segments:
            if kind == "c":
                first, count, nodes, stats = seg
                status = steps_run(first, count, bufs, pool.ptr, stats, failed,
                                   ffi.NULL if ms is None else seconds)
                if status:
                    check(status, nodes[failed[0]])
                if ms is not None:
                    for i, node in enumerate(nodes):
                        ms[index[id(node)]] = seconds[i] * 1e3
                continue
            node, runner, ins, out_bufs = seg
            start = time.perf_counter()
            args = [value if k is None else array(k, shape, arrays)
                    for value, k, shape in ins]
            results = _call(node, runner, args)
            if ms is not None:
                ms[index[id(node)]] = (time.perf_counter() - start) * 1e3
            for k, value in zip(out_bufs, results, strict=False):
                if k is None:
                    continue
                arrays[k] = value
                if k in c_reads:
                    arrays[k] = value = f32(value)
                    held.append(ptr("float[]", value))
                    bufs[k] = held[-1]
        return [array(k, shape, arrays) for k, shape in outs]

    def run_fused(inputs: Sequence[Any]) -> list[np.ndarray]:
        return execute(inputs, None)

    def timed(inputs: Sequence[Any]) -> tuple[list[np.ndarray], list[float]]:
        """The same run, with each node's wall time in ms (a profile of the fused run)."""
        ms = [0.0] * len(run.nodes)
        return execute(inputs, ms), ms

    run_fused.timed = timed  # type: ignore[attr-defined]
    # the step list and what it points into: plans, slots, constants (c_steps + first
    # does not keep c_steps alive)
    run_fused.keep = (program, run.runners)  # type: ignore[attr-defined]
    run_fused.segments = segments  # type: ignore[attr-defined]
    run_fused.info = {"ops": len(run.nodes), "native_steps": program.count,  # type: ignore
                      "python_ops": sum(1 for s in segments if s[0] == "py")}
    return run_fused


def _call(node: Node, runner: Callable, args: list[Any]) -> Sequence[Any]:
    """A Python runner inside a fused partition; errors name its node."""
    try:
        return runner(args)
    except MaceError:
        raise
    except Exception as exc:
        raise MaceError(f"{node} failed on device 'cpu': {type(exc).__name__}: {exc}"
                        ) from exc
