"""Integer matrix products: MatMulInteger and QLinearMatMul (ONNX opsets 10 and 21).

``MatMulInteger``: ``Y = (A - a_zero_point) @ (B - b_zero_point)`` in int32, A and B int8
or uint8, with numpy's matmul rules (batch broadcasting, 1-D operands promoted).
``QLinearMatMul``: the same product, requantized: ``y = saturate(round_half_even(acc *
a_scale * b_scale / y_scale) + y_zero_point)`` in the type of ``y_zero_point``.

Zero points and scales are per tensor (one element) or, as ONNX allows, per row of A
(a 1-D tensor of M values, or [..., M, 1]) and per column of B (N values, or [..., 1, N]).
The requantization follows the ONNX reference: the multiplier ``a_scale * b_scale /
y_scale`` is computed in the scales' type (float32 or float16), the product with the
exact integer accumulator in float64.
"""

from __future__ import annotations

import numpy as np

from mace_core.dtypes import DType
from mace_core.ops import OpDef
from mace_core.ops.gemm import infer_matmul
from mace_core.ops.quantize import QUANTIZED_TYPES, RANGES, SCALE_TYPES
from mace_core.schema import InferContext, OpSchema, OutputSpec


def row_param(value: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A zero point or scale of A shaped to broadcast against the (.., M, N) product:
    a 1-D tensor of M values becomes a column (per row of A)."""
    value = np.asarray(value)
    if value.size == 1:
        return value.reshape(())
    if value.ndim == 1 and a.ndim >= 2:
        return value.reshape(-1, 1)
    return value


def col_param(value: np.ndarray) -> np.ndarray:
    """A zero point or scale of B: one value, or per column (broadcasts along N as is)."""
    value = np.asarray(value)
    return value.reshape(()) if value.size == 1 else value


def _shifted(x: np.ndarray, zero_point: np.ndarray | None) -> np.ndarray:
    out = x.astype(np.int64)
    return out if zero_point is None else out - zero_point.astype(np.int64)


def integer_product(a, b, a_zero_point=None, b_zero_point=None) -> np.ndarray:
    """``(A - za) @ (B - zb)``, exact (int64); the zero points broadcast against A and B
    (per row of A, per column of B). A 1-D A has one zero point, as it has one row."""
    za = None if a_zero_point is None else row_param(a_zero_point, a)
    if za is not None and a.ndim == 1:
        za = za.reshape(-1)
    zb = None if b_zero_point is None else col_param(b_zero_point)
    return np.matmul(_shifted(a, za), _shifted(b, zb))


def matmul_integer(a, b, a_zero_point=None, b_zero_point=None) -> np.ndarray:
    """MatMulInteger: the int32 product of the zero-point-shifted operands."""
    return integer_product(a, b, a_zero_point, b_zero_point).astype(np.int32)


def requantize(acc: np.ndarray, a, a_scale, b_scale, y_scale, y_zero_point) -> np.ndarray:
    """``saturate(rint(acc * (a_scale * b_scale / y_scale)) + y_zero_point)``, the
    multiplier in the scales' type, the product in float64 (the ONNX reference's order)."""
    multiplier = (row_param(a_scale, a) * col_param(b_scale)) / np.asarray(y_scale).reshape(())
    if a.ndim == 1 and multiplier.ndim:
        multiplier = multiplier.reshape(-1)
    y = np.rint(acc.astype(np.float64) * multiplier.astype(np.float64))
    y = y + np.asarray(y_zero_point).astype(np.float64).reshape(())
    target = DType.from_numpy(np.asarray(y_zero_point).dtype)
    low, high = RANGES[target]
    return np.clip(y, low, high).astype(target.numpy)


def qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
                   y_zero_point) -> np.ndarray:
    """QLinearMatMul: the integer product requantized to the type of y_zero_point."""
    acc = integer_product(a, b, a_zero_point, b_zero_point)
    if y_zero_point is None:
        y_zero_point = np.zeros((), a.dtype)
    return requantize(acc, a, a_scale, b_scale, y_scale, y_zero_point)


# -- shape inference -----------------------------------------------------------------
def _check_quantized(ctx: InferContext, index: int, name: str) -> None:
    if ctx.dtype(index) not in QUANTIZED_TYPES:
        raise ctx.fail(f"{name} must be int8 or uint8, got {ctx.dtype(index)}")


def _check_zero_point(ctx: InferContext, index: int, of: int, name: str) -> None:
    if ctx.has_input(index) and ctx.dtype(index) != ctx.dtype(of):
        raise ctx.fail(f"{name}'s type {ctx.dtype(index)} differs from its operand's "
                       f"{ctx.dtype(of)}")


def _check_param(ctx: InferContext, index: int, size: int, name: str) -> None:
    """One value, or `size` values (per row of A / per column of B)."""
    if not ctx.has_input(index):
        return
    count = int(np.prod(ctx.shape(index))) if ctx.shape(index) else 1
    if count not in (1, size):
        raise ctx.fail(f"{name} must hold 1 or {size} values, got shape "
                       f"{list(ctx.shape(index))}")


def _rows_cols(ctx: InferContext, a: int, b: int) -> tuple[int, int]:
    sa, sb = ctx.shape(a), ctx.shape(b)
    return (sa[-2] if len(sa) >= 2 else 1), (sb[-1] if len(sb) >= 2 else 1)


def _infer_matmul_integer(ctx: InferContext) -> list[OutputSpec]:
    _check_quantized(ctx, 0, "A")
    _check_quantized(ctx, 1, "B")
    _check_zero_point(ctx, 2, 0, "a_zero_point")
    _check_zero_point(ctx, 3, 1, "b_zero_point")
    (shape, _), = infer_matmul(ctx)
    m, n = _rows_cols(ctx, 0, 1)
    _check_param(ctx, 2, m, "a_zero_point")
    _check_param(ctx, 3, n, "b_zero_point")
    return [(shape, DType.INT32)]


class _Operands:
    """The context seen through A (input 0) and B (input 3) for infer_matmul."""

    def __init__(self, ctx: InferContext) -> None:
        self._ctx = ctx

    def shape(self, i: int):
        return self._ctx.shape(3 if i else 0)

    def dtype(self, i: int) -> DType:
        return self._ctx.dtype(3 if i else 0)

    def fail(self, message: str):
        return self._ctx.fail(message)


def _infer_qlinear_matmul(ctx: InferContext) -> list[OutputSpec]:
    _check_quantized(ctx, 0, "a")
    _check_quantized(ctx, 3, "b")
    _check_zero_point(ctx, 2, 0, "a_zero_point")
    _check_zero_point(ctx, 5, 3, "b_zero_point")
    for index, name in ((1, "a_scale"), (4, "b_scale"), (6, "y_scale")):
        if ctx.dtype(index) not in SCALE_TYPES:
            raise ctx.fail(f"{name} must be float32 or float16, got {ctx.dtype(index)}")
    (shape, _), = infer_matmul(_Operands(ctx))  # type: ignore[arg-type]
    m, n = _rows_cols(ctx, 0, 3)
    for index, size, name in ((1, m, "a_scale"), (2, m, "a_zero_point"), (4, n, "b_scale"),
                              (5, n, "b_zero_point"), (6, 1, "y_scale"),
                              (7, 1, "y_zero_point")):
        _check_param(ctx, index, size, name)
    out = ctx.dtype(7) if ctx.has_input(7) else ctx.dtype(0)
    if out not in QUANTIZED_TYPES:
        raise ctx.fail(f"y_zero_point must be int8 or uint8, got {out}")
    return [(shape, out)]


OPS = [
    OpDef(
        OpSchema(
            "MatMulInteger",
            _infer_matmul_integer,
            num_inputs=(2, 4),
            doc="int32 (A - a_zero_point) @ (B - b_zero_point), int8/uint8 operands",
        ),
        matmul_integer,
    ),
    OpDef(
        OpSchema(
            "QLinearMatMul",
            _infer_qlinear_matmul,
            num_inputs=(8, 8),
            doc="quantized matmul: integer product requantized with the output scale",
        ),
        qlinear_matmul,
    ),
]
