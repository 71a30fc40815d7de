"""Pooling: MaxPool (with Indices), AveragePool, LpPool and their Global* forms."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mace_core.dtypes import DType
from mace_core.ops import OpDef
from mace_core.ops.conv import (
    WINDOW_ATTRS,
    compute_dtype,
    pad_spatial,
    pad_to_fit,
    sliding_windows,
    window_attrs,
    window_geometry,
)
from mace_core.schema import REQUIRED, InferContext, OpSchema, OutputSpec


def _geometry(x: np.ndarray, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode):
    kernel = [int(k) for k in kernel_shape]
    s, d, p = window_attrs(x.ndim - 2, kernel, strides, dilations, pads, auto_pad)
    begin, end, out = window_geometry(x.shape[2:], kernel, s, d, p, auto_pad, bool(ceil_mode))
    return kernel, s, d, begin, end, out


def _lowest(dtype: np.dtype) -> float | int:
    """The padding value that never wins a max."""
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def max_pool(
    x: np.ndarray,
    *,
    auto_pad: str,
    ceil_mode: int,
    dilations: Sequence[int] | None,
    kernel_shape: Sequence[int],
    pads: Sequence[int] | None,
    storage_order: int,
    strides: Sequence[int] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima, and where each came from: the flat index into X (row-major, or with
    ``storage_order=1`` column-major over the spatial axes); padding never wins."""
    kernel, s, d, begin, end, out = _geometry(
        x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode
    )
    xp, _ = pad_to_fit(x, begin, end, kernel, s, d, out, _lowest(x.dtype))
    windows = sliding_windows(xp, kernel, s, d, out)
    flat = windows.reshape(*windows.shape[: 2 + len(out)], math.prod(kernel))
    arg = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    taps = np.unravel_index(arg, kernel)
    spatial = x.shape[2:]
    n, c = x.shape[:2]
    index = np.arange(n * c, dtype=np.int64).reshape(n, c, *([1] * len(out))) * math.prod(spatial)
    stride_of = [math.prod(spatial[i + 1 :]) for i in range(len(out))]
    if storage_order:
        stride_of = [math.prod(spatial[:i]) for i in range(len(out))]
    for i in range(len(out)):
        shape = [1] * len(out)
        shape[i] = out[i]
        origin = (np.arange(out[i]) * s[i] - begin[i]).reshape(shape)
        index = index + (origin + taps[i] * d[i]) * stride_of[i]
    return y.astype(x.dtype, copy=False), index.astype(np.int64)


def _window_sums(
    x: np.ndarray, kernel, s, d, begin, end, out, power: float | None = None
) -> np.ndarray:
    acc = compute_dtype(x.dtype)
    xv = x.astype(acc, copy=False)
    if power is not None:
        xv = np.abs(xv) ** power
    xp, _ = pad_to_fit(xv, begin, end, kernel, s, d, out)
    axes = tuple(range(2 + len(out), 2 + 2 * len(out)))
    return sliding_windows(xp, kernel, s, d, out).sum(axis=axes)


def average_pool(
    x: np.ndarray,
    *,
    auto_pad: str,
    ceil_mode: int,
    count_include_pad: int,
    dilations: Sequence[int] | None,
    kernel_shape: Sequence[int],
    pads: Sequence[int] | None,
    strides: Sequence[int] | None,
) -> np.ndarray:
    """Window means. The divisor counts input elements, plus the pads when
    ``count_include_pad`` is set; never the overhang that ceil_mode adds past the end."""
    kernel, s, d, begin, end, out = _geometry(
        x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode
    )
    total = _window_sums(x, kernel, s, d, begin, end, out)
    ones = np.ones((1, 1, *x.shape[2:]), dtype=total.dtype)
    if count_include_pad:
        ones, begin, end = pad_spatial(ones, begin, end, 1), [0] * len(out), [0] * len(out)
    counts = _window_sums(ones, kernel, s, d, begin, end, out)
    return (total / np.maximum(counts, 1)).astype(x.dtype, copy=False)


def lp_pool(
    x: np.ndarray,
    *,
    auto_pad: str,
    ceil_mode: int,
    dilations: Sequence[int] | None,
    kernel_shape: Sequence[int],
    p: float,
    pads: Sequence[int] | None,
    strides: Sequence[int] | None,
) -> np.ndarray:
    """``(sum |x|^p) ^ (1/p)`` over each window; padding counts as zeros."""
    kernel, s, d, begin, end, out = _geometry(
        x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode
    )
    total = _window_sums(x, kernel, s, d, begin, end, out, power=float(p))
    return (total ** (1.0 / float(p))).astype(x.dtype, copy=False)


def global_average_pool(x: np.ndarray) -> np.ndarray:
    """Mean over all spatial axes, kept as size-1 axes."""
    axes = tuple(range(2, x.ndim))
    return (
        x.astype(compute_dtype(x.dtype), copy=False).mean(axis=axes, keepdims=True).astype(x.dtype)
    )


def global_max_pool(x: np.ndarray) -> np.ndarray:
    """Maximum over all spatial axes, kept as size-1 axes."""
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


def global_lp_pool(x: np.ndarray, *, p: float) -> np.ndarray:
    """``(sum |x|^p) ^ (1/p)`` over all spatial axes, kept as size-1 axes."""
    xf = np.abs(x.astype(compute_dtype(x.dtype), copy=False)) ** float(p)
    total = xf.sum(axis=tuple(range(2, x.ndim)), keepdims=True)
    return (total ** (1.0 / float(p))).astype(x.dtype)


# -- shape inference --------------------------------------------------------------------
def infer_pool(ctx: InferContext) -> list[OutputSpec]:
    x = tuple(ctx.shape(0))
    if len(x) < 3:
        raise ctx.fail(f"input 0 (X) must be N x C x D1 x ... (rank >= 3), got {list(x)}")
    a = ctx.attrs
    kernel = list(a["kernel_shape"])
    try:
        s, d, p = window_attrs(
            len(x) - 2, kernel, a["strides"], a.get("dilations"), a["pads"], a["auto_pad"]
        )
        _, _, out = window_geometry(
            x[2:], kernel, s, d, p, a["auto_pad"], bool(a.get("ceil_mode", 0))
        )
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None
    if a.get("storage_order", 0) not in (0, 1):
        raise ctx.fail(f"storage_order must be 0 or 1, got {a['storage_order']}")
    y = ((*x[:2], *out), ctx.dtype(0))
    return [y, ((*x[:2], *out), DType.INT64)]


def infer_global_pool(ctx: InferContext) -> list[OutputSpec]:
    x = tuple(ctx.shape(0))
    if len(x) < 3:
        raise ctx.fail(f"input 0 (X) must be N x C x D1 x ... (rank >= 3), got {list(x)}")
    return [((*x[:2], *([1] * (len(x) - 2))), ctx.dtype(0))]


_POOL = {**WINDOW_ATTRS, "ceil_mode": 0, "kernel_shape": REQUIRED}

OPS = [
    OpDef(
        OpSchema(
            "MaxPool",
            infer_pool,
            num_outputs=(1, 2),
            attrs={**_POOL, "storage_order": 0},
            doc="window maximum; optional Indices output (flat int64 positions in X)",
        ),
        max_pool,
    ),
    OpDef(
        OpSchema(
            "AveragePool",
            infer_pool,
            attrs={**_POOL, "count_include_pad": 0},
            doc="window mean; pads counted in the divisor only with count_include_pad",
        ),
        average_pool,
    ),
    OpDef(
        OpSchema(
            "LpPool", infer_pool, attrs={**_POOL, "p": 2}, doc="window Lp norm (sum |x|^p)^(1/p)"
        ),
        lp_pool,
    ),
    OpDef(
        OpSchema("GlobalAveragePool", infer_global_pool, doc="mean over spatial axes"),
        global_average_pool,
    ),
    OpDef(
        OpSchema("GlobalMaxPool", infer_global_pool, doc="maximum over spatial axes"),
        global_max_pool,
    ),
    OpDef(
        OpSchema(
            "GlobalLpPool", infer_global_pool, attrs={"p": 2}, doc="Lp norm over spatial axes"
        ),
        global_lp_pool,
    ),
]
