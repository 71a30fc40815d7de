"""Gemm (alpha * A' B' + beta * C) and MatMul (numpy matmul), both with fused activation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mace_core.ops import OpDef
from mace_core.ops.conv import compute_dtype
from mace_core.ops.fused_activation import ACTIVATION_ATTRS, apply_activation
from mace_core.schema import InferContext, OpSchema, OutputSpec, broadcast_shapes


def gemm(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray | None = None,
    *,
    alpha: float,
    beta: float,
    transA: int,  # noqa: N803 - ONNX attribute names
    transB: int,  # noqa: N803
    broadcast: int = 0,
    activation: str = "",
    activation_params: Sequence[float] = (),
) -> np.ndarray:
    """``alpha * op(A) @ op(B) + beta * C``, where op transposes when transA / transB is set."""
    acc = compute_dtype(a.dtype)
    am = a.astype(acc, copy=False)
    bm = b.astype(acc, copy=False)
    y = (am.T if transA else am) @ (bm.T if transB else bm)
    if alpha != 1.0:
        y = y * np.asarray(alpha, dtype=acc)
    if c is not None and beta != 0.0:
        y = y + np.asarray(beta, dtype=acc) * c.astype(acc, copy=False)
    return apply_activation(y, activation, activation_params).astype(a.dtype, copy=False)


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    *,
    activation: str = "",
    activation_params: Sequence[float] = (),
) -> np.ndarray:
    """Matrix product with numpy's rules: batch broadcasting, 1-D operands promoted."""
    acc = compute_dtype(a.dtype)
    y = np.matmul(a.astype(acc, copy=False), b.astype(acc, copy=False))
    return apply_activation(np.asarray(y), activation, activation_params).astype(a.dtype)


def infer_gemm(ctx: InferContext) -> list[OutputSpec]:
    a, b = ctx.shape(0), ctx.shape(1)
    for i, name, shape in ((0, "A", a), (1, "B", b)):
        if len(shape) != 2:
            raise ctx.fail(f"input {i} ({name}) must be a matrix (rank 2), got {list(shape)}")
    m, k = (a[1], a[0]) if ctx.attrs["transA"] else a
    k2, n = (b[1], b[0]) if ctx.attrs["transB"] else b
    if k != k2:
        raise ctx.fail(
            f"inner dimensions differ: A{list(a)} (transA={ctx.attrs['transA']}) gives K={k}, "
            f"B{list(b)} (transB={ctx.attrs['transB']}) gives K={k2}"
        )
    if ctx.has_input(2):
        c = tuple(ctx.shape(2))
        if broadcast_shapes(ctx, [c, (m, n)]) != (m, n):
            raise ctx.fail(f"input 2 (C) {list(c)} cannot be broadcast to the output [{m}, {n}]")
    return [((m, n), ctx.dtype(0))]


def infer_matmul(ctx: InferContext) -> list[OutputSpec]:
    a, b = tuple(ctx.shape(0)), tuple(ctx.shape(1))
    if not a or not b:
        raise ctx.fail(f"inputs must have rank >= 1, got {list(a)} and {list(b)}")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ctx.fail(
            f"inner dimensions differ: A{list(a)} has K={a2[-1]} but B{list(b)} has K={b2[-2]}"
        )
    batch = broadcast_shapes(ctx, [a2[:-2], b2[:-2]])
    shape = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        shape = shape[:-2] + shape[-1:]
    if len(b) == 1:
        shape = shape[:-1]
    return [(shape, ctx.dtype(0))]


OPS = [
    OpDef(
        OpSchema(
            "Gemm",
            infer_gemm,
            num_inputs=(2, 3),
            attrs={
                "alpha": 1.0,
                "beta": 1.0,
                "transA": 0,
                "transB": 0,
                "broadcast": 0,  # opset < 7: C broadcasting had to be requested
                **ACTIVATION_ATTRS,
            },
            doc="alpha * A' @ B' + beta * C with optional transposes; C broadcasts",
        ),
        gemm,
    ),
    OpDef(
        OpSchema(
            "MatMul",
            infer_matmul,
            num_inputs=(2, 2),
            attrs=dict(ACTIVATION_ATTRS),
            doc="numpy.matmul: batched, broadcasting, 1-D operands promoted and squeezed",
        ),
        matmul,
    ),
]
