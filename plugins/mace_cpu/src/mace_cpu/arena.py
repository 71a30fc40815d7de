"""One arena per session for the outputs of the cpu kernels.

A cpu kernel writes its output into a fixed slot of its session's arena instead of a new
array per run: no allocation, no page faults of fresh memory, and slots of tensors that are
dead by then are reused while still warm in the caches. Offsets come from the core's
greedy-by-size placement over lifetimes computed here, in the graph's node order (the
session's execution order):

* a tensor lives from its producer to its last reader, and as long as any tensor that may
  share its memory: the outputs of its readers that are views (Reshape, Transpose, Slice
  on the reference device...) or whose op is not known to compute a new array;
* a tensor that is (or may be viewed as) a graph output gets no slot: its kernel allocates
  a new array per run, which the caller keeps.

Slots are planned for every output a cpu kernel may write (op types with a cpu kernel);
one whose node ends up on another device is simply left unused. The arena belongs to one
session (found through the session's options dict), so one session must not run from
two threads at once; separate sessions are independent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from mace_core.ir import Graph
from mace_core.memory.lifetimes import Storage, align
from mace_core.memory.offsets import best_offsets

from mace_cpu.native import load

OPTIONS_KEY = "_mace_cpu_arenas"  # options entry holding the session's arenas, by graph

# Ops whose outputs never share memory with their inputs, on the cpu or reference device.
FRESH_OPS = frozenset({
    "Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool", "Add", "Sub", "Mul", "Div", "Pow", "Relu", "Clip", "LeakyRelu", "PRelu",
    "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Swish", "Elu", "Selu", "Softplus", "Gelu",
    "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Softmax", "LogSoftmax",
    "Concat", "BatchNormalization", "LayerNormalization", "InstanceNormalization",
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "Resize", "Equal", "Greater",
    "Less", "Where", "Gather", "LSTM",
})


def _block_lifetimes(graph: Graph, step_of: dict[str, int], last: dict[str, int]) -> None:
    """Inputs of the runs of convs the device may fuse into one op (a depthwise conv, the
    conv after it, and the conv before it, each output read once: csrc/block.c) live until
    the run's last conv: the fused op reads them until its end."""
    readers: dict[str, int] = {}
    producer = {}
    for node in graph.nodes:
        for name in node.inputs:
            readers[name] = readers.get(name, 0) + 1
        for name in node.outputs:
            producer[name] = node

    def conv(name: str):
        node = producer.get(name)
        single = readers.get(name) == 1 and name not in graph.outputs
        return node if node is not None and node.op_type == "Conv" and single else None

    for node in graph.nodes:
        dw = conv(node.inputs[0]) if node.op_type == "Conv" and node.inputs else None
        if dw is None or int(dw.attrs.get("group", 1)) == 1:
            continue
        first = conv(dw.inputs[0]) or dw
        for source in {dw.inputs[0], first.inputs[0]}:
            if source in last:
                last[source] = max(last[source], step_of[node.outputs[0]])


class Arena:
    """Slots of one graph's cpu outputs in one float32 buffer (made on first use)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._offsets: dict[str, int] | None = None
        self._size = 0
        self._buffer: np.ndarray | None = None

    def _plan(self) -> dict[str, int]:
        from mace_cpu.kernels import all_kernels

        graph = self.graph
        cpu_ops = {spec.op_type for spec in all_kernels()}
        external = set(graph.inputs) | set(graph.constants)
        step_of: dict[str, int] = {}
        last: dict[str, int] = {}
        aliases: dict[str, list[str]] = {}  # tensor -> outputs that may share its memory
        for step, node in enumerate(graph.nodes):
            for name in node.inputs:
                if name in step_of:
                    last[name] = step
            fresh = node.domain == "" and node.op_type in FRESH_OPS
            for name in node.outputs:
                if not name or name in external or name in step_of:
                    continue
                step_of[name] = last[name] = step
                if not fresh:
                    for source in node.inputs:
                        if source in step_of:
                            aliases.setdefault(source, []).append(name)
        outputs = set(graph.outputs)
        end = len(graph.nodes) - 1
        _block_lifetimes(graph, step_of, last)

        memo: dict[str, tuple[int, bool]] = {}

        def reach(name: str) -> tuple[int, bool]:
            """Last step any memory-sharer of ``name`` is read; whether one is an output."""
            if name not in memo:
                stop, exported = last[name], name in outputs
                for other in aliases.get(name, ()):
                    s, e = reach(other)
                    stop, exported = max(stop, s), exported or e
                memo[name] = (end if exported else stop), exported
            return memo[name]

        storages = []
        for node in graph.nodes:
            if node.domain != "" or node.op_type not in cpu_ops:
                continue
            for name in node.outputs:
                desc = graph.tensors.get(name) if name in step_of else None
                if desc is None or not all(isinstance(d, (int, np.integer)) and d > 0
                                           for d in desc.shape):
                    continue
                stop, exported = reach(name)
                if not exported:
                    storages.append(Storage(name, align(desc.nbytes), step_of[name], stop,
                                            (name,)))
        offsets, size, _ = best_offsets(storages)
        self._size = size
        return offsets

    def slot(self, name: str, shape: tuple[int, ...], dtype: Any = np.float32
             ) -> tuple[np.ndarray, Any] | None:
        """The array (``dtype``, ``shape``) and C pointer (``float *`` for float32, else
        ``unsigned char *``) of tensor ``name``'s slot, or None when it has none (a graph
        output, or not planned): then allocate per run."""
        if self._offsets is None:
            self._offsets = self._plan()
        offset = self._offsets.get(name)
        if offset is None:
            return None
        if self._buffer is None:
            self._buffer = np.empty(self._size // 4 + 16, np.float32)
        base = self._buffer.ctypes.data
        start = offset // 4 + (-base % 64) // 4  # 64-byte aligned slots
        count = int(np.prod(shape))
        if np.dtype(dtype) == np.float32:
            array = self._buffer[start:start + count].reshape(shape)
        else:  # the slot's bytes (planned from the tensor's nbytes) seen as dtype
            size = count * np.dtype(dtype).itemsize
            array = self._buffer.view(np.uint8)[4 * start:4 * start + size].view(dtype)
            array = array.reshape(shape)
        return array, pointer(array)

    @property
    def nbytes(self) -> int:
        return 0 if self._buffer is None else self._buffer.nbytes


def arena_for(graph: Graph, options: dict[str, Any]) -> Arena:
    """The arena of ``graph`` in the session whose options dict this is."""
    arenas = options.setdefault(OPTIONS_KEY, {})
    arena = arenas.get(id(graph))
    if arena is None or arena.graph is not graph:
        arena = arenas[id(graph)] = Arena(graph)
    return arena


def pointer(array: np.ndarray) -> Any:
    """The writable C pointer of a C-contiguous array: ``float *`` for float32, else
    ``unsigned char *`` (bool tensors, raw bytes)."""
    ctype = "float[]" if array.dtype == np.float32 else "unsigned char[]"
    return load()[0].from_buffer(ctype, array, require_writable=True)


def output_buffer(graph: Graph, options: dict[str, Any], name: str, shape: tuple[int, ...],
                  dtype: Any = np.float32
                  ) -> tuple[tuple[np.ndarray, Any] | None, Callable[[], tuple[np.ndarray, Any]]]:
    """Where a kernel writes its output ``name``: ``(slot, new)``. ``slot`` is the
    ``(array, pointer)`` of its arena slot, or None when it has none; ``new()`` makes a new
    array per run (kernels write ``y, py = slot or new()``). The pointer is ``float *``
    for float32 (the default), else ``unsigned char *``."""

    def new() -> tuple[np.ndarray, Any]:
        array = np.empty(shape, dtype)
        return array, pointer(array)

    return arena_for(graph, options).slot(name, shape, dtype), new
