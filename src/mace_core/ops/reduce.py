"""Reductions over axes: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp.

Axes come as the ``axes`` attribute (older opsets) or as input 1 (ReduceSum-13+, the others
18+). No axes reduce everything, unless ``noop_with_empty_axes`` is set: then nothing is
reduced and only the elementwise part (square, abs, log...) applies.
"""

from __future__ import annotations

import numpy as np

from mace_core.ops import OpDef
from mace_core.ops.shape_ops import axes_argument, checked, infer_axes, normalize_axes
from mace_core.schema import InferContext, OpSchema, OutputSpec


def reduce_axes(rank: int, axes: list[int] | None, noop_with_empty_axes: int) -> tuple[int, ...]:
    """The axes to reduce, in [0, rank)."""
    if not axes:
        return () if noop_with_empty_axes else tuple(range(rank))
    return tuple(normalize_axes(axes, rank))


def _floats(x: np.ndarray) -> np.ndarray:
    """x in a float type fit for exp/log/sqrt (integers become float64)."""
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _lowest(x: np.ndarray):
    if x.dtype == bool:
        return False
    return -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min


def _highest(x: np.ndarray):
    if x.dtype == bool:
        return True
    return np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).max


def _max(x, axes, keepdims):
    return np.max(x, axis=axes, keepdims=keepdims, initial=_lowest(x))  # empty: lowest value


def _min(x, axes, keepdims):
    return np.min(x, axis=axes, keepdims=keepdims, initial=_highest(x))  # empty: highest value


def _log_sum_exp(x, axes, keepdims):
    """log(sum(exp(x))), shifted by the maximum so that exp cannot overflow."""
    x = _floats(x)
    peak = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    peak = np.where(np.isfinite(peak), peak, 0)
    y = np.log(np.sum(np.exp(x - peak), axis=axes, keepdims=True)) + peak
    return y if keepdims else np.squeeze(y, axis=axes)


_REDUCTIONS = {
    "ReduceSum": (lambda x, a, k: np.sum(x, axis=a, keepdims=k), "sum"),
    "ReduceMean": (lambda x, a, k: np.mean(x, axis=a, keepdims=k), "mean"),
    "ReduceMax": (_max, "maximum (-inf over nothing)"),
    "ReduceMin": (_min, "minimum (+inf over nothing)"),
    "ReduceProd": (lambda x, a, k: np.prod(x, axis=a, keepdims=k), "product"),
    "ReduceL1": (lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k), "sum of |x|"),
    "ReduceL2": (lambda x, a, k: np.sqrt(np.sum(_floats(x) ** 2, axis=a, keepdims=k)),
                 "sqrt of the sum of squares"),
    "ReduceSumSquare": (lambda x, a, k: np.sum(x * x, axis=a, keepdims=k), "sum of squares"),
    "ReduceLogSum": (lambda x, a, k: np.log(np.sum(_floats(x), axis=a, keepdims=k)),
                     "log of the sum"),
    "ReduceLogSumExp": (_log_sum_exp, "log of the sum of exp"),
}


def _infer_reduce(ctx: InferContext) -> list[OutputSpec]:
    shape = ctx.shape(0)
    axes = checked(ctx, reduce_axes, len(shape), infer_axes(ctx),
                   ctx.attrs["noop_with_empty_axes"])
    keep = ctx.attrs["keepdims"]
    out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
    return [(out, ctx.dtype(0))]


def _reduction(op_type: str) -> OpDef:
    fn, what = _REDUCTIONS[op_type]

    def reference(data, *axes_input, axes=None, keepdims=1, noop_with_empty_axes=0):
        reduced = reduce_axes(data.ndim, axes_argument(axes_input, axes), noop_with_empty_axes)
        wide = data.astype(np.float32) if data.dtype == np.float16 else data
        with np.errstate(all="ignore"):  # log(0) = -inf and mean of nothing = nan, as in ONNX
            return np.asarray(fn(wide, reduced, bool(keepdims))).astype(data.dtype)

    reference.__name__ = op_type.lower()
    schema = OpSchema(
        op_type,
        _infer_reduce,
        num_inputs=(1, 2),
        attrs={"axes": None, "keepdims": 1, "noop_with_empty_axes": 0},
        doc=f"{what} over axes",
    )
    return OpDef(schema, reference)


OPS = [_reduction(op_type) for op_type in _REDUCTIONS]
