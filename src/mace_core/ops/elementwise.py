"""Elementwise ops of two or more tensors with numpy broadcasting: Add, Sub, Mul, Div, Pow, ...

Add, Sub, Mul and Div accept a fused activation (see ``fused_activation.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np

from mace_core.dtypes import DType
from mace_core.ops import OpDef
from mace_core.ops.fused_activation import ACTIVATION_ATTRS, apply_activation
from mace_core.schema import (
    REQUIRED,
    InferContext,
    InferFn,
    OpSchema,
    OutputSpec,
    broadcast_shapes,
)


def check_same_dtype(ctx: InferContext, indices: Iterable[int]) -> DType:
    """The common dtype of the present inputs ``indices``; fails naming the first that differs."""
    present = [i for i in indices if ctx.has_input(i)]
    expected = ctx.dtype(present[0])
    for i in present[1:]:
        if ctx.dtype(i) != expected:
            raise ctx.fail(f"input {i} has dtype {ctx.dtype(i)}, expected {expected} "
                           f"(the dtype of input {present[0]})")
    return expected


def broadcast_same_dtype(out: DType | None = None) -> InferFn:
    """Numpy broadcasting of inputs that share one dtype; the output has ``out`` or that dtype."""

    def infer(ctx: InferContext) -> list[OutputSpec]:
        dtype = check_same_dtype(ctx, range(len(ctx.descs)))
        shapes = [d.shape for d in ctx.descs if d is not None]
        return [(broadcast_shapes(ctx, shapes), out or dtype)]

    return infer


def _binary(op_type: str, fn, doc: str, *, fused: bool = False, out: DType | None = None,
            attrs: dict | None = None, infer: InferFn | None = None) -> OpDef:
    """``c = fn(a, b, **attrs)`` broadcast, of dtype ``out`` or a's; ``fused`` adds the
    fused-activation attributes."""

    def reference(a, b, *, activation="", activation_params=(), **kw):
        with np.errstate(all="ignore"):  # x/0 is inf or nan, as in ONNX
            c = np.asarray(fn(a, b, **kw)).astype(out.numpy if out else a.dtype)
        return apply_activation(c, activation, activation_params)

    reference.__name__ = op_type.lower()
    all_attrs = {**(attrs or {}), **(ACTIVATION_ATTRS if fused else {})}
    schema = OpSchema(op_type, infer or broadcast_same_dtype(out), num_inputs=(2, 2),
                      attrs=all_attrs, doc=doc)
    return OpDef(schema, reference)


def divide(a, b):
    """a / b; integers divide truncating toward zero (as C, ONNX Runtime), not flooring."""
    if np.issubdtype(a.dtype, np.integer):
        return (a - np.fmod(a, b)) // b  # an exact multiple of b, so // is exact
    return np.divide(a, b)


def power(x, y):
    """x ** y with the dtype of x; y may have another dtype (Pow-12+)."""
    if np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer) and np.all(y >= 0):
        return np.power(x, y.astype(x.dtype))
    wide = np.power(x.astype(np.float64), y.astype(np.float64))
    return wide if np.issubdtype(x.dtype, np.floating) else np.trunc(wide)


def _infer_pow(ctx: InferContext) -> list[OutputSpec]:
    return [(broadcast_shapes(ctx, [ctx.shape(0), ctx.shape(1)]), ctx.dtype(0))]


def mod(a, b, *, fmod):
    """Remainder: with the sign of b (fmod=0, floor division) or of a (fmod=1, C fmod)."""
    if fmod not in (0, 1):
        raise ValueError(f"Mod fmod must be 0 or 1, got {fmod}")
    return np.fmod(a, b) if fmod else np.mod(a, b)


def bit_shift(x, y, *, direction):
    """x shifted by y bits; shifts outside [0, bits) give the sign fill (-1 or 0)."""
    bits = x.dtype.itemsize * 8
    valid = (y >= 0) & (y < bits)
    amount = np.where(valid, y, 0).astype(x.dtype)
    if direction == "LEFT":
        return np.where(valid, np.left_shift(x, amount), 0)
    if direction == "RIGHT":
        fill = np.where(x < 0, -1, 0) if np.issubdtype(x.dtype, np.signedinteger) else 0
        return np.where(valid, np.right_shift(x, amount), fill)
    raise ValueError(f"BitShift direction must be 'LEFT' or 'RIGHT', got {direction!r}")


def _infer_bit_shift(ctx: InferContext) -> list[OutputSpec]:
    if ctx.attrs["direction"] not in ("LEFT", "RIGHT"):
        raise ctx.fail(f"attribute direction must be 'LEFT' or 'RIGHT', got "
                       f"{ctx.attrs['direction']!r}")
    return broadcast_same_dtype()(ctx)


def _variadic(op_type: str, fn, doc: str) -> OpDef:
    """Folds ``fn`` over one or more broadcast inputs of one dtype."""

    def reference(*xs):
        with np.errstate(all="ignore"):
            return np.asarray(fn(xs)).astype(xs[0].dtype)

    reference.__name__ = op_type.lower()
    schema = OpSchema(op_type, broadcast_same_dtype(), num_inputs=(1, None), doc=doc)
    return OpDef(schema, reference)


def _fold(ufunc):
    return lambda xs: functools.reduce(ufunc, xs)


def _mean(xs):
    wide = [x.astype(np.float32) if x.dtype == np.float16 else x for x in xs]
    return functools.reduce(np.add, wide) / len(xs)


OPS = [
    _binary("Add", np.add, "a + b", fused=True),
    _binary("Sub", np.subtract, "a - b", fused=True),
    _binary("Mul", np.multiply, "a * b", fused=True),
    _binary("Div", divide, "a / b (integers truncate toward zero)", fused=True),
    _binary("Pow", power, "x ** y (y may have another dtype)", infer=_infer_pow),
    _binary("Mod", mod, "remainder; fmod=0: sign of b, fmod=1: sign of a", attrs={"fmod": 0}),
    _binary("BitShift", bit_shift, "x << y or x >> y", attrs={"direction": REQUIRED},
            infer=_infer_bit_shift),
    _binary("Equal", np.equal, "a == b", out=DType.BOOL),
    _binary("Less", np.less, "a < b", out=DType.BOOL),
    _binary("LessOrEqual", np.less_equal, "a <= b", out=DType.BOOL),
    _binary("Greater", np.greater, "a > b", out=DType.BOOL),
    _binary("GreaterOrEqual", np.greater_equal, "a >= b", out=DType.BOOL),
    _variadic("Min", _fold(np.minimum), "elementwise minimum of all inputs"),
    _variadic("Max", _fold(np.maximum), "elementwise maximum of all inputs"),
    _variadic("Sum", _fold(np.add), "elementwise sum of all inputs"),
    _variadic("Mean", _mean, "elementwise mean of all inputs"),
]
