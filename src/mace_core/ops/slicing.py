"""Ops that cut, join, pick or repeat parts of tensors:
Concat, Split, Slice, Gather, GatherElements, Tile, ArgMax, ArgMin, TopK."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mace_core.dtypes import DType
from mace_core.ir import Shape
from mace_core.ops import OpDef
from mace_core.ops.elementwise import check_same_dtype
from mace_core.ops.shape_ops import checked, int_list, normalize_axes
from mace_core.schema import REQUIRED, InferContext, OpSchema, OutputSpec, normalize_axis

INDEX_TYPES = (DType.INT32, DType.INT64)


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for a rank-{rank} input")
    return axis % rank


def _check_indices(ctx: InferContext, i: int) -> None:
    if ctx.dtype(i) not in INDEX_TYPES:
        raise ctx.fail(f"input {i} (indices) has dtype {ctx.dtype(i)}, expected int32 or int64")


# -- Concat, Split -----------------------------------------------------------------------------
def concat(*inputs, axis):
    return np.concatenate(inputs, axis=axis)


def _infer_concat(ctx: InferContext) -> list[OutputSpec]:
    dtype = check_same_dtype(ctx, range(len(ctx.descs)))
    shapes = [ctx.shape(i) for i in range(len(ctx.descs))]
    rank = len(shapes[0])
    axis = normalize_axis(ctx, ctx.attrs["axis"], rank)
    for i, s in enumerate(shapes):
        if len(s) != rank or any(a != b for d, (a, b) in enumerate(zip(s, shapes[0], strict=True))
                                 if d != axis):
            raise ctx.fail(f"input {i} has shape {list(s)}, expected {list(shapes[0])} except "
                           f"along axis {axis}")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [(tuple(out), dtype)]


def split_sizes(dim: int, split: Any, num_outputs: int | None) -> list[int]:
    """Sizes of the Split parts: the given ``split``, else ``num_outputs`` parts of
    ceil(dim / num_outputs) with a smaller last one."""
    if split is not None:
        sizes = int_list(split)
        if any(s < 0 for s in sizes) or sum(sizes) != dim:
            raise ValueError(f"split {sizes} must be non-negative and sum to the axis size {dim}")
        return sizes
    if num_outputs is None:
        raise ValueError("split sizes are missing: give input 1 (split), the split attribute "
                         "or num_outputs (for an equal split before opset 18, set num_outputs "
                         "to the number of outputs)")
    chunk = -(-dim // num_outputs)
    last = dim - chunk * (num_outputs - 1)
    if num_outputs < 1 or last < 0:
        raise ValueError(f"cannot split an axis of size {dim} into {num_outputs} parts")
    return [chunk] * (num_outputs - 1) + [last]


def split(x, *split_input, axis=0, split=None, num_outputs=None):
    """Parts of x along ``axis``; sizes from input 1, the split attribute or num_outputs."""
    given = split_input[0] if split_input and split_input[0] is not None else split
    sizes = split_sizes(x.shape[_axis(axis, x.ndim)], given, num_outputs)
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _infer_split(ctx: InferContext) -> list[OutputSpec]:
    shape = ctx.shape(0)
    axis = normalize_axis(ctx, ctx.attrs["axis"], len(shape))
    given = ctx.value(1, "split") if ctx.has_input(1) else ctx.attrs["split"]
    sizes = checked(ctx, split_sizes, shape[axis], given, ctx.attrs["num_outputs"])
    if len(sizes) != len(ctx.node.outputs):
        raise ctx.fail(f"split gives {len(sizes)} parts but the node has "
                       f"{len(ctx.node.outputs)} outputs")
    return [(shape[:axis] + (n,) + shape[axis + 1:], ctx.dtype(0)) for n in sizes]


# -- Slice -------------------------------------------------------------------------------------
def slice_plan(shape: Shape, starts: Any, ends: Any, axes: Any = None, steps: Any = None
               ) -> tuple[tuple[slice, ...], Shape]:
    """Python slices and the output shape for ONNX Slice (clamped, negative steps allowed)."""
    starts, ends = int_list(starts), int_list(ends)
    axes = list(range(len(starts))) if axes is None else int_list(axes)
    steps = [1] * len(starts) if steps is None else int_list(steps)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} must "
                         "have the same length")
    slices, out = [slice(None)] * len(shape), list(shape)
    for start, end, axis, step in zip(starts, ends, normalize_axes(axes, len(shape)), steps,
                                      strict=True):
        dim = shape[axis]
        if step == 0:
            raise ValueError(f"steps {steps}: a step is 0")
        start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:  # walking backwards: start at most the last element, end may be "before 0"
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        out[axis] = max(0, -((start - end) // step))  # ceil((end - start) / step)
        slices[axis] = slice(start, end if end >= 0 else None, step)
    return tuple(slices), tuple(out)


def slice_(data, *inputs, starts=None, ends=None, axes=None):
    """data[starts:ends:steps] on ``axes``; Slice-10+ gives these as inputs 1-4, Slice-1
    as attributes (without steps)."""
    if inputs:
        starts, ends = inputs[0], inputs[1]
        axes = inputs[2] if len(inputs) > 2 else None
        steps = inputs[3] if len(inputs) > 3 else None
    else:
        steps = None
    index, _ = slice_plan(data.shape, starts, ends, axes, steps)
    return data[index]


def _infer_slice(ctx: InferContext) -> list[OutputSpec]:
    if ctx.has_input(1):
        names = ("starts", "ends", "axes", "steps")
        args = [ctx.value(i, names[i - 1]) if ctx.has_input(i) else None for i in range(1, 5)]
    else:
        args = [ctx.attrs["starts"], ctx.attrs["ends"], ctx.attrs["axes"], None]
        if args[0] is None or args[1] is None:
            raise ctx.fail("starts and ends are missing: give inputs 1 and 2 (or attributes)")
    _, out = checked(ctx, slice_plan, ctx.shape(0), *args)
    return [(out, ctx.dtype(0))]


# -- Gather, GatherElements, Tile --------------------------------------------------------------
def _wrap_indices(indices: np.ndarray, dim: int) -> np.ndarray:
    """Negative indices count from the end; anything outside [-dim, dim) is an error."""
    if np.any((indices < -dim) | (indices >= dim)):
        bad = indices[(indices < -dim) | (indices >= dim)].reshape(-1)[0]
        raise IndexError(f"index {bad} is out of range for an axis of size {dim}")
    return np.where(indices < 0, indices + dim, indices)


def gather(data, indices, *, axis=0):
    """Entries of data along ``axis`` at ``indices`` (any shape)."""
    axis = _axis(axis, data.ndim)
    return np.take(data, _wrap_indices(indices, data.shape[axis]), axis=axis)


def _infer_gather(ctx: InferContext) -> list[OutputSpec]:
    shape = ctx.shape(0)
    axis = normalize_axis(ctx, ctx.attrs["axis"], len(shape))
    _check_indices(ctx, 1)
    return [(shape[:axis] + ctx.shape(1) + shape[axis + 1:], ctx.dtype(0))]


def gather_elements(data, indices, *, axis=0):
    """out[i][j][k] = data[indices[i][j][k]][j][k] for axis 0 (likewise for other axes)."""
    axis = _axis(axis, data.ndim)
    region = tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(indices.shape))
    return np.take_along_axis(data[region], _wrap_indices(indices, data.shape[axis]), axis=axis)


def _infer_gather_elements(ctx: InferContext) -> list[OutputSpec]:
    data, indices = ctx.shape(0), ctx.shape(1)
    normalize_axis(ctx, ctx.attrs["axis"], len(data))
    _check_indices(ctx, 1)
    if len(indices) != len(data):
        raise ctx.fail(f"input 1 (indices) has rank {len(indices)}, expected rank "
                       f"{len(data)} like input 0")
    return [(indices, ctx.dtype(0))]


def _tile_shape(shape: Shape, repeats: Any) -> Shape:
    reps = int_list(repeats)
    if len(reps) != len(shape) or any(r < 0 for r in reps):
        raise ValueError(f"repeats {reps} must hold one non-negative count per axis of the "
                         f"rank-{len(shape)} input")
    return tuple(d * r for d, r in zip(shape, reps, strict=True))


def tile(x, repeats):
    """x repeated ``repeats[i]`` times along each axis i."""
    _tile_shape(x.shape, repeats)
    return np.tile(x, int_list(repeats))


def _infer_tile(ctx: InferContext) -> list[OutputSpec]:
    return [(checked(ctx, _tile_shape, ctx.shape(0), ctx.value(1, "repeats")), ctx.dtype(0))]


# -- ArgMax, ArgMin, TopK ----------------------------------------------------------------------
def _arg(pick, x: np.ndarray, axis: int, keepdims: int, select_last_index: int) -> np.ndarray:
    axis = _axis(axis, x.ndim)
    if select_last_index:  # search the reversed axis and map the position back
        index = x.shape[axis] - 1 - pick(np.flip(x, axis), axis=axis)
    else:
        index = pick(x, axis=axis)
    if keepdims:
        index = np.expand_dims(index, axis)
    return np.asarray(index, dtype=np.int64)


def arg_max(x, *, axis=0, keepdims=1, select_last_index=0):
    """Position of the largest value along ``axis`` (the first one, or the last)."""
    return _arg(np.argmax, x, axis, keepdims, select_last_index)


def arg_min(x, *, axis=0, keepdims=1, select_last_index=0):
    """Position of the smallest value along ``axis`` (the first one, or the last)."""
    return _arg(np.argmin, x, axis, keepdims, select_last_index)


def _infer_arg(ctx: InferContext) -> list[OutputSpec]:
    shape = ctx.shape(0)
    axis = normalize_axis(ctx, ctx.attrs["axis"], len(shape))
    keep = (1,) if ctx.attrs["keepdims"] else ()
    return [(shape[:axis] + keep + shape[axis + 1:], DType.INT64)]


def _top_k_count(k_input: Sequence[Any], k_attr: int | None) -> int:
    if k_input and k_input[0] is not None:
        return int(np.asarray(k_input[0]).reshape(-1)[0])
    if k_attr is None:
        raise ValueError("k is missing: give input 1 (K) or the k attribute")
    return int(k_attr)


def top_k(x, *k_input, axis=-1, largest=1, sorted=1, k=None):  # noqa: A002 - ONNX name
    """The k largest (or smallest) values along ``axis`` and their indices, sorted; equal
    values keep the lower index first."""
    count, axis = _top_k_count(k_input, k), _axis(axis, x.ndim)
    if not 0 <= count <= x.shape[axis]:
        raise ValueError(f"k = {count} is outside [0, {x.shape[axis]}] (the axis size)")
    if largest:  # stable sort of the reversed axis, read backwards: descending, ties low-first
        n = x.shape[axis]
        order = n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    indices = np.take(order, np.arange(count), axis=axis)
    return np.take_along_axis(x, indices, axis=axis), indices.astype(np.int64)


def _infer_top_k(ctx: InferContext) -> list[OutputSpec]:
    shape = ctx.shape(0)
    axis = normalize_axis(ctx, ctx.attrs["axis"], len(shape))
    k_input = [ctx.value(1, "K")] if ctx.has_input(1) else []
    count = checked(ctx, _top_k_count, k_input, ctx.attrs["k"])
    if not 0 <= count <= shape[axis]:
        raise ctx.fail(f"k = {count} is outside [0, {shape[axis]}] (the size of axis {axis})")
    out = shape[:axis] + (count,) + shape[axis + 1:]
    return [(out, ctx.dtype(0)), (out, DType.INT64)]


OPS = [
    OpDef(OpSchema("Concat", _infer_concat, num_inputs=(1, None), attrs={"axis": REQUIRED},
                   doc="join inputs along axis"), concat),
    OpDef(OpSchema("Split", _infer_split, num_inputs=(1, 2), num_outputs=(1, None),
                   attrs={"axis": 0, "split": None, "num_outputs": None},
                   doc="cut along axis into parts of given sizes or a given count"), split),
    OpDef(OpSchema("Slice", _infer_slice, num_inputs=(1, 5),
                   attrs={"starts": None, "ends": None, "axes": None},
                   doc="strided slice; negative steps walk backwards"), slice_),
    OpDef(OpSchema("Gather", _infer_gather, num_inputs=(2, 2), attrs={"axis": 0},
                   doc="take entries along axis"), gather),
    OpDef(OpSchema("GatherElements", _infer_gather_elements, num_inputs=(2, 2),
                   attrs={"axis": 0}, doc="take one entry per index along axis"),
          gather_elements),
    OpDef(OpSchema("Tile", _infer_tile, num_inputs=(2, 2), doc="repeat along each axis"), tile),
    OpDef(OpSchema("ArgMax", _infer_arg, attrs={"axis": 0, "keepdims": 1,
                                                "select_last_index": 0},
                   doc="int64 position of the maximum along axis"), arg_max),
    OpDef(OpSchema("ArgMin", _infer_arg, attrs={"axis": 0, "keepdims": 1,
                                                "select_last_index": 0},
                   doc="int64 position of the minimum along axis"), arg_min),
    OpDef(OpSchema("TopK", _infer_top_k, num_inputs=(1, 2), num_outputs=(2, 2),
                   attrs={"axis": -1, "largest": 1, "sorted": 1, "k": None},
                   doc="k largest/smallest values along axis and their int64 indices"), top_k),
]
