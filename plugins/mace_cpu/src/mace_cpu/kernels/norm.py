"""Normalisations and reductions on the cpu device (csrc/norm.c): Softmax on any axis,
LayerNormalization over trailing axes, inference BatchNormalization (folded into a
per-channel scale and shift when prepared) and ReduceSum / Mean / Max / Min over one run
of consecutive axes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from mace_core.ir import Graph, Node

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.kernels.common import (
    Prepared,
    all_f32,
    check,
    cin,
    f32,
    from_buffer,
    io_f32,
    kernel,
    prepared,
    shape,
)
from mace_cpu.kernels.layout import const, const_inputs
from mace_cpu.threads import pool_for

REDUCE = {"ReduceSum": 0, "ReduceMean": 1, "ReduceMax": 2, "ReduceMin": 3}


def _unary_runner(node: Node, graph: Graph, options: dict[str, Any], call, **info: Any
                  ) -> Prepared:
    """A kernel reading input 0 and writing output 0 with ``call(pool, x_ptr, y_ptr)``."""
    pool = pool_for(options)
    slot, new = output_buffer(graph, options, node.outputs[0], shape(graph, node.outputs[0]))
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        status = call(pool.ptr, ptr("float[]", f32(inputs[0])), py)
        if status:
            check(status, node)
        return (y,)

    return prepared(run, op=node.op_type, threads=pool.count, **info)


# -- Softmax -----------------------------------------------------------------------------------
def softmax_view(dims: tuple[int, ...], axis: int, legacy_2d: int) -> tuple[int, int, int]:
    """(outer, n, inner) of Softmax along ``axis`` (``legacy_2d``: the flattened axis...)."""
    axis %= len(dims)
    if legacy_2d:
        return math.prod(dims[:axis]), math.prod(dims[axis:]), 1
    return math.prod(dims[:axis]), dims[axis], math.prod(dims[axis + 1:])


def accepts_softmax(node: Node, graph: Graph) -> bool:
    return io_f32(node, graph) and len(shape(graph, node.inputs[0])) > 0


def prepare_softmax(node: Node, attrs: dict[str, Any], graph: Graph,
                    options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    isa = native.isa_id()
    outer, n, inner = softmax_view(shape(graph, node.inputs[0]), int(attrs["axis"]),
                                   int(attrs.get("legacy_2d", 0)))
    return _unary_runner(node, graph, options,
                         lambda t, x, y: lib.mc_softmax(t, isa, outer, n, inner, x, y),
                         view=(outer, n, inner))


# -- LayerNormalization, BatchNormalization ------------------------------------------------------
def accepts_layer_norm(node: Node, graph: Graph) -> bool:
    if any(node.outputs[1:]) or not all_f32(graph, [node.inputs[0], node.outputs[0]]):
        return False
    if not const_inputs(node, graph, 1) or int(node.attrs.get("stash_type", 1)) != 1:
        return False
    dims = shape(graph, node.inputs[0])
    cols = math.prod(dims[int(node.attrs.get("axis", -1)) % len(dims):]) if dims else 0
    return cols > 0 and all(np.asarray(graph.constants[n]).size in (1, cols)
                            for n in node.inputs[1:] if n)


def prepare_layer_norm(node: Node, attrs: dict[str, Any], graph: Graph,
                       options: dict[str, Any]) -> Prepared:
    ffi, lib = native.load()
    isa = native.isa_id()
    dims = shape(graph, node.inputs[0])
    axis = int(attrs["axis"]) % len(dims)
    rows, cols = math.prod(dims[:axis]), math.prod(dims[axis:])
    scale = f32(np.broadcast_to(const(graph, node, 1).reshape(-1), (cols,)))
    bias = const(graph, node, 2)
    bias = None if bias is None else f32(np.broadcast_to(bias.reshape(-1), (cols,)))
    pscale, pbias = cin(scale), cin(bias) if bias is not None else ffi.NULL
    eps = float(attrs["epsilon"])
    run = _unary_runner(node, graph, options, lambda t, x, y: lib.mc_layernorm(
        t, isa, rows, cols, x, pscale, pbias, eps, y), rows=rows, cols=cols)
    run.keep = (scale, bias)  # type: ignore[attr-defined]
    return run


def accepts_batch_norm(node: Node, graph: Graph) -> bool:
    if any(node.outputs[1:]) or int(node.attrs.get("training_mode", 0)):
        return False
    if not all_f32(graph, [node.inputs[0], node.outputs[0]]) or not const_inputs(node, graph, 1):
        return False
    dims = shape(graph, node.inputs[0])
    return len(dims) >= 2 and all(np.asarray(graph.constants[n]).size == dims[1]
                                  for n in node.inputs[1:5])


def prepare_batch_norm(node: Node, attrs: dict[str, Any], graph: Graph,
                       options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    isa = native.isa_id()
    dims = shape(graph, node.inputs[0])
    scale, bias, mean, var = (np.asarray(const(graph, node, i), np.float64).reshape(-1)
                              for i in range(1, 5))
    mul = scale / np.sqrt(var + float(attrs["epsilon"]))
    tables = f32(mul), f32(bias - mean * mul)
    pmul, padd = cin(tables[0]), cin(tables[1])
    outer, mid, inner = dims[0], dims[1], math.prod(dims[2:])
    run = _unary_runner(node, graph, options, lambda t, x, y: lib.mc_affine(
        t, isa, outer, mid, inner, x, pmul, padd, 0, 0.0, 0.0, y))
    run.keep = tables  # type: ignore[attr-defined]
    return run


# -- reductions ----------------------------------------------------------------------------------
def _reduce_view(node: Node, graph: Graph) -> tuple[int, int, int] | None:
    dims = shape(graph, node.inputs[0])
    axes = const(graph, node, 1)
    axes = node.attrs.get("axes") if axes is None else axes.reshape(-1).tolist()
    if not axes:
        if int(node.attrs.get("noop_with_empty_axes", 0)):
            return None
        axes = list(range(len(dims)))
    axes = sorted(int(a) % len(dims) for a in axes)
    if axes != list(range(axes[0], axes[-1] + 1)):
        return None  # not one run of consecutive axes
    outer, n = math.prod(dims[:axes[0]]), math.prod(dims[axes[0]:axes[-1] + 1])
    return outer, n, math.prod(dims[axes[-1] + 1:])


def accepts_reduce(node: Node, graph: Graph) -> bool:
    if not all_f32(graph, [node.inputs[0], node.outputs[0]]) or not const_inputs(node, graph, 1):
        return False
    if not shape(graph, node.inputs[0]):
        return False
    view = _reduce_view(node, graph)
    return view is not None and view[1] > 0


def prepare_reduce(node: Node, attrs: dict[str, Any], graph: Graph,
                   options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    isa = native.isa_id()
    view = _reduce_view(node, graph)
    assert view is not None, "the predicate accepted an unsupported reduction"
    outer, n, inner = view
    kind = REDUCE[node.op_type]
    return _unary_runner(node, graph, options,
                         lambda t, x, y: lib.mc_reduce(t, isa, kind, outer, n, inner, x, y),
                         view=view)


KERNELS = [
    kernel("Softmax", prepare_softmax, accepts_softmax),
    kernel("LayerNormalization", prepare_layer_norm, accepts_layer_norm),
    kernel("BatchNormalization", prepare_batch_norm, accepts_batch_norm),
    *(kernel(op, prepare_reduce, accepts_reduce) for op in REDUCE),
]
