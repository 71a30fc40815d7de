"""Softmax, LogSoftmax and Hardmax along one axis.

Opset 13 works along ``axis`` alone (default -1). Earlier opsets flatten the input to 2-D
around ``axis`` (default 1) and work along the flattened trailing part; the ONNX frontend
marks such nodes with ``legacy_2d=1`` and always sets ``axis`` explicitly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mace_core.ops import OpDef
from mace_core.ops.conv import compute_dtype
from mace_core.schema import InferContext, OpSchema, OutputSpec, normalize_axis


def _along_axis(x: np.ndarray, axis: int, legacy_2d: int, fn: Callable) -> np.ndarray:
    """Apply ``fn(values, axis)`` along ``axis``, or along the flattened axes ``axis...``."""
    axis = axis % max(x.ndim, 1)
    xf = x.astype(compute_dtype(x.dtype), copy=False)
    if legacy_2d:
        rows = int(np.prod(x.shape[:axis], dtype=np.int64))
        return fn(xf.reshape(rows, -1), 1).reshape(x.shape).astype(x.dtype, copy=False)
    return fn(xf, axis).astype(x.dtype, copy=False)


def _softmax(v: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(v: np.ndarray, axis: int) -> np.ndarray:
    shifted = v - v.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _hardmax(v: np.ndarray, axis: int) -> np.ndarray:
    first = np.expand_dims(v.argmax(axis=axis), axis)
    y = np.zeros_like(v)
    np.put_along_axis(y, first, 1, axis=axis)
    return y


def softmax(x: np.ndarray, *, axis: int, legacy_2d: int) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along the axis (max-shifted for stability)."""
    return _along_axis(x, axis, legacy_2d, _softmax)


def log_softmax(x: np.ndarray, *, axis: int, legacy_2d: int) -> np.ndarray:
    """``x - log(sum(exp(x)))`` along the axis (max-shifted for stability)."""
    return _along_axis(x, axis, legacy_2d, _log_softmax)


def hardmax(x: np.ndarray, *, axis: int, legacy_2d: int) -> np.ndarray:
    """1 at the first maximum along the axis, 0 elsewhere."""
    return _along_axis(x, axis, legacy_2d, _hardmax)


def infer_softmax(ctx: InferContext) -> list[OutputSpec]:
    x = tuple(ctx.shape(0))
    if not x:
        raise ctx.fail("input 0 must have rank >= 1, got a scalar")
    normalize_axis(ctx, ctx.attrs["axis"], len(x))
    if ctx.attrs["legacy_2d"] not in (0, 1):
        raise ctx.fail(f"legacy_2d must be 0 or 1, got {ctx.attrs['legacy_2d']}")
    return [(x, ctx.dtype(0))]


_ATTRS = {"axis": -1, "legacy_2d": 0}

OPS = [
    OpDef(
        OpSchema(
            "Softmax", infer_softmax, attrs=dict(_ATTRS), doc="normalized exponentials along axis"
        ),
        softmax,
    ),
    OpDef(
        OpSchema("LogSoftmax", infer_softmax, attrs=dict(_ATTRS), doc="log of Softmax along axis"),
        log_softmax,
    ),
    OpDef(
        OpSchema(
            "Hardmax",
            infer_softmax,
            attrs=dict(_ATTRS),
            doc="one-hot of the first maximum along axis",
        ),
        hardmax,
    ),
]
