"""Gemm and MatMul on the cpu device (float32). MatMul with a 2-D B folds A's batch axes
into M; with batched B (attention's Q K^T, A V) it runs one product per broadcast batch
index. A constant B (a fully connected layer) is packed once here, as fp16 under
``cpu_weight_dtype="float16"`` (mace_cpu.weights); ``cpu_precision="float16"`` computes
those with a constant B in fp16 where the CPU can (mace_cpu.precision).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node

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

BIAS_NONE, BIAS_ROW, BIAS_COL, BIAS_FULL = 0, 1, 2, 3


def bias_kind(c_shape: tuple[int, ...], m: int, n: int) -> int | None:
    """How Gemm's C broadcasts to (M, N): one value per column, per row, full; None if not."""
    dims = tuple(c_shape)
    if math.prod(dims) == 1 or dims in ((n,), (1, n)):
        return BIAS_COL
    if dims == (m, 1):
        return BIAS_ROW
    if dims == (m, n):
        return BIAS_FULL
    return None


def bias_vector(c: np.ndarray, kind: int, n: int) -> np.ndarray:
    """C as the flat array the C epilogue reads for ``kind``."""
    c = f32(c)
    if kind == BIAS_COL and c.size == 1:
        return np.full(n, c.reshape(-1)[0], np.float32)
    return c.reshape(-1)


def _gemm_dims(node: Node, graph: Graph) -> tuple[int, int, int]:
    a, b = shape(graph, node.inputs[0]), shape(graph, node.inputs[1])
    trans_a, trans_b = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
    m, k = (a[1], a[0]) if trans_a else a
    n = b[0] if trans_b else b[1]
    return m, n, k


def accepts_gemm(node: Node, graph: Graph) -> bool:
    if not io_f32(node, graph) or not fused_ok(node):
        return False
    if len(shape(graph, node.inputs[0])) != 2 or len(shape(graph, node.inputs[1])) != 2:
        return False
    m, n, _ = _gemm_dims(node, graph)
    c = node.inputs[2] if len(node.inputs) > 2 else ""
    return not c or bias_kind(shape(graph, c), m, n) is not None


def accepts_matmul(node: Node, graph: Graph) -> bool:
    if not io_f32(node, graph) or not fused_ok(node):
        return False
    a, b = shape(graph, node.inputs[0]), shape(graph, node.inputs[1])
    if len(a) < 2 or len(b) < 2:
        return False
    if len(b) == 2:
        return True
    try:  # batched: batch axes broadcast
        np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        return False
    return a[-1] == b[-2]


def _make(node: Node, graph: Graph, options: dict[str, Any], *, m: int, n: int, k: int,
          trans_a: int, trans_b: int, alpha: float, beta: float, c_name: str,
          out_shape: tuple[int, ...], attrs: dict[str, Any], op: str) -> Prepared:
    ffi, lib = native.load()
    kind_c = bias_kind(shape(graph, c_name), m, n) if c_name and beta != 0.0 else BIAS_NONE
    act, act_a, act_b = activation(attrs)
    params = ffi.new("mc_gemm_params *", dict(
        m=m, n=n, k=k, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta,
        bias_kind=kind_c, act=act, act_a=act_a, act_b=act_b))
    b_name = node.inputs[1]
    b_const = f32(graph.constants[b_name]) if b_name in graph.constants else None
    isa = native.isa()
    precision(options)  # a bad value fails here, on every CPU
    b_half = plan_weights(options, b_const, isa) if b_const is not None else None
    if b_half is not None:
        raw = lib.mc_gemm_create_f16(params, from_buffer()("unsigned short[]",
                                                           b_half.view(np.uint16)),
                                     native.isa_id(isa))
    else:
        raw = lib.mc_gemm_create(params, cin(b_const) if b_const is not None else ffi.NULL,
                                 native.isa_id(isa))
    if raw == ffi.NULL:
        raise MaceError(f"{node}: could not prepare the cpu GEMM (out of memory?)")
    plan = ffi.gc(raw, lib.mc_gemm_destroy)
    arith = use_f16_arith(options, lib.mc_gemm_use_f16_arith, plan)
    pool = pool_for(options)
    c_const = None
    if kind_c != BIAS_NONE and c_name in graph.constants:
        c_const = bias_vector(graph.constants[c_name], kind_c, n)

    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr, gemm_run = from_buffer(), lib.mc_gemm_run
    fixed = (slot[0],) if slot else None
    c_ptr = cin(c_const) if c_const is not None else ffi.NULL

    def run(inputs):
        b = ptr("float[]", f32(inputs[1])) if b_const is None else ffi.NULL
        bias = c_ptr
        if kind_c != BIAS_NONE and c_const is None:
            bias = ptr("float[]", bias_vector(inputs[2], kind_c, n))
        y, py = slot or new()
        status = gemm_run(plan, pool.ptr, ptr("float[]", f32(inputs[0])), b, bias, py)
        if status:
            check(status, node)
        return fixed or (y,)

    half = ffi.new("int *")
    weight_bytes = int(lib.mc_gemm_weight_bytes(plan, half))
    run = prepared(run, op=op, isa=isa, threads=pool.count, packed_b=b_const is not None,
                   weight_bytes=weight_bytes, weight_dtype="float16" if half[0] else "float32",
                   precision=arith)
    if kind_c != BIAS_NONE and c_const is None:
        return run  # the bias is reshaped per run
    bias_in = c_const if c_const is not None else -1
    return with_step(run, NativeStep(lib.MC_STEP_GEMM, out_shape, slot, op=plan,
                                     inputs=(0, -1 if b_const is not None else 1, bias_in)))


def prepare_gemm(node: Node, attrs: dict[str, Any], graph: Graph,
                 options: dict[str, Any]) -> Prepared:
    m, n, k = _gemm_dims(node, graph)
    c_name = node.inputs[2] if len(node.inputs) > 2 else ""
    return _make(node, graph, options, m=m, n=n, k=k, trans_a=int(attrs["transA"]),
                 trans_b=int(attrs["transB"]), alpha=float(attrs["alpha"]),
                 beta=float(attrs["beta"]), c_name=c_name, out_shape=(m, n), attrs=attrs,
                 op="Gemm")


def _batch_offsets(dims: tuple[int, ...], batch: tuple[int, ...]) -> list[int]:
    """Element offset of each matrix of an operand (shape ``dims``) over ``batch``."""
    mat = dims[-2] * dims[-1]
    lead = (1,) * (len(batch) - len(dims[:-2])) + tuple(dims[:-2])
    index = np.arange(math.prod(lead)).reshape(lead)
    return (np.broadcast_to(index, batch).reshape(-1) * mat).tolist()


def prepare_batched_matmul(node: Node, attrs: dict[str, Any], graph: Graph,
                           options: dict[str, Any]) -> Prepared:
    ffi, lib = native.load()
    a, b = shape(graph, node.inputs[0]), shape(graph, node.inputs[1])
    batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    m, k, n = a[-2], a[-1], b[-1]
    a_off = ffi.new("long[]", _batch_offsets(a, batch))
    b_off = ffi.new("long[]", _batch_offsets(b, batch))
    act, act_a, act_b = activation(attrs)
    isa = native.isa()
    isa_id = native.isa_id(isa)
    pool = pool_for(options)
    count = math.prod(batch)
    slot, new = output_buffer(graph, options, node.outputs[0], (*batch, m, n))
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        status = lib.mc_matmul_batched(pool.ptr, isa_id, count, m, n, k,
                                       ptr("float[]", f32(inputs[0])), a_off,
                                       ptr("float[]", f32(inputs[1])), b_off, act, act_a,
                                       act_b, py)
        if status:
            check(status, node)
        return (y,)

    return prepared(run, op="MatMul", isa=isa, threads=pool.count, batch=count,
                    precision="float32")


def prepare_matmul(node: Node, attrs: dict[str, Any], graph: Graph,
                   options: dict[str, Any]) -> Prepared:
    a, b = shape(graph, node.inputs[0]), shape(graph, node.inputs[1])
    if len(b) > 2:
        return prepare_batched_matmul(node, attrs, graph, options)
    m, k, n = math.prod(a[:-1]), a[-1], b[1]
    return _make(node, graph, options, m=m, n=n, k=k, trans_a=0, trans_b=0, alpha=1.0,
                 beta=1.0, c_name="", out_shape=(*a[:-1], n), attrs=attrs, op="MatMul")


KERNELS = [
    kernel("Gemm", prepare_gemm, accepts_gemm),
    kernel("MatMul", prepare_matmul, accepts_matmul),
]
