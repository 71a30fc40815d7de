"""Ops that rearrange or describe a tensor without computing on its values:
Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Shape, Size, Identity, Dropout."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mace_core.dtypes import DType
from mace_core.ir import Shape
from mace_core.ops import OpDef
from mace_core.schema import InferContext, OpSchema, OutputSpec, broadcast_shapes, same_as_input


# -- helpers shared with other op modules ---------------------------------------------------
def checked(ctx: InferContext, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, turning its ValueError into a validation error that names the node."""
    try:
        return fn(*args)
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None


def int_list(value: Any) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


def axes_argument(axes_input: Sequence[Any], axes_attr: Any) -> list[int] | None:
    """Axes given as an input (newer opsets) or as the ``axes`` attribute; None if neither."""
    if axes_input and axes_input[0] is not None:
        return int_list(axes_input[0])
    return None if axes_attr is None else [int(a) for a in axes_attr]


def infer_axes(ctx: InferContext, index: int = 1) -> list[int] | None:
    """Shape inference's view of :func:`axes_argument`: input ``index`` must be constant."""
    if ctx.has_input(index):
        return int_list(ctx.value(index, "axes"))
    return axes_argument((), ctx.attrs.get("axes"))


def normalize_axes(axes: Sequence[int], rank: int, what: str = "axes") -> list[int]:
    """Axes in [0, rank); negative ones count from the end; repeats are an error."""
    result = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"{what} {list(axes)}: axis {a} is out of range for rank {rank}")
        result.append(a % rank)
    if len(set(result)) != len(result):
        raise ValueError(f"{what} {list(axes)} name an axis twice")
    return result


# -- Reshape, Flatten --------------------------------------------------------------------------
def reshape_target(in_shape: Shape, shape: Any, allowzero: int) -> Shape:
    """The output shape of Reshape: 0 copies the input dimension (unless ``allowzero``),
    one -1 takes whatever size is left."""
    dims = int_list(shape)
    out, unknown = [], None
    for i, d in enumerate(dims):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ValueError(f"shape {dims}: 0 at position {i} copies an input dimension, "
                                 f"but the input {list(in_shape)} has only {len(in_shape)}")
            d = in_shape[i]
        elif d == -1:
            if unknown is not None:
                raise ValueError(f"shape {dims} has more than one -1")
            unknown, d = i, 1
        elif d < 0:
            raise ValueError(f"shape {dims}: {d} is invalid (only -1 may be negative)")
        out.append(d)
    size = math.prod(in_shape)
    if unknown is not None:
        known = math.prod(out)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape {list(in_shape)} to {dims}: the -1 has no "
                             "whole-number size")
        out[unknown] = size // known
    if math.prod(out) != size:
        raise ValueError(f"cannot reshape {list(in_shape)} ({size} elements) to {dims} "
                         f"({math.prod(out)} elements)")
    return tuple(out)


def reshape(data, *shape_input, allowzero=0, shape=None):
    # Reshape-5+ gives the target shape as input 1, Reshape-1 as the ``shape`` attribute.
    target = shape_input[0] if shape_input and shape_input[0] is not None else shape
    return np.reshape(data, reshape_target(data.shape, target, allowzero))


def _infer_reshape(ctx: InferContext) -> list[OutputSpec]:
    if ctx.has_input(1):
        target = ctx.value(1, "target shape")
    elif ctx.attrs["shape"] is not None:
        target = ctx.attrs["shape"]
    else:
        raise ctx.fail("the target shape is missing: give input 1 (shape)")
    allowzero = ctx.attrs["allowzero"]
    return [(checked(ctx, reshape_target, ctx.shape(0), target, allowzero), ctx.dtype(0))]


def flatten_shape(in_shape: Shape, axis: int) -> Shape:
    rank = len(in_shape)
    if not -rank <= axis <= rank:
        raise ValueError(f"axis {axis} is out of range for a rank-{rank} input")
    axis = axis % rank if axis < 0 else axis
    return (math.prod(in_shape[:axis]), math.prod(in_shape[axis:]))


def flatten(x, *, axis=1):
    """2-D view: dimensions before ``axis`` make the rows, the rest the columns."""
    return np.reshape(x, flatten_shape(x.shape, axis))


def _infer_flatten(ctx: InferContext) -> list[OutputSpec]:
    return [(checked(ctx, flatten_shape, ctx.shape(0), ctx.attrs["axis"]), ctx.dtype(0))]


# -- Squeeze, Unsqueeze, Transpose -------------------------------------------------------------
def squeeze_shape(in_shape: Shape, axes: list[int] | None) -> Shape:
    """Drop the listed size-1 axes (every size-1 axis when ``axes`` is None or empty)."""
    if not axes:
        return tuple(d for d in in_shape if d != 1)
    drop = normalize_axes(axes, len(in_shape))
    for a in drop:
        if in_shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of shape {list(in_shape)}: its size is "
                             f"{in_shape[a]}, not 1")
    return tuple(d for i, d in enumerate(in_shape) if i not in drop)


def squeeze(data, *axes_input, axes=None):
    return np.reshape(data, squeeze_shape(data.shape, axes_argument(axes_input, axes)))


def unsqueeze_shape(in_shape: Shape, axes: list[int] | None) -> Shape:
    """Insert size-1 axes at ``axes`` (positions in the output)."""
    if axes is None:
        raise ValueError("axes are missing: give input 1 (axes) or the axes attribute")
    rank = len(in_shape) + len(axes)
    inserted = normalize_axes(axes, rank)
    rest = iter(in_shape)
    return tuple(1 if i in inserted else next(rest) for i in range(rank))


def unsqueeze(data, *axes_input, axes=None):
    return np.reshape(data, unsqueeze_shape(data.shape, axes_argument(axes_input, axes)))


def _infer_squeeze(ctx: InferContext) -> list[OutputSpec]:
    return [(checked(ctx, squeeze_shape, ctx.shape(0), infer_axes(ctx)), ctx.dtype(0))]


def _infer_unsqueeze(ctx: InferContext) -> list[OutputSpec]:
    return [(checked(ctx, unsqueeze_shape, ctx.shape(0), infer_axes(ctx)), ctx.dtype(0))]


def _perm(rank: int, perm: Sequence[int] | None) -> list[int]:
    if perm is None:
        return list(reversed(range(rank)))
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"perm {list(perm)} is not a permutation of the {rank} axes")
    return [int(p) for p in perm]


def transpose(x, *, perm=None):
    """Axes reordered: output axis i is input axis perm[i] (default: reversed)."""
    return np.transpose(x, _perm(x.ndim, perm))


def _infer_transpose(ctx: InferContext) -> list[OutputSpec]:
    shape = ctx.shape(0)
    perm = checked(ctx, _perm, len(shape), ctx.attrs["perm"])
    return [(tuple(shape[p] for p in perm), ctx.dtype(0))]


# -- Expand, Shape, Size ---------------------------------------------------------------------
def expand(x, shape):
    """x broadcast against ``shape`` (numpy rules in both directions)."""
    return np.array(np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int_list(shape)))))


def _infer_expand(ctx: InferContext) -> list[OutputSpec]:
    target = tuple(int_list(ctx.value(1, "target shape")))
    return [(broadcast_shapes(ctx, [ctx.shape(0), target]), ctx.dtype(0))]


def _shape_range(rank: int, start: int, end: int | None) -> tuple[int, int]:
    """Shape-15's [start, end) over the dimensions; negative counts from the end, clamped."""

    def clamp(i: int) -> int:
        return min(max(i + rank if i < 0 else i, 0), rank)

    return clamp(start), clamp(rank if end is None else end)


def shape(data, *, start=0, end=None):
    begin, stop = _shape_range(data.ndim, start, end)
    return np.array(data.shape[begin:stop], dtype=np.int64)


def _infer_shape(ctx: InferContext) -> list[OutputSpec]:
    begin, stop = _shape_range(len(ctx.shape(0)), ctx.attrs["start"], ctx.attrs["end"])
    return [((max(stop - begin, 0),), DType.INT64)]


def size(data):
    return np.array(data.size, dtype=np.int64)


def identity(x):
    return x


# -- Dropout ---------------------------------------------------------------------------------
def _dropout_active(ratio: Any, training_mode: Any) -> bool:
    return bool(training_mode is not None and np.asarray(training_mode).item()
                and float(np.asarray(ratio).item()) > 0)


def dropout(data, *optional, ratio=0.5, seed=None, is_test=0):
    """Inference: the input unchanged, and a mask of all True.

    Dropout-12+ takes ratio and training_mode as inputs 1 and 2; random dropping in
    training mode is not supported.
    """
    ratio_in = optional[0] if len(optional) > 0 and optional[0] is not None else ratio
    training = optional[1] if len(optional) > 1 else None
    if _dropout_active(ratio_in, training):
        raise ValueError("Dropout in training mode with ratio > 0 is not supported "
                         "(inference only)")
    return data, np.ones(data.shape, dtype=bool)


def _infer_dropout(ctx: InferContext) -> list[OutputSpec]:
    known = ctx.values + [None] * (3 - len(ctx.values))
    ratio = known[1] if known[1] is not None else ctx.attrs["ratio"]
    if known[2] is not None and _dropout_active(ratio, known[2]):
        raise ctx.fail("input 2 (training_mode) is true with ratio > 0; only inference "
                       "is supported")
    return [(ctx.shape(0), ctx.dtype(0)), (ctx.shape(0), DType.BOOL)]


OPS = [
    OpDef(OpSchema("Reshape", _infer_reshape, num_inputs=(1, 2),
                   attrs={"allowzero": 0, "shape": None},
                   doc="same elements, new shape; 0 copies a dimension, -1 infers one"),
          reshape),
    OpDef(OpSchema("Flatten", _infer_flatten, attrs={"axis": 1},
                   doc="2-D: dims before axis times dims from axis on"), flatten),
    OpDef(OpSchema("Squeeze", _infer_squeeze, num_inputs=(1, 2), attrs={"axes": None},
                   doc="drop size-1 axes (axes as input 1 or attribute)"), squeeze),
    OpDef(OpSchema("Unsqueeze", _infer_unsqueeze, num_inputs=(1, 2), attrs={"axes": None},
                   doc="insert size-1 axes (axes as input 1 or attribute)"), unsqueeze),
    OpDef(OpSchema("Transpose", _infer_transpose, attrs={"perm": None},
                   doc="permute axes (default: reverse them)"), transpose),
    OpDef(OpSchema("Expand", _infer_expand, num_inputs=(2, 2),
                   doc="broadcast to a shape"), expand),
    OpDef(OpSchema("Shape", _infer_shape, attrs={"start": 0, "end": None},
                   doc="the input's dimensions [start:end] as int64"), shape),
    OpDef(OpSchema("Size", lambda ctx: [((), DType.INT64)], doc="element count as int64"),
          size),
    OpDef(OpSchema("Identity", same_as_input(0), doc="the input unchanged"), identity),
    OpDef(OpSchema("Dropout", _infer_dropout, num_inputs=(1, 3), num_outputs=(1, 2),
                   attrs={"ratio": 0.5, "seed": None, "is_test": 0},
                   doc="inference: identity (and an all-True mask)"), dropout),
]
