"""Conv and ConvTranspose on the cpu device: 2-D (and Conv 1-D, as 2-D of height 1),
float32, constant weights (packed once here).

The C plan picks the algorithm (depthwise direct, 1x1 GEMM, pixels-as-rows GEMM for small
images, implicit-im2col GEMM, Winograd F(4,3) / F(2,3) for 3x3 stride 1 where its cost model
says it pays; ``MACE_CPU_CONV_ALGO`` forces one for kernels prepared afterwards) and fuses
bias and activation; see csrc/conv.c and csrc/winograd.c. Under
``cpu_weight_dtype="float16"`` (mace_cpu.weights) the GEMM algorithms other than
Winograd keep their packed weights as fp16; under ``cpu_precision="float16"`` they compute
in fp16 where the CPU can (mace_cpu.precision).
ConvTranspose (group 1) is a GEMM and a col2im (csrc/conv_transpose.c).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node
from mace_core.ops.conv import AUTO_PADS, window_attrs, window_geometry
from mace_core.ops.conv_transpose import transpose_geometry

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.fused import NativeStep, with_step
from mace_cpu.kernels.common import (
    Prepared,
    activation,
    check,
    cin,
    f32,
    from_buffer,
    fused_ok,
    io_f32,
    kernel,
    prepared,
    shape,
)
from mace_cpu.precision import plan_weights, precision, use_f16_arith
from mace_cpu.threads import pool_for


def conv_geometry(x_shape, w_shape, attrs: dict[str, Any]) -> dict[str, int]:
    """The C ``mc_conv_params`` fields (without activation) of a 2-D Conv; ValueError if bad."""
    n, c, h, w = x_shape
    m, cg, kh, kw = w_shape
    s, d, p = window_attrs(2, [kh, kw], attrs.get("strides"), attrs.get("dilations"),
                           attrs.get("pads"), attrs.get("auto_pad", "NOTSET"))
    begin, _, out = window_geometry((h, w), [kh, kw], s, d, p, attrs.get("auto_pad", "NOTSET"))
    group = int(attrs.get("group", 1) or 1)
    if group < 1 or c != cg * group or m % group:
        raise ValueError(f"channels {c} / weights {list(w_shape)} / group {group} mismatch")
    return dict(n=n, c=c, h=h, w=w, m=m, kh=kh, kw=kw, oh=out[0], ow=out[1], sh=s[0], sw=s[1],
                dh=d[0], dw=d[1], pt=begin[0], pl=begin[1], group=group)


def as_2d(x_shape, w_shape, attrs: dict[str, Any]) -> tuple[tuple, tuple, dict[str, Any]]:
    """A 1-D Conv (N x C x L) as a 2-D one of height 1: the shapes and window attributes
    with a unit first spatial axis (no stride, dilation or padding along it). 2-D Convs are
    returned as they are."""
    if len(x_shape) != 3:
        return tuple(x_shape), tuple(w_shape), attrs
    flat = dict(attrs)
    for key in ("strides", "dilations", "kernel_shape"):
        if attrs.get(key):
            flat[key] = [1, *attrs[key]]
    if attrs.get("pads"):
        begin, end = attrs["pads"]
        flat["pads"] = [0, begin, 0, end]
    x4 = (x_shape[0], x_shape[1], 1, x_shape[2])
    return x4, (w_shape[0], w_shape[1], 1, w_shape[2]), flat


def accepts_conv(node: Node, graph: Graph) -> bool:
    if not io_f32(node, graph) or not fused_ok(node) or len(node.inputs) < 2:
        return False
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else ""
    if w not in graph.constants or (bias and bias not in graph.constants):
        return False
    rank = len(shape(graph, x))
    if rank not in (3, 4) or len(shape(graph, w)) != rank:
        return False
    if node.attrs.get("auto_pad", "NOTSET") not in AUTO_PADS:
        return False
    kernel_shape = node.attrs.get("kernel_shape")
    if kernel_shape is not None and len(kernel_shape) and \
            list(kernel_shape) != list(shape(graph, w)[2:]):
        return False
    try:
        geo = conv_geometry(*as_2d(shape(graph, x), shape(graph, w), node.attrs))
    except (ValueError, TypeError):
        return False
    return min(geo["oh"], geo["ow"]) > 0


def create_plan(node: Node, graph: Graph, attrs: dict[str, Any], geo: dict[str, int],
                create, destroy, what: str, *, create_f16=None, options=None):
    """``(plan, isa)``: a C convolution plan (``mc_conv_create`` or ``mc_convt_create``) for
    ``geo`` with the node's fused activation, constant weights and optional bias; with
    ``create_f16`` (``mc_conv_create_f16``), the weights go to it as fp16 when ``options``
    ask for fp16 weights or fp16 arithmetic (mace_cpu.precision). The C side copies
    weights, bias and parameters, so nothing here must outlive the call."""
    ffi, _ = native.load()
    kind, a, b = activation(attrs)
    params = ffi.new("mc_conv_params *", {**geo, "act": kind, "act_a": a, "act_b": b})
    weight = f32(graph.constants[node.inputs[1]])
    bias_name = node.inputs[2] if len(node.inputs) > 2 else ""
    bias = f32(graph.constants[bias_name]).reshape(-1) if bias_name else None
    isa = native.isa()
    half = plan_weights(options or {}, weight, isa) if create_f16 is not None else None
    if half is not None:
        create, w_ptr = create_f16, ffi.from_buffer("unsigned short[]", half.view(np.uint16))
    else:
        w_ptr = cin(weight)
    raw = create(params, w_ptr, cin(bias) if bias is not None else ffi.NULL,
                 native.isa_id(isa))
    if raw == ffi.NULL:
        raise MaceError(f"{node}: could not prepare the cpu {what} (out of memory?)")
    return ffi.gc(raw, destroy), isa


def prepare_conv(node: Node, attrs: dict[str, Any], graph: Graph,
                 options: dict[str, Any]) -> Prepared:
    ffi, lib = native.load()
    precision(options)  # a bad value fails here, on every CPU
    x_shape, w_shape, attrs_2d = as_2d(shape(graph, node.inputs[0]),
                                       shape(graph, node.inputs[1]), attrs)
    geo = conv_geometry(x_shape, w_shape, attrs_2d)
    depthwise = geo["group"] == geo["c"] and w_shape[1] == 1  # weights stay fp32 there
    plan, isa = create_plan(node, graph, attrs, geo, lib.mc_conv_create, lib.mc_conv_destroy,
                            "convolution", options=options,
                            create_f16=None if depthwise else lib.mc_conv_create_f16)
    arith = use_f16_arith(options, lib.mc_conv_use_f16_arith, plan)
    pool = pool_for(options)
    out_shape = (geo["n"], geo["m"], geo["oh"], geo["ow"])
    if len(shape(graph, node.inputs[0])) == 3:  # 1-D: N x M x OW, the same memory
        out_shape = (geo["n"], geo["m"], geo["ow"])
    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr, conv_run = from_buffer(), lib.mc_conv_run
    fixed = (slot[0],) if slot else None

    def run(inputs):
        y, py = slot or new()
        status = conv_run(plan, pool.ptr, ptr("float[]", f32(inputs[0])), py)
        if status:
            check(status, node)
        return fixed or (y,)

    algo = ffi.string(lib.mc_conv_algo(plan)).decode()
    half = ffi.new("int *")
    weight_bytes = int(lib.mc_conv_weight_bytes(plan, half))
    tile = {"wino_tile": lib.mc_conv_wino_tile(plan)} if algo == "winograd" else {}
    run = prepared(run, op="Conv", algo=algo, isa=isa, threads=pool.count,
                   weight_bytes=weight_bytes, weight_dtype="float16" if half[0] else "float32",
                   precision=arith, **tile)
    return with_step(run, NativeStep(lib.MC_STEP_CONV, out_shape, slot, op=plan))


# -- ConvTranspose ------------------------------------------------------------------------------
def transpose_params(x_shape, w_shape, attrs: dict[str, Any]) -> dict[str, int]:
    """The C ``mc_conv_params`` (without activation) of a 2-D, group-1 ConvTranspose;
    ValueError when the geometry is not one the C kernel takes."""
    n, c, h, w = x_shape
    cw, m, kh, kw = w_shape
    if int(attrs.get("group", 1) or 1) != 1 or cw != c:
        raise ValueError("group != 1")
    auto_pad = attrs.get("auto_pad", "NOTSET")
    s, d, p = window_attrs(2, [kh, kw], attrs.get("strides"), attrs.get("dilations"),
                           attrs.get("pads"), auto_pad)
    begin, _, out = transpose_geometry((h, w), [kh, kw], s, d, p, attrs.get("output_padding"),
                                       attrs.get("output_shape"), auto_pad)
    if min(begin) < 0 or min(out) <= 0:
        raise ValueError("negative padding")
    return dict(n=n, c=c, h=h, w=w, m=m, kh=kh, kw=kw, oh=out[0], ow=out[1], sh=s[0], sw=s[1],
                dh=d[0], dw=d[1], pt=begin[0], pl=begin[1], group=1)


def accepts_conv_transpose(node: Node, graph: Graph) -> bool:
    if not io_f32(node, graph) or not fused_ok(node) or len(node.inputs) < 2:
        return False
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else ""
    if w not in graph.constants or (bias and bias not in graph.constants):
        return False
    if len(shape(graph, x)) != 4 or len(shape(graph, w)) != 4:
        return False
    try:
        geo = transpose_params(shape(graph, x), shape(graph, w), node.attrs)
    except (ValueError, TypeError):
        return False
    return (geo["n"], geo["m"], geo["oh"], geo["ow"]) == shape(graph, node.outputs[0])


def prepare_conv_transpose(node: Node, attrs: dict[str, Any], graph: Graph,
                           options: dict[str, Any]) -> Prepared:
    _, lib = native.load()
    geo = transpose_params(shape(graph, node.inputs[0]), shape(graph, node.inputs[1]), attrs)
    plan, isa = create_plan(node, graph, attrs, geo, lib.mc_convt_create,
                            lib.mc_convt_destroy, "ConvTranspose")
    pool = pool_for(options)
    out_shape = (geo["n"], geo["m"], geo["oh"], geo["ow"])
    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        status = lib.mc_convt_run(plan, pool.ptr, ptr("float[]", f32(inputs[0])), py)
        if status:
            check(status, node)
        return (y,)

    return with_step(prepared(run, op="ConvTranspose", isa=isa, threads=pool.count),
                     NativeStep(lib.MC_STEP_CONVT, out_shape, slot, op=plan))


KERNELS = [
    kernel("Conv", prepare_conv, accepts_conv),
    kernel("ConvTranspose", prepare_conv_transpose, accepts_conv_transpose),
]
