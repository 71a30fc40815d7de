"""Ops that make tensors from attributes and shapes: Constant, ConstantOfShape, Range, EyeLike."""

from __future__ import annotations

import math

import numpy as np

from mace_core.dtypes import DType
from mace_core.ops import OpDef
from mace_core.ops.cast import dtype_from_onnx
from mace_core.schema import InferContext, OpSchema, OutputSpec

# -- Constant ----------------------------------------------------------------------------
_CONSTANT_ATTRS = ("value", "value_float", "value_floats", "value_int", "value_ints",
                   "value_string", "value_strings", "sparse_value")


def constant_value(attrs: dict) -> np.ndarray:
    """The tensor a Constant node holds; exactly one ``value*`` attribute must be set."""
    given = [name for name in _CONSTANT_ATTRS if attrs.get(name) is not None]
    if len(given) != 1:
        raise ValueError(f"Constant needs exactly one of {', '.join(_CONSTANT_ATTRS)}; "
                         f"got {', '.join(given) or 'none'}")
    name = given[0]
    value = attrs[name]
    if name in ("value_string", "value_strings", "sparse_value"):
        raise ValueError(f"Constant attribute {name} is not supported (strings and sparse "
                         "tensors have no element type here)")
    if name == "value":
        return np.array(value)
    dtype = np.float32 if name.startswith("value_float") else np.int64
    return np.array(value, dtype=dtype)  # value_float/int: a scalar; *_floats/_ints: 1-D


def constant(**attrs):
    return constant_value(attrs)


def _infer_constant(ctx: InferContext) -> list[OutputSpec]:
    try:
        value = constant_value(ctx.attrs)
        dtype = DType.from_numpy(value.dtype)
    except (ValueError, TypeError) as exc:
        raise ctx.fail(str(exc)) from None
    return [(tuple(value.shape), dtype)]


# -- ConstantOfShape -----------------------------------------------------------------------
def _fill_value(value) -> np.ndarray:
    """The one-element fill tensor of ConstantOfShape (default: float32 zero)."""
    if value is None:
        return np.zeros(1, np.float32)
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"ConstantOfShape value must hold one element, got shape "
                         f"{list(value.shape)}")
    return value.reshape(1)


def _shape_arg(shape) -> tuple[int, ...]:
    dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    if any(d < 0 for d in dims):
        raise ValueError(f"shape {list(dims)} has a negative dimension")
    return dims


def constant_of_shape(shape, *, value=None):
    fill = _fill_value(value)
    return np.full(_shape_arg(shape), fill[0], dtype=fill.dtype)


def _infer_constant_of_shape(ctx: InferContext) -> list[OutputSpec]:
    try:
        fill = _fill_value(ctx.attrs["value"])
        dtype = DType.from_numpy(fill.dtype)
        shape = _shape_arg(ctx.value(0, "output shape"))
    except (ValueError, TypeError) as exc:
        raise ctx.fail(str(exc)) from None
    return [(shape, dtype)]


# -- Range ---------------------------------------------------------------------------------
def _range_length(start, limit, delta) -> int:
    """max(ceil((limit - start) / delta), 0), exactly for integers."""
    start, limit, delta = (np.asarray(v).reshape(()) for v in (start, limit, delta))
    if delta == 0:
        raise ValueError("Range delta must not be 0")
    if np.issubdtype(start.dtype, np.integer):
        span, step = int(limit) - int(start), int(delta)
        return max(-(-span // step), 0)
    return max(math.ceil((float(limit) - float(start)) / float(delta)), 0)


def range_(start, limit, delta, *, stash_type=1):
    """start, start + delta, ... up to limit (exclusive): element i is start + i * delta."""
    n = _range_length(start, limit, delta)
    start, delta = np.asarray(start).reshape(()), np.asarray(delta).reshape(())
    if np.issubdtype(start.dtype, np.integer):
        values = int(start) + np.arange(n, dtype=np.int64) * int(delta)
    else:
        # float16 computes in float32 (stash_type=1) so that large ranges stay exact
        wide = np.float32 if start.dtype == np.float16 and stash_type == 1 else start.dtype
        values = start.astype(wide) + np.arange(n, dtype=wide) * delta.astype(wide)
    return values.astype(start.dtype)


def _infer_range(ctx: InferContext) -> list[OutputSpec]:
    names = ("start", "limit", "delta")
    for i, name in enumerate(names):
        if ctx.shape(i) not in ((), (1,)):
            raise ctx.fail(f"input {i} ({name}) must be a scalar, got shape {list(ctx.shape(i))}")
        if ctx.dtype(i) != ctx.dtype(0):
            raise ctx.fail(f"input {i} ({name}) has dtype {ctx.dtype(i)}, expected "
                           f"{ctx.dtype(0)} like start")
    values = [ctx.value(i, name) for i, name in enumerate(names)]
    try:
        n = _range_length(*values)
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None
    return [((n,), ctx.dtype(0))]


# -- EyeLike -------------------------------------------------------------------------------
def eye_like(x, *, dtype=None, k=0):
    """A matrix of x's shape with ones on diagonal k (above the main one for k > 0)."""
    out = dtype_from_onnx(dtype).numpy if dtype is not None else x.dtype
    return np.eye(x.shape[0], x.shape[1], k=k, dtype=out)


def _infer_eye_like(ctx: InferContext) -> list[OutputSpec]:
    if len(ctx.shape(0)) != 2:
        raise ctx.fail(f"input 0 must be 2-D, got shape {list(ctx.shape(0))}")
    dtype = ctx.dtype(0)
    if ctx.attrs["dtype"] is not None:
        try:
            dtype = dtype_from_onnx(ctx.attrs["dtype"])
        except ValueError as exc:
            raise ctx.fail(f"attribute dtype: {exc}") from None
    return [(ctx.shape(0), dtype)]


OPS = [
    OpDef(
        OpSchema("Constant", _infer_constant, num_inputs=(0, 0),
                 attrs={name: None for name in _CONSTANT_ATTRS},
                 doc="a tensor given by one value* attribute"),
        constant,
    ),
    OpDef(
        OpSchema("ConstantOfShape", _infer_constant_of_shape, attrs={"value": None},
                 doc="a tensor of the given shape filled with value (default float32 0)"),
        constant_of_shape,
    ),
    OpDef(
        OpSchema("Range", _infer_range, num_inputs=(3, 3), attrs={"stash_type": 1},
                 doc="start, start + delta, ... up to limit (exclusive)"),
        range_,
    ),
    OpDef(
        OpSchema("EyeLike", _infer_eye_like, attrs={"dtype": None, "k": 0},
                 doc="identity-like matrix of the input's shape, diagonal k"),
        eye_like,
    ),
]
