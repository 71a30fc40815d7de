"""ONNX element types and tensors -> mace-core dtypes and numpy arrays."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from mace_core.dtypes import DType
from mace_core.errors import ConversionError

# ONNX TensorProto.DataType -> DType, for the element types mace-core runs.
ONNX_TO_DTYPE: dict[int, DType] = {
    TensorProto.FLOAT: DType.FLOAT32,
    TensorProto.FLOAT16: DType.FLOAT16,
    TensorProto.INT8: DType.INT8,
    TensorProto.UINT8: DType.UINT8,
    TensorProto.INT32: DType.INT32,
    TensorProto.INT64: DType.INT64,
    TensorProto.BOOL: DType.BOOL,
}

_HINTS: dict[int, str] = {
    TensorProto.DOUBLE: "export the model in float32 (e.g. model.float() in PyTorch before "
    "torch.onnx.export) or cast the inputs to float32 inside the model",
    TensorProto.STRING: "string tensors have no numeric kernels; do the text processing "
    "outside the model",
    TensorProto.BFLOAT16: "export the model in float32 or float16",
}


def elem_type_name(elem_type: int) -> str:
    """``TensorProto.FLOAT`` -> ``"FLOAT"`` (``"UNDEFINED(<n>)"`` for unknown values)."""
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"UNDEFINED({elem_type})"


def to_dtype(elem_type: int, what: str) -> DType:
    """The DType of an ONNX element type; a ConversionError naming ``what`` otherwise."""
    if elem_type in ONNX_TO_DTYPE:
        return ONNX_TO_DTYPE[elem_type]
    name = elem_type_name(elem_type)
    allowed = ", ".join(elem_type_name(t) for t in ONNX_TO_DTYPE)
    hint = _HINTS.get(elem_type)
    if hint is None and name.startswith(("FLOAT8", "FLOAT4", "COMPLEX", "INT4", "UINT4")):
        hint = "export the model in float32, float16, int8 or uint8"
    message = f"{what} has element type {name}, which mace-core does not support " \
        f"(supported: {allowed})"
    raise ConversionError(f"{message}; {hint}" if hint else message)


def tensor_to_array(tensor: TensorProto, what: str) -> np.ndarray:
    """A TensorProto (external data already loaded) as a numpy array of a supported dtype."""
    to_dtype(tensor.data_type, what)
    try:
        return np.require(numpy_helper.to_array(tensor), requirements="C")
    except Exception as exc:
        raise ConversionError(
            f"{what}: cannot read its data ({type(exc).__name__}: {exc}); the tensor or its "
            "external data file may be truncated"
        ) from exc


def sparse_to_array(sparse: onnx.SparseTensorProto) -> np.ndarray:
    """A SparseTensorProto as a dense numpy array (zeros where no value is given)."""
    values = numpy_helper.to_array(sparse.values)
    indices = numpy_helper.to_array(sparse.indices).astype(np.int64)
    dims = tuple(int(d) for d in sparse.dims)
    dense = np.zeros(int(np.prod(dims)), dtype=values.dtype)
    if indices.ndim == 2:  # [NNZ, rank] coordinates
        indices = np.ravel_multi_index(tuple(indices.T), dims) if indices.size else indices[:, 0]
    dense[indices.reshape(-1)] = values.reshape(-1)
    return dense.reshape(dims)

