"""Pow and PRelu on the cpu device (csrc/pow.c, csrc/prelu.c), float32.

Pow takes any numpy broadcast (computed in double and rounded once, as the reference);
a constant scalar exponent (the usual ``x ** 2``, ``x ** 0.5``) runs as one flat loop with
exact float shortcuts for 2, 1, 0.5 and -1. An integer exponent must be a constant that
float32 holds exactly. PRelu's slope broadcasts as a binary op's smaller operand (per
channel, scalar, same shape: see ``eltwise.broadcast_plan``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from mace_core.dtypes import DType
from mace_core.ir import Graph, Node

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.kernels.common import (
    Prepared,
    all_f32,
    check,
    f32,
    from_buffer,
    io_f32,
    kernel,
    prepared,
    shape,
)
from mace_cpu.kernels.eltwise import broadcast_plan
from mace_cpu.kernels.select import broadcast_view, static
from mace_cpu.threads import pool_for


# -- Pow -----------------------------------------------------------------------------------------
def _exponent(node: Node, graph: Graph) -> np.ndarray | None:
    """The constant exponent as float32 (None when it is not a constant)."""
    value = graph.constants.get(node.inputs[1])
    return None if value is None else np.asarray(value).astype(np.float32)


def accepts_pow(node: Node, graph: Graph) -> bool:
    if len(node.inputs) != 2 or not all_f32(graph, [node.inputs[0], node.outputs[0]]):
        return False
    exp_name = node.inputs[1]
    if not all_f32(graph, [exp_name]):
        value = graph.constants.get(exp_name)
        if value is None or not static(graph, [exp_name], [DType.INT32, DType.INT64]):
            return False
        value = np.asarray(value)
        if not np.array_equal(value.astype(np.float32).astype(value.dtype), value):
            return False  # an integer float32 does not hold exactly
    return broadcast_view(shape(graph, node.outputs[0]),
                          [shape(graph, n) for n in node.inputs]) is not None


def prepare_pow(node: Node, attrs: dict[str, Any], graph: Graph,
                options: dict[str, Any]) -> Prepared:
    ffi, lib = native.load()
    out_shape = shape(graph, node.outputs[0])
    const = _exponent(node, graph)
    pool = pool_for(options)
    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr = from_buffer()
    if const is not None and const.size == 1 and shape(graph, node.inputs[0]) == out_shape:
        size, e = math.prod(out_shape), float(const.reshape(-1)[0])

        def run_scalar(inputs):
            y, py = slot or new()
            status = lib.mc_pow_scalar(pool.ptr, size, ptr("float[]", f32(inputs[0])), e, py)
            if status:
                check(status, node)
            return (y,)

        return prepared(run_scalar, op="Pow", threads=pool.count, exponent=e)

    view = broadcast_view(out_shape, [shape(graph, n) for n in node.inputs])
    assert view is not None, "the predicate accepted an unsupported broadcast"
    box, steps = ffi.new("long[]", view[0]), ffi.new("long[]", view[1])
    rank = len(view[0])

    def run(inputs):
        y, py = slot or new()
        p = const if const is not None else f32(inputs[1])
        status = lib.mc_pow(pool.ptr, rank, box, ptr("float[]", f32(inputs[0])),
                            ptr("float[]", p), steps, py)
        if status:
            check(status, node)
        return (y,)

    return prepared(run, op="Pow", threads=pool.count, box=rank)


# -- PRelu ---------------------------------------------------------------------------------------
def accepts_prelu(node: Node, graph: Graph) -> bool:
    if len(node.inputs) != 2 or not io_f32(node, graph):
        return False
    x, slope = shape(graph, node.inputs[0]), shape(graph, node.inputs[1])
    plan = broadcast_plan(x, slope, shape(graph, node.outputs[0]))
    return plan is not None and not plan[0]


def prepare_prelu(node: Node, attrs: dict[str, Any], graph: Graph,
                  options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    out_shape = shape(graph, node.outputs[0])
    plan = broadcast_plan(shape(graph, node.inputs[0]), shape(graph, node.inputs[1]), out_shape)
    assert plan is not None and not plan[0], "the predicate accepted an unsupported slope"
    _, outer, mid, inner = plan
    isa = native.isa()
    isa_id = native.isa_id(isa)
    pool = pool_for(options)
    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        status = lib.mc_prelu(pool.ptr, isa_id, outer, mid, inner,
                              ptr("float[]", f32(inputs[0])), ptr("float[]", f32(inputs[1])), py)
        if status:
            check(status, node)
        return (y,)

    return prepared(run, op="PRelu", isa=isa, threads=pool.count, broadcast=(outer, mid, inner))


KERNELS = [
    kernel("Pow", prepare_pow, accepts_pow),
    kernel("PRelu", prepare_prelu, accepts_prelu),
]
