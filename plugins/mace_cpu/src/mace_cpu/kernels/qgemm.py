"""MatMulInteger and QLinearMatMul on the cpu device: the int8 GEMM of gemm_int8.c.

B must be a constant 2-D matrix (a quantized fully connected layer): it is packed once
here with its zero point. A's batch axes fold into M. Zero points are per tensor or per
row of A / per column of B (what the C kernel folds in); scales (QLinearMatMul) may be
per tensor, per row or per column too: the multiplier ``a_scale * b_scale / y_scale`` is
formed in numpy in the scales' type, as the reference does (``requantize``), and C
(``mc_requantize``) applies it to the int32 product in double with round-half-even and
saturation, so the result equals the reference exactly. Other layouts (batched B, N-D zero
points, a runtime B) fall back to the reference kernel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from mace_core.dtypes import DType
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node
from mace_core.ops.quantized_gemm import col_param, row_param

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.kernels.common import Prepared, check, kernel, prepared, shape
from mace_cpu.threads import pool_for

QUANTIZED = (DType.INT8, DType.UINT8)


def _static(graph: Graph, name: str) -> bool:
    desc = graph.tensors.get(name)
    return desc is not None and all(isinstance(d, (int, np.integer)) and d > 0
                                    for d in desc.shape)


def _param_ok(graph: Graph, name: str, size: int, per: str) -> bool:
    """Absent, one value, or `size` values laid out per row of A ("row": [M] or [M, 1])
    or per column of B ("col": [N] or [1, N])."""
    if not name:
        return True
    dims = shape(graph, name)
    if math.prod(dims) == 1:
        return True
    return dims in (((size,), (size, 1)) if per == "row" else ((size,), (1, size)))


def _accepts(node: Node, graph: Graph, a: str, b: str, za: str, zb: str,
             scales: tuple[str, ...] = ()) -> bool:
    if not all(_static(graph, n) for n in (a, b, *node.outputs)):
        return False
    if graph.desc(a).dtype not in QUANTIZED or graph.desc(b).dtype not in QUANTIZED:
        return False
    a_shape, b_shape = shape(graph, a), shape(graph, b)
    if len(a_shape) < 2 or len(b_shape) != 2 or b not in graph.constants:
        return False
    if zb and zb not in graph.constants:
        return False
    m, n = a_shape[-2], b_shape[1]
    row_ok = _param_ok(graph, za, m, "row") and (len(a_shape) == 2 or not za or
                                                 math.prod(shape(graph, za)) == 1)
    return row_ok and _param_ok(graph, zb, n, "col") and all(
        _param_ok(graph, s, size, per) for s, size, per in scales)


def _inputs(node: Node, *indices: int) -> list[str]:
    return [node.inputs[i] if i < len(node.inputs) else "" for i in indices]


def accepts_matmul_integer(node: Node, graph: Graph) -> bool:
    a, b, za, zb = _inputs(node, 0, 1, 2, 3)
    return _accepts(node, graph, a, b, za, zb)


def accepts_qlinear_matmul(node: Node, graph: Graph) -> bool:
    a, sa, za, b, sb, zb, sy, zy = _inputs(node, *range(8))
    if not (a and b and sa and sb and sy):
        return False
    m, n = shape(graph, a)[-2], shape(graph, b)[-1]
    return _accepts(node, graph, a, b, za, zb,
                    ((sa, m, "row"), (sb, n, "col"), (sy, 1, "col"), (zy, 1, "col")))


class _Int8Gemm:
    """The packed B of one node and the call that runs it: ``acc(a, za, y)``."""

    def __init__(self, node: Node, graph: Graph, options: dict[str, Any], b: str, zb: str):
        self.ffi, self.lib = native.load()
        b_const = np.ascontiguousarray(graph.constants[b])
        self.k, self.n = b_const.shape
        zb_values = (np.ascontiguousarray(graph.constants[zb], np.int32).reshape(-1)
                     if zb else np.zeros(0, np.int32))
        self.isa = native.isa()
        raw = self.lib.mc_q8gemm_create(
            self.n, self.k, self.ffi.from_buffer(b_const), int(b_const.dtype == np.int8),
            self.ffi.from_buffer("int[]", zb_values), zb_values.size,
            native.isa_id(self.isa))
        if raw == self.ffi.NULL:
            raise MaceError(f"{node}: could not prepare the cpu int8 GEMM (out of memory?)")
        self.plan = self.ffi.gc(raw, self.lib.mc_q8gemm_destroy)
        self.path = self.ffi.string(
            self.lib.mc_q8_path_name(self.lib.mc_q8gemm_path(self.plan))).decode()
        self.pool = pool_for(options)
        self.node = node

    def run(self, a: np.ndarray, za: np.ndarray | None, py: Any) -> None:
        """Writes the int32 product of A (rows folded) into the buffer at ``py``."""
        a = np.ascontiguousarray(a)
        m = a.size // self.k
        zvals = (np.ascontiguousarray(za, np.int32).reshape(-1) if za is not None
                 else np.zeros(0, np.int32))
        status = self.lib.mc_q8gemm_run(
            self.plan, self.pool.ptr, m, self.ffi.from_buffer(a), int(a.dtype == np.int8),
            self.ffi.from_buffer("int[]", zvals), zvals.size, self.ffi.cast("int *", py))
        if status:
            check(status, self.node)


def prepare_matmul_integer(node: Node, attrs: dict[str, Any], graph: Graph,
                           options: dict[str, Any]) -> Prepared:
    a, b, za, zb = _inputs(node, 0, 1, 2, 3)
    gemm = _Int8Gemm(node, graph, options, b, zb)
    out_shape = (*shape(graph, a)[:-1], gemm.n)
    slot, new = output_buffer(graph, options, node.outputs[0], out_shape, np.int32)
    fixed = (slot[0],) if slot else None
    za_index = 2 if za else None

    def run(inputs):
        y, py = slot or new()
        gemm.run(inputs[0], inputs[za_index] if za_index else None, py)
        return fixed or (y,)

    return prepared(run, op="MatMulInteger", isa=gemm.isa, int8_path=gemm.path,
                    threads=gemm.pool.count, packed_b=True)


def multiplier(a: np.ndarray, a_scale, b_scale, y_scale, m: int, n: int) -> np.ndarray:
    """``a_scale * b_scale / y_scale`` in the scales' type (as the reference forms it), as
    a (1 or m) x (1 or n) float64 matrix for mc_requantize."""
    mult = (row_param(a_scale, a) * col_param(b_scale)) / np.asarray(y_scale).reshape(())
    per_row = np.asarray(a_scale).size > 1 and a.ndim > 1
    per_col = np.asarray(b_scale).size > 1
    out = (m if per_row else 1, n if per_col else 1)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(mult, np.float64).reshape(
        out[0] if per_row else 1, out[1] if per_col else 1), out))


def prepare_qlinear_matmul(node: Node, attrs: dict[str, Any], graph: Graph,
                           options: dict[str, Any]) -> Prepared:
    a, sa, za, b, sb, zb, sy, zy = _inputs(node, *range(8))
    gemm = _Int8Gemm(node, graph, options, b, zb)
    out_shape = (*shape(graph, a)[:-1], gemm.n)
    zy_default = np.zeros((), graph.desc(a).dtype.numpy)
    ptr = gemm.ffi.from_buffer

    m = shape(graph, a)[-2] if len(shape(graph, a)) > 1 else 1
    acc = np.empty(out_shape, np.int32)
    rows = acc.size // max(gemm.n, 1)
    a_rank = np.empty((1,) * len(shape(graph, a)))  # multiplier() reads only A's rank
    scales = [graph.constants.get(name) for name in (sa, sb, sy)]
    fixed = (multiplier(a_rank, *scales, m, gemm.n)
             if all(v is not None for v in scales) else None)

    def run(inputs):
        gemm.run(inputs[0], inputs[2] if za else None, ptr(acc))
        y_zero = np.asarray(inputs[7] if zy else zy_default)
        mult = fixed if fixed is not None else multiplier(inputs[0], inputs[1], inputs[4],
                                                          inputs[6], m, gemm.n)
        y = np.empty(out_shape, y_zero.dtype)
        check(gemm.lib.mc_requantize(
            gemm.ffi.cast("int *", ptr(acc)), rows, m, gemm.n,
            gemm.ffi.cast("double *", ptr(mult)), mult.shape[0], mult.shape[1],
            float(y_zero.reshape(-1)[0]), int(y_zero.dtype == np.int8), ptr(y)), node)
        return (y,)

    return prepared(run, op="QLinearMatMul", isa=gemm.isa, int8_path=gemm.path,
                    threads=gemm.pool.count, packed_b=True)


KERNELS = [
    kernel("MatMulInteger", prepare_matmul_integer, accepts_matmul_integer),
    kernel("QLinearMatMul", prepare_qlinear_matmul, accepts_qlinear_matmul),
]
