"""MaxPool / AveragePool (2-D, one output) and GlobalAveragePool on the cpu device."""

from __future__ import annotations

import math
from typing import Any

from mace_core.ir import Graph, Node
from mace_core.ops.conv import AUTO_PADS, window_attrs, window_geometry

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.fused import NativeStep, with_step
from mace_cpu.kernels.common import (
    Prepared,
    all_f32,
    check,
    f32,
    from_buffer,
    kernel,
    prepared,
    shape,
)
from mace_cpu.threads import pool_for

POOL_MAX, POOL_AVG = 0, 1


def pool_geometry(x_shape, attrs: dict[str, Any], kind: int) -> dict[str, int]:
    """The C ``mc_pool_params`` of a 2-D MaxPool / AveragePool; ValueError if bad."""
    n, c, h, w = x_shape
    kernel_shape = [int(k) for k in attrs["kernel_shape"]]
    auto_pad = attrs.get("auto_pad", "NOTSET")
    s, d, p = window_attrs(2, kernel_shape, attrs.get("strides"), attrs.get("dilations"),
                           attrs.get("pads"), auto_pad)
    begin, end, out = window_geometry((h, w), kernel_shape, s, d, p, auto_pad,
                                      bool(attrs.get("ceil_mode", 0)))
    return dict(n=n, c=c, h=h, w=w, oh=out[0], ow=out[1], kh=kernel_shape[0],
                kw=kernel_shape[1], sh=s[0], sw=s[1], dh=d[0], dw=d[1], pt=begin[0],
                pl=begin[1], pb=end[0], pr=end[1], kind=kind,
                count_include_pad=int(attrs.get("count_include_pad", 0)))


def _accepts_window(node: Node, graph: Graph, kind: int) -> bool:
    if len(node.outputs) > 1 and any(node.outputs[1:]):
        return False  # MaxPool's Indices output: the reference computes it
    if not all_f32(graph, [node.inputs[0], node.outputs[0]]):
        return False
    x = shape(graph, node.inputs[0])
    if len(x) != 4 or node.attrs.get("auto_pad", "NOTSET") not in AUTO_PADS:
        return False
    if "kernel_shape" not in node.attrs:
        return False
    try:
        geo = pool_geometry(x, node.attrs, kind)
    except (ValueError, TypeError):
        return False
    return min(geo["oh"], geo["ow"]) > 0


def accepts_max_pool(node: Node, graph: Graph) -> bool:
    return _accepts_window(node, graph, POOL_MAX)


def accepts_average_pool(node: Node, graph: Graph) -> bool:
    return _accepts_window(node, graph, POOL_AVG)


def _prepare_window(node: Node, attrs: dict[str, Any], graph: Graph,
                    options: dict[str, Any], kind: int) -> Prepared:
    ffi, lib = native.load()
    geo = pool_geometry(shape(graph, node.inputs[0]), attrs, kind)
    params = ffi.new("mc_pool_params *", geo)
    isa = native.isa()
    isa_id = native.isa_id(isa)
    pool = pool_for(options)
    out_shape = (geo["n"], geo["c"], geo["oh"], geo["ow"])

    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr = from_buffer()

    def run(inputs):
        x = f32(inputs[0])
        y, py = slot or new()
        check(lib.mc_pool2d(params, pool.ptr, isa_id, ptr("float[]", x), py), node)
        return (y,)

    return with_step(prepared(run, op=node.op_type, isa=isa, threads=pool.count),
                     NativeStep(lib.MC_STEP_POOL, out_shape, slot, op=params,
                                fields=dict(isa=isa_id)))


def prepare_max_pool(node, attrs, graph, options) -> Prepared:
    return _prepare_window(node, attrs, graph, options, POOL_MAX)


def prepare_average_pool(node, attrs, graph, options) -> Prepared:
    return _prepare_window(node, attrs, graph, options, POOL_AVG)


def accepts_global_average_pool(node: Node, graph: Graph) -> bool:
    return all_f32(graph, [node.inputs[0], node.outputs[0]]) and \
        len(shape(graph, node.inputs[0])) >= 3


def prepare_global_average_pool(node: Node, attrs: dict[str, Any], graph: Graph,
                                options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    x_shape = shape(graph, node.inputs[0])
    planes, size = x_shape[0] * x_shape[1], math.prod(x_shape[2:])
    out_shape = (*x_shape[:2], *([1] * (len(x_shape) - 2)))
    isa = native.isa()
    isa_id = native.isa_id(isa)
    pool = pool_for(options)

    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr = from_buffer()

    def run(inputs):
        x = f32(inputs[0])
        y, py = slot or new()
        check(lib.mc_global_avg_pool(pool.ptr, isa_id, planes, size, ptr("float[]", x), py), node)
        return (y,)

    return with_step(prepared(run, op="GlobalAveragePool", isa=isa, threads=pool.count),
                     NativeStep(lib.MC_STEP_GAP, out_shape, slot,
                                fields=dict(isa=isa_id, outer=planes, mid=size)))


KERNELS = [
    kernel("MaxPool", prepare_max_pool, accepts_max_pool),
    kernel("AveragePool", prepare_average_pool, accepts_average_pool),
    kernel("GlobalAveragePool", prepare_global_average_pool, accepts_global_average_pool),
]
