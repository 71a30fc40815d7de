"""Comparison and selection on the cpu device (csrc/select.c): Equal / Less / LessOrEqual /
Greater / GreaterOrEqual of float32 tensors (bool out), Where (bool condition, float32
values) with any numpy broadcast, and Gather along one axis (any element type; constant or
run-time int32 / int64 indices).

Broadcasts are planned when the op is prepared (:func:`broadcast_view`): the output box and
each operand's element strides, 0 along its broadcast axes, with the axes merged where
every operand is contiguous across them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from mace_core.dtypes import DType
from mace_core.ir import Graph, Node

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.kernels.common import Prepared, check, f32, from_buffer, kernel, prepared, shape
from mace_cpu.kernels.layout import strides
from mace_cpu.threads import pool_for

MAX_RANK = 8
COMPARE = {"Equal": 0, "Less": 1, "LessOrEqual": 2, "Greater": 3, "GreaterOrEqual": 4}


def broadcast_view(out: Sequence[int], operands: Sequence[Sequence[int]]
                   ) -> tuple[list[int], list[int]] | None:
    """``(box, strides)`` of a broadcast to ``out``: the box's axes and, operand after
    operand, the operand's strides in elements along them (0 where it is broadcast). Unit
    axes are dropped and neighbours merged where every operand is contiguous across them.
    None when an operand does not broadcast to ``out`` or more than 8 axes remain."""
    rank = len(out)
    padded = []
    for dims in operands:
        if len(dims) > rank:
            return None
        dims = (1,) * (rank - len(dims)) + tuple(dims)
        if any(d not in (1, o) for d, o in zip(dims, out, strict=True)):
            return None
        padded.append([0 if d == 1 else s for d, s in zip(dims, strides(dims), strict=True)])
    box: list[int] = []
    steps: list[list[int]] = [[] for _ in operands]
    for axis, size in enumerate(out):
        if size == 1:
            continue
        if box and all(st[-1] == p[axis] * size for st, p in zip(steps, padded, strict=True)):
            box[-1] *= size  # contiguous across the previous axis for every operand
            for st, p in zip(steps, padded, strict=True):
                st[-1] = p[axis]
            continue
        box.append(size)
        for st, p in zip(steps, padded, strict=True):
            st.append(p[axis])
    if not box:
        box, steps = [1], [[0] for _ in operands]
    if len(box) > MAX_RANK:
        return None
    return box, [s for st in steps for s in st]


def static(graph: Graph, names: Sequence[str], dtypes: Sequence[DType] | None = None) -> bool:
    """Every named tensor is present with a static, non-empty shape (and, if given, one of
    ``dtypes``)."""
    for name in names:
        desc = graph.tensors.get(name) if name else None
        if desc is None or (dtypes is not None and desc.dtype not in dtypes):
            return False
        if any(not isinstance(d, (int, np.integer)) or d <= 0 for d in desc.shape):
            return False
    return True


def _broadcast_ok(node: Node, graph: Graph) -> bool:
    return broadcast_view(shape(graph, node.outputs[0]),
                          [shape(graph, n) for n in node.inputs]) is not None


def _view_arrays(node: Node, graph: Graph) -> tuple[int, Any, Any]:
    ffi, _ = native.load()
    view = broadcast_view(shape(graph, node.outputs[0]), [shape(graph, n) for n in node.inputs])
    assert view is not None, "the predicate accepted an unsupported broadcast"
    box, steps = view
    return len(box), ffi.new("long[]", box), ffi.new("long[]", steps)


# -- Equal, Less, ... ----------------------------------------------------------------------------
def accepts_compare(node: Node, graph: Graph) -> bool:
    return (len(node.inputs) == 2 and static(graph, node.inputs, [DType.FLOAT32])
            and static(graph, node.outputs[:1], [DType.BOOL]) and _broadcast_ok(node, graph))


def prepare_compare(node: Node, attrs: dict[str, Any], graph: Graph,
                    options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    rank, box, steps = _view_arrays(node, graph)
    op, pool = COMPARE[node.op_type], pool_for(options)
    slot, new = output_buffer(graph, options, node.outputs[0], shape(graph, node.outputs[0]),
                              np.bool_)
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        status = lib.mc_compare(pool.ptr, op, rank, box, ptr("float[]", f32(inputs[0])),
                                ptr("float[]", f32(inputs[1])), steps, py)
        if status:
            check(status, node)
        return (y,)

    return prepared(run, op=node.op_type, threads=pool.count, box=rank)


# -- Where ---------------------------------------------------------------------------------------
def accepts_where(node: Node, graph: Graph) -> bool:
    return (len(node.inputs) == 3 and static(graph, node.inputs[:1], [DType.BOOL])
            and static(graph, [*node.inputs[1:], node.outputs[0]], [DType.FLOAT32])
            and _broadcast_ok(node, graph))


def prepare_where(node: Node, attrs: dict[str, Any], graph: Graph,
                  options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    rank, box, steps = _view_arrays(node, graph)
    pool = pool_for(options)
    slot, new = output_buffer(graph, options, node.outputs[0], shape(graph, node.outputs[0]))
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        cond = np.ascontiguousarray(inputs[0], np.bool_)
        status = lib.mc_where(pool.ptr, rank, box, ptr("unsigned char[]", cond),
                              ptr("float[]", f32(inputs[1])), ptr("float[]", f32(inputs[2])),
                              steps, py)
        if status:
            check(status, node)
        return (y,)

    return prepared(run, op="Where", threads=pool.count, box=rank)


# -- Gather --------------------------------------------------------------------------------------
def _gather_geometry(node: Node, graph: Graph) -> tuple[int, int, int, int]:
    """(outer, axis length, inner elements, axis) of Gather's data."""
    dims = shape(graph, node.inputs[0])
    axis = int(node.attrs.get("axis", 0)) % len(dims)
    return math.prod(dims[:axis]), dims[axis], math.prod(dims[axis + 1:]), axis


def accepts_gather(node: Node, graph: Graph) -> bool:
    if len(node.inputs) != 2 or not static(graph, [node.inputs[0], node.outputs[0]]):
        return False
    if not static(graph, node.inputs[1:], [DType.INT32, DType.INT64]):
        return False
    if graph.tensors[node.inputs[0]].dtype != graph.tensors[node.outputs[0]].dtype:
        return False
    if not shape(graph, node.inputs[0]):
        return False
    _, length, _, _ = _gather_geometry(node, graph)
    idx = graph.constants.get(node.inputs[1])
    if idx is not None:  # constant indices: in range now, not at run time
        idx = np.asarray(idx)
        return bool(np.all((idx >= -length) & (idx < length)))
    return True


def prepare_gather(node: Node, attrs: dict[str, Any], graph: Graph,
                   options: dict[str, Any]) -> Prepared:
    ffi, lib = native.load()
    outer, length, inner, _ = _gather_geometry(node, graph)
    dtype = graph.tensors[node.inputs[0]].dtype.numpy
    row_bytes = inner * dtype.itemsize
    pool = pool_for(options)
    out_shape = shape(graph, node.outputs[0])
    slot, new = output_buffer(graph, options, node.outputs[0], out_shape, dtype)
    ptr = from_buffer()
    fixed, fixed_ptr = None, None
    if node.inputs[1] in graph.constants:
        fixed = np.ascontiguousarray(np.asarray(graph.constants[node.inputs[1]]).reshape(-1),
                                     np.int64)
        fixed_ptr = ffi.new("long long[]", fixed.tolist())

    def run(inputs):
        y, py = slot or new()
        if fixed is not None:
            pidx, count = fixed_ptr, fixed.size
        else:
            idx = np.ascontiguousarray(inputs[1], np.int64).reshape(-1)
            pidx, count = ptr("long long[]", idx), idx.size
        data = np.ascontiguousarray(inputs[0], dtype)
        status = lib.mc_gather(pool.ptr, outer, length, row_bytes, pidx, count,
                               ptr("unsigned char[]", data), py)
        if status:
            check(status, node)
        return (y,)

    return prepared(run, op="Gather", threads=pool.count, constant_indices=fixed is not None)


KERNELS = [
    *(kernel(op, prepare_compare, accepts_compare) for op in COMPARE),
    kernel("Where", prepare_where, accepts_where),
    kernel("Gather", prepare_gather, accepts_gather),
]
