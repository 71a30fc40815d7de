"""Affine (de)quantization: QuantizeLinear and DequantizeLinear (ONNX opsets 10 to 25).

``QuantizeLinear``: ``y = saturate(round_half_even(x / y_scale) + y_zero_point)``;
``DequantizeLinear``: ``y = (x - x_zero_point) * x_scale``. The scale and zero point are a
scalar (per tensor), a 1-D tensor along ``axis`` (per axis), or, with ``block_size`` > 0, a
tensor of the input's rank whose ``axis`` dimension is ``ceil(D / block_size)`` (blocked).
The quantized types are those of mace-core: int8 and uint8 (and int32 for dequantization,
whose zero point is 0). The type of ``y_zero_point`` (else ``output_dtype``, else uint8)
is the quantized type; the dequantized type is ``output_dtype``, else the scale's.
"""

from __future__ import annotations

import numpy as np

from mace_core.dtypes import DType
from mace_core.ops import OpDef
from mace_core.ops.cast import dtype_from_onnx
from mace_core.schema import InferContext, OpSchema, OutputSpec, normalize_axis

QUANTIZED_TYPES = (DType.INT8, DType.UINT8)
DEQUANTIZABLE_TYPES = (DType.INT8, DType.UINT8, DType.INT32)
SCALE_TYPES = (DType.FLOAT32, DType.FLOAT16)
RANGES = {DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT32: (-2**31, 2**31 - 1)}


def expand_param(value: np.ndarray, shape: tuple[int, ...], axis: int,
                 block_size: int = 0) -> np.ndarray:
    """A scale or zero point made to broadcast against an input of ``shape``."""
    value = np.asarray(value)
    if value.size == 1:
        return value.reshape(())
    axis %= len(shape)
    if not block_size:
        dims = [1] * len(shape)
        dims[axis] = value.size
        return value.reshape(dims)
    return np.repeat(value, block_size, axis=axis).take(range(shape[axis]), axis=axis)


# -- reference kernels ---------------------------------------------------------------
def _quantized_type(zero_point: np.ndarray | None, output_dtype: int) -> DType:
    if zero_point is not None:
        return DType.from_numpy(zero_point.dtype)
    return dtype_from_onnx(output_dtype) if output_dtype else DType.UINT8


def quantize_linear(x, y_scale, y_zero_point=None, *, axis=1, saturate=1, block_size=0,
                    output_dtype=0, precision=0):
    """Round half to even, add the zero point, saturate to the quantized type's range.
    NaN quantizes to the zero point (ONNX leaves it undefined)."""
    target = _quantized_type(y_zero_point, output_dtype)
    compute = dtype_from_onnx(precision).numpy if precision else y_scale.dtype
    scale = expand_param(y_scale, x.shape, axis, block_size).astype(compute)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = np.rint(x.astype(compute) / scale).astype(np.float64)
    q = np.where(np.isnan(q), 0.0, q)
    if y_zero_point is not None:
        q = q + expand_param(y_zero_point, x.shape, axis, block_size).astype(np.float64)
    low, high = RANGES[target]
    return np.clip(q, low, high).astype(target.numpy)


def dequantize_linear(x, x_scale, x_zero_point=None, *, axis=1, block_size=0,
                      output_dtype=0):
    """``(x - zero_point) * scale``, the subtraction exact, the product in the output type."""
    out = dtype_from_onnx(output_dtype).numpy if output_dtype else x_scale.dtype
    shifted = x.astype(np.int64)
    if x_zero_point is not None:
        shifted = shifted - expand_param(x_zero_point, x.shape, axis, block_size).astype(np.int64)
    scale = expand_param(x_scale, x.shape, axis, block_size).astype(out)
    return (shifted.astype(out) * scale).astype(out)


# -- shape inference -----------------------------------------------------------------
def _check_params(ctx: InferContext, scale_index: int) -> None:
    """The scale's (and zero point's) shape fits the input's for the granularity asked."""
    shape = ctx.shape(0)
    scale = ctx.shape(scale_index)
    if ctx.has_input(scale_index + 1) and ctx.shape(scale_index + 1) != scale:
        raise ctx.fail(f"the zero point's shape {list(ctx.shape(scale_index + 1))} differs "
                       f"from the scale's {list(scale)}")
    block = int(ctx.attrs["block_size"])
    size = int(np.prod(scale)) if scale else 1
    if block < 0:
        raise ctx.fail(f"block_size must be >= 0, got {block}")
    if not block and size == 1 and len(scale) <= 1:
        return
    axis = normalize_axis(ctx, int(ctx.attrs["axis"]), len(shape))
    if not block:
        if len(scale) != 1 or scale[0] != shape[axis]:
            raise ctx.fail(f"per-axis scale must be 1-D of length {shape[axis]} (input dim "
                           f"{axis}), got shape {list(scale)}")
        return
    want = list(shape)
    want[axis] = -(-shape[axis] // block)
    if list(scale) != want:
        raise ctx.fail(f"blocked quantization (block_size {block}, axis {axis}) needs a scale "
                       f"of shape {want}, got {list(scale)}")


def _onnx_type(ctx: InferContext, name: str) -> DType | None:
    code = int(ctx.attrs[name])
    if not code:
        return None
    try:
        return dtype_from_onnx(code)
    except ValueError as exc:
        raise ctx.fail(f"attribute {name}: {exc}") from None


def _infer_quantize(ctx: InferContext) -> list[OutputSpec]:
    if ctx.dtype(1) not in SCALE_TYPES:
        raise ctx.fail(f"the scale must be float32 or float16, got {ctx.dtype(1)}")
    _check_params(ctx, 1)
    _onnx_type(ctx, "precision")
    wanted = _onnx_type(ctx, "output_dtype")
    target = ctx.dtype(2) if ctx.has_input(2) else wanted or DType.UINT8
    if wanted is not None and wanted != target:
        raise ctx.fail(f"output_dtype {wanted} differs from the zero point's type {target}")
    if target not in QUANTIZED_TYPES:
        raise ctx.fail(f"cannot quantize to {target}; supported: int8, uint8")
    return [(ctx.shape(0), target)]


def _infer_dequantize(ctx: InferContext) -> list[OutputSpec]:
    if ctx.dtype(0) not in DEQUANTIZABLE_TYPES:
        raise ctx.fail(f"cannot dequantize {ctx.dtype(0)}; supported: int8, uint8, int32")
    if ctx.has_input(2) and ctx.dtype(2) != ctx.dtype(0):
        raise ctx.fail(f"the zero point's type {ctx.dtype(2)} differs from the input's "
                       f"{ctx.dtype(0)}")
    if ctx.dtype(1) not in SCALE_TYPES:
        raise ctx.fail(f"the scale must be float32 or float16, got {ctx.dtype(1)}")
    _check_params(ctx, 1)
    out = _onnx_type(ctx, "output_dtype") or ctx.dtype(1)
    if out not in SCALE_TYPES:
        raise ctx.fail(f"output_dtype must be float32 or float16, got {out}")
    return [(ctx.shape(0), out)]


OPS = [
    OpDef(
        OpSchema(
            "QuantizeLinear",
            _infer_quantize,
            num_inputs=(2, 3),
            attrs={"axis": 1, "saturate": 1, "block_size": 0, "output_dtype": 0,
                   "precision": 0},
            doc="affine quantization to int8/uint8, round half to even, saturating",
        ),
        quantize_linear,
    ),
    OpDef(
        OpSchema(
            "DequantizeLinear",
            _infer_dequantize,
            num_inputs=(2, 3),
            attrs={"axis": 1, "block_size": 0, "output_dtype": 0},
            doc="affine dequantization of int8/uint8/int32 to float",
        ),
        dequantize_linear,
    ),
]
