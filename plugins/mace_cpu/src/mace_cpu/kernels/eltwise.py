"""Elementwise ops on the cpu device: Add / Sub / Mul / Div with the common CNN broadcasts
and a fused activation, and the activations and unary math (Neg, Abs, Sqrt, Exp, Log,
Reciprocal) as standalone ops."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from mace_core.ir import Graph, Node

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.fused import NativeStep, with_step
from mace_cpu.kernels.common import (
    ACTIVATIONS,
    Prepared,
    activation,
    check,
    f32,
    from_buffer,
    fused_ok,
    io_f32,
    kernel,
    prepared,
    shape,
)
from mace_cpu.threads import pool_for

BINOPS = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3}
MATH = {"Neg": 16, "Abs": 17, "Sqrt": 18, "Exp": 19, "Log": 20, "Reciprocal": 21}


def broadcast_plan(a: Sequence[int], b: Sequence[int], out: Sequence[int]
                   ) -> tuple[bool, int, int, int] | None:
    """``(swap, outer, mid, inner)`` when one operand has the output's shape and the other
    varies along one contiguous run of its axes (same shape, per channel, scalar...).

    The C kernel computes ``full[o, m, i] op small[m]`` (``small op full`` when swapped).
    """
    out = tuple(out)
    if tuple(a) == out:
        swap, small = False, tuple(b)
    elif tuple(b) == out:
        swap, small = True, tuple(a)
    else:
        return None
    if len(small) > len(out):
        return None
    small = (1,) * (len(out) - len(small)) + small
    kept = [i for i, (s, o) in enumerate(zip(small, out, strict=True)) if o != 1 and s == o]
    broadcast = [i for i, (s, o) in enumerate(zip(small, out, strict=True)) if o != 1 and s != o]
    if any(small[i] != 1 for i in broadcast):
        return None
    if not kept:
        return swap, 1, 1, math.prod(out)  # a scalar
    first, last = kept[0], kept[-1]
    if any(first < i < last for i in broadcast):
        return None  # e.g. [C, 1, W]: two separate runs
    outer = math.prod(out[:first])
    mid = math.prod(out[first:last + 1])
    inner = math.prod(out[last + 1:])
    return swap, outer, mid, inner


def accepts_binary(node: Node, graph: Graph) -> bool:
    if not io_f32(node, graph) or not fused_ok(node):
        return False
    a, b = shape(graph, node.inputs[0]), shape(graph, node.inputs[1])
    return broadcast_plan(a, b, shape(graph, node.outputs[0])) is not None


def prepare_binary(node: Node, attrs: dict[str, Any], graph: Graph,
                   options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    out_shape = shape(graph, node.outputs[0])
    plan = broadcast_plan(shape(graph, node.inputs[0]), shape(graph, node.inputs[1]),
                          out_shape)
    assert plan is not None, "the predicate accepted an unsupported broadcast"
    swap, outer, mid, inner = plan
    op = BINOPS[node.op_type]
    act, act_a, act_b = activation(attrs)
    isa = native.isa()
    isa_id = native.isa_id(isa)
    pool = pool_for(options)

    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr, binary = from_buffer(), lib.mc_binary
    fixed = (slot[0],) if slot else None
    full_at, small_at, swapped = (1, 0, 1) if swap else (0, 1, 0)

    def run(inputs):
        y, py = slot or new()
        status = binary(pool.ptr, isa_id, op, outer, mid, inner,
                        ptr("float[]", f32(inputs[full_at])), ptr("float[]", f32(inputs[small_at])),
                        swapped, act, act_a, act_b, py)
        if status:
            check(status, node)
        return fixed or (y,)

    step = NativeStep(lib.MC_STEP_BINARY, out_shape, slot, inputs=(full_at, small_at),
                      fields=dict(isa=isa_id, code=op, outer=outer, mid=mid, inner=inner,
                                  swap=swapped, act=act, act_a=act_a, act_b=act_b))
    return with_step(prepared(run, op=node.op_type, isa=isa, threads=pool.count,
                              broadcast=(outer, mid, inner), swap=swap), step)


# -- standalone activations -----------------------------------------------------------------
def _unary_params(node: Node, attrs: dict[str, Any]) -> tuple[int, float, float]:
    op = node.op_type
    if op in ("LeakyRelu", "Swish"):
        return ACTIVATIONS[op], float(attrs["alpha"]), 0.0
    if op == "HardSigmoid":
        return ACTIVATIONS[op], float(attrs["alpha"]), float(attrs["beta"])
    if op in MATH:
        return MATH[op], 0.0, 0.0
    return ACTIVATIONS[op], 0.0, 0.0


def _clip_bound(value: Any, default: float) -> float:
    if value is None:
        return default
    return float(np.asarray(value, dtype=np.float32).reshape(-1)[0])


def accepts_unary(node: Node, graph: Graph) -> bool:
    if not io_f32(node, graph):
        return False
    if node.op_type == "Clip":
        for name in node.inputs[1:]:
            if name and math.prod(shape(graph, name)) != 1:
                return False
    return True


def prepare_unary(node: Node, attrs: dict[str, Any], graph: Graph,
                  options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    out_shape = shape(graph, node.outputs[0])
    size = math.prod(out_shape)
    isa = native.isa()
    isa_id = native.isa_id(isa)
    pool = pool_for(options)
    kind, a, b = _unary_params(node, attrs)

    def bounds(inputs) -> tuple[float, float]:
        lo = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("min")
        hi = inputs[2] if len(inputs) > 2 and inputs[2] is not None else attrs.get("max")
        return _clip_bound(lo, -np.inf), _clip_bound(hi, np.inf)

    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr = from_buffer()

    def run(inputs):
        x = f32(inputs[0])
        y, py = slot or new()
        lo, hi = bounds(inputs) if node.op_type == "Clip" else (a, b)
        check(lib.mc_unary(pool.ptr, isa_id, size, ptr("float[]", x), kind, lo, hi, py), node)
        return (y,)

    run = prepared(run, op=node.op_type, isa=isa, threads=pool.count)
    lo, hi = a, b
    if node.op_type == "Clip":
        if not all(not n or n in graph.constants for n in node.inputs[1:]):
            return run  # bounds computed per run
        lo, hi = bounds([None, *(graph.constants.get(n) for n in node.inputs[1:])])
    return with_step(run, NativeStep(lib.MC_STEP_UNARY, out_shape, slot, fields=dict(
        isa=isa_id, code=kind, outer=size, act_a=lo, act_b=hi)))


UNARY = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Swish",
         *MATH)

KERNELS = [
    *(kernel(op, prepare_binary, accepts_binary) for op in BINOPS),
    *(kernel(op, prepare_unary, accepts_unary) for op in UNARY),
]
