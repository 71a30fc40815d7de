"""Element type conversion: Cast (to an ONNX TensorProto type code) and CastLike."""

from __future__ import annotations

import numpy as np

from mace_core.dtypes import DType
from mace_core.ops import OpDef
from mace_core.schema import REQUIRED, InferContext, OpSchema, OutputSpec

# ONNX TensorProto.DataType codes of the element types we support.
ONNX_DTYPES: dict[int, DType] = {
    1: DType.FLOAT32,
    2: DType.UINT8,
    3: DType.INT8,
    6: DType.INT32,
    7: DType.INT64,
    9: DType.BOOL,
    10: DType.FLOAT16,
}

# Names of all ONNX type codes, for messages (and Cast-1, which gives ``to`` as a name).
ONNX_TYPE_NAMES: dict[int, str] = {
    1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
    8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64",
    14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN",
    18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4",
    23: "FLOAT4E2M1", 24: "FLOAT8E8M0", 25: "UINT2", 26: "INT2",
}


def dtype_from_onnx(code: int | str) -> DType:
    """Our DType for an ONNX type code (or type name, as Cast-1 writes it).

    Raises ValueError naming the type when we do not support it.
    """
    if isinstance(code, str):
        by_name = {name: c for c, name in ONNX_TYPE_NAMES.items()}
        if code.upper() not in by_name:
            raise ValueError(f"unknown ONNX type name {code!r}")
        code = by_name[code.upper()]
    code = int(code)
    if code in ONNX_DTYPES:
        return ONNX_DTYPES[code]
    name = ONNX_TYPE_NAMES.get(code, "unknown")
    supported = ", ".join(f"{ONNX_TYPE_NAMES[c]} ({c})" for c in ONNX_DTYPES)
    raise ValueError(f"ONNX type {name} ({code}) is not supported; supported: {supported}")


def convert(x: np.ndarray, dtype: DType) -> np.ndarray:
    """``x`` as ``dtype``: floats truncate toward zero into integers, integers wrap, any
    nonzero becomes True; out-of-range values become inf in floats."""
    with np.errstate(all="ignore"):
        return np.asarray(x).astype(dtype.numpy)


def cast(x, *, to, saturate=1, round_mode="up"):
    # saturate and round_mode only concern float8 / float8e8m0 targets, which we do not have.
    return convert(x, dtype_from_onnx(to))


def cast_like(x, target_type, *, saturate=1, round_mode="up"):
    return convert(x, DType.from_numpy(target_type.dtype))


def _infer_cast(ctx: InferContext) -> list[OutputSpec]:
    try:
        dtype = dtype_from_onnx(ctx.attrs["to"])
    except ValueError as exc:
        raise ctx.fail(f"attribute to: {exc}") from None
    return [(ctx.shape(0), dtype)]


def _infer_cast_like(ctx: InferContext) -> list[OutputSpec]:
    return [(ctx.shape(0), ctx.dtype(1))]


OPS = [
    OpDef(
        OpSchema(
            "Cast",
            _infer_cast,
            attrs={"to": REQUIRED, "saturate": 1, "round_mode": "up"},
            doc="convert to the ONNX element type `to`",
        ),
        cast,
    ),
    OpDef(
        OpSchema(
            "CastLike",
            _infer_cast_like,
            num_inputs=(2, 2),
            attrs={"saturate": 1, "round_mode": "up"},
            doc="convert to the element type of input 1",
        ),
        cast_like,
    ),
]
