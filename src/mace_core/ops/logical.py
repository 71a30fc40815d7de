"""Boolean logic and selection: Not, And, Or, Xor, Where."""

from __future__ import annotations

import numpy as np

from mace_core.dtypes import DType
from mace_core.ops import OpDef
from mace_core.ops.elementwise import check_same_dtype
from mace_core.schema import InferContext, InferFn, OpSchema, OutputSpec, broadcast_shapes


def _bool_inputs() -> InferFn:
    """Broadcast of boolean inputs to a boolean output."""

    def infer(ctx: InferContext) -> list[OutputSpec]:
        for i, desc in enumerate(ctx.descs):
            if desc is not None and desc.dtype != DType.BOOL:
                raise ctx.fail(f"input {i} has dtype {desc.dtype}, expected bool")
        shapes = [d.shape for d in ctx.descs if d is not None]
        return [(broadcast_shapes(ctx, shapes), DType.BOOL)]

    return infer


def logical_not(x):
    return np.logical_not(x)


def logical_and(a, b):
    return np.logical_and(a, b)


def logical_or(a, b):
    return np.logical_or(a, b)


def logical_xor(a, b):
    return np.logical_xor(a, b)


def where(condition, x, y):
    """x where condition holds, else y (all three broadcast)."""
    return np.where(condition, x, y).astype(x.dtype)


def _infer_where(ctx: InferContext) -> list[OutputSpec]:
    if ctx.dtype(0) != DType.BOOL:
        raise ctx.fail(f"input 0 (condition) has dtype {ctx.dtype(0)}, expected bool")
    dtype = check_same_dtype(ctx, (1, 2))
    return [(broadcast_shapes(ctx, [ctx.shape(0), ctx.shape(1), ctx.shape(2)]), dtype)]


OPS = [
    OpDef(OpSchema("Not", _bool_inputs(), doc="logical not"), logical_not),
    OpDef(OpSchema("And", _bool_inputs(), num_inputs=(2, 2), doc="a and b"), logical_and),
    OpDef(OpSchema("Or", _bool_inputs(), num_inputs=(2, 2), doc="a or b"), logical_or),
    OpDef(OpSchema("Xor", _bool_inputs(), num_inputs=(2, 2), doc="a xor b"), logical_xor),
    OpDef(OpSchema("Where", _infer_where, num_inputs=(3, 3), doc="condition ? x : y"), where),
]
