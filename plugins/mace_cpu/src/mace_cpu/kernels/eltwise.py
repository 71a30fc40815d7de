"""Elementwise ops on the cpu device: Add / Sub / Mul with the common CNN broadcasts and a
fused activation, the activations as standalone ops, and Softmax over the last axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from mace_core.ir import Graph, Node

from mace_cpu import native
from mace_cpu.kernels.common import (
    ACTIVATIONS,
    Prepared,
    activation,
    check,
    cin,
    cout,
    f32,
    fused_ok,
    io_f32,
    kernel,
    shape,
)
from mace_cpu.threads import pool_for

BINOPS = {"Add": 0, "Sub": 1, "Mul": 2}


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

    def run(inputs):
        full, small = (inputs[1], inputs[0]) if swap else (inputs[0], inputs[1])
        full, small = f32(full), f32(small)
        y = np.empty(out_shape, np.float32)
        check(lib.mc_binary(pool.ptr, isa_id, op, outer, mid, inner, cin(full), cin(small),
                            int(swap), act, act_a, act_b, cout(y)), node)
        return (y,)

    return Prepared(run, op=node.op_type, isa=isa, threads=pool.count,
                    broadcast=(outer, mid, inner), swap=swap)


# -- standalone activations -----------------------------------------------------------------
def _unary_params(node: Node, attrs: dict[str, Any]) -> tuple[int, float, float]:
    op = node.op_type
    if op in ("LeakyRelu", "Swish"):
        return ACTIVATIONS[op], float(attrs["alpha"]), 0.0
    if op == "HardSigmoid":
        return ACTIVATIONS[op], float(attrs["alpha"]), float(attrs["beta"])
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

    def run(inputs):
        x = f32(inputs[0])
        y = np.empty(out_shape, np.float32)
        lo, hi = bounds(inputs) if node.op_type == "Clip" else (a, b)
        check(lib.mc_unary(pool.ptr, isa_id, size, cin(x), kind, lo, hi, cout(y)), node)
        return (y,)

    return Prepared(run, op=node.op_type, isa=isa, threads=pool.count)


# -- softmax ---------------------------------------------------------------------------------
def _softmax_rows(node: Node, graph: Graph, attrs: dict[str, Any]) -> tuple[int, int] | None:
    x = shape(graph, node.inputs[0])
    if not x:
        return None
    axis = int(attrs.get("axis", -1)) % len(x)
    if int(attrs.get("legacy_2d", 0)) or axis == len(x) - 1:
        cols = math.prod(x[axis:])
        return math.prod(x) // cols, cols
    return None


def accepts_softmax(node: Node, graph: Graph) -> bool:
    if not io_f32(node, graph):
        return False
    attrs = {"axis": node.attrs.get("axis", -1), "legacy_2d": node.attrs.get("legacy_2d", 0)}
    return _softmax_rows(node, graph, attrs) is not None


def prepare_softmax(node: Node, attrs: dict[str, Any], graph: Graph,
                    options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    rows_cols = _softmax_rows(node, graph, attrs)
    assert rows_cols is not None, "the predicate accepted an unsupported softmax"
    rows, cols = rows_cols
    out_shape = shape(graph, node.outputs[0])
    isa = native.isa()
    isa_id = native.isa_id(isa)
    pool = pool_for(options)

    def run(inputs):
        x = f32(inputs[0])
        y = np.empty(out_shape, np.float32)
        check(lib.mc_softmax(pool.ptr, isa_id, rows, cols, cin(x), cout(y)), node)
        return (y,)

    return Prepared(run, op="Softmax", isa=isa, threads=pool.count)


UNARY = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Swish")

KERNELS = [
    *(kernel(op, prepare_binary, accepts_binary) for op in BINOPS),
    *(kernel(op, prepare_unary, accepts_unary) for op in UNARY),
    kernel("Softmax", prepare_softmax, accepts_softmax),
]
