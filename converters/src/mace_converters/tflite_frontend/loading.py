"""Reading a .tflite flatbuffer with the official TFLite schema module (object API).

The schema comes from ``ai_edge_litert.schema_py_generated`` (LiteRT), or from TensorFlow's
copy when only TensorFlow is installed. Constant tensors are read from their buffers (also
buffers stored after the flatbuffer, as large models have them), densified when sparse,
and dequantized to float32 when they are quantized weights.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import numpy as np

from mace_core.errors import ConversionError
from mace_core.ir import QuantParams

_NUMPY_TYPES = {
    "FLOAT32": np.float32, "FLOAT16": np.float16, "FLOAT64": np.float64, "INT8": np.int8,
    "UINT8": np.uint8, "INT16": np.int16, "UINT16": np.uint16, "INT32": np.int32,
    "UINT32": np.uint32, "INT64": np.int64, "UINT64": np.uint64, "BOOL": np.bool_,
}


def load_schema() -> ModuleType:
    """The generated TFLite schema module (LiteRT's, else TensorFlow's)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated as schema
        except ImportError:
            raise ConversionError(
                "reading .tflite files needs the TFLite schema from 'ai-edge-litert' (or "
                "'tensorflow'); install it with `pip install 'mace-converters[tflite]'`"
            ) from None
    return schema


def enum_names(enum_class: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_")}


@attrs.define
class TfliteModel:
    """A parsed .tflite file: the ModelT object tree, the schema, the raw bytes."""

    path: Path
    schema: ModuleType
    model: Any
    raw: bytes
    type_names: dict[int, str]
    op_names: dict[int, str]

    @property
    def subgraph(self) -> Any:
        return self.model.subgraphs[0]

    def op_name(self, op: Any) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        number = max(code.builtinCode, code.deprecatedBuiltinCode)
        if number == self.schema.BuiltinOperator.CUSTOM:
            custom = code.customCode
            return "CUSTOM:" + (custom.decode() if isinstance(custom, bytes) else str(custom))
        return self.op_names.get(number, f"BUILTIN_{number}")

    def numpy_type(self, tensor: Any) -> np.dtype:
        name = self.type_names.get(tensor.type, str(tensor.type))
        if name not in _NUMPY_TYPES:
            raise ConversionError(f"{self.path}: tensor {tensor_name(tensor)!r} has element "
                                  f"type {name}, which is not supported")
        return np.dtype(_NUMPY_TYPES[name])

    def buffer_bytes(self, tensor: Any) -> bytes | None:
        """The constant data of ``tensor``, or None for a run-time tensor."""
        buffer = self.model.buffers[tensor.buffer] if tensor.buffer else None
        if buffer is None:
            return None
        if buffer.offset > 1:
            return self.raw[buffer.offset: buffer.offset + buffer.size]
        if buffer.data is None or len(buffer.data) == 0:
            return None
        return np.asarray(buffer.data, dtype=np.uint8).tobytes()

    def constant(self, tensor: Any) -> np.ndarray | None:
        data = self.buffer_bytes(tensor)
        if data is None:
            return None
        values = np.frombuffer(data, dtype=self.numpy_type(tensor))
        shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
        if tensor.sparsity is not None:
            return densify(values, shape, tensor.sparsity, self.schema)
        return values.reshape(shape).copy()


def tensor_name(tensor: Any) -> str:
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else str(name or "")


def quant_params(tensor: Any) -> QuantParams | None:
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    zero = list(q.zeroPoint) if q.zeroPoint is not None else [0] * len(q.scale)
    axis = int(q.quantizedDimension) if len(q.scale) > 1 else None
    return QuantParams(tuple(float(s) for s in q.scale), tuple(int(z) for z in zero), axis)


def dequantize(values: np.ndarray, quant: QuantParams) -> np.ndarray:
    """``scale * (q - zero_point)`` as float32, per tensor or per axis."""
    scale = np.asarray(quant.scale, dtype=np.float64)
    zero = np.asarray(quant.zero_point, dtype=np.float64)
    if quant.axis is not None:
        shape = [1] * values.ndim
        shape[quant.axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((values.astype(np.float64) - zero) * scale).astype(np.float32)


def read_model(path: Path) -> TfliteModel:
    schema = load_schema()
    raw = Path(path).read_bytes()
    if len(raw) < 8 or raw[4:8] != b"TFL3":
        raise ConversionError(f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        model = schema.ModelT.InitFromPackedBuf(raw, 0)
    except Exception as exc:
        raise ConversionError(f"{path}: cannot parse the TFLite flatbuffer: {exc}") from None
    if not model.subgraphs:
        raise ConversionError(f"{path}: the model has no subgraph")
    return TfliteModel(Path(path), schema, model, raw, enum_names(schema.TensorType),
                       enum_names(schema.BuiltinOperator))


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity: Any,
            schema: ModuleType) -> np.ndarray:
    """A dense array from TFLite's sparse format (traversal order, block map, CSR levels)."""
    order = list(sparsity.traversalOrder)
    block_map = list(sparsity.blockMap) if sparsity.blockMap is not None else []
    meta = sparsity.dimMetadata
    rank = len(shape)
    dense = np.zeros(shape, dtype=values.dtype)
    coords = [0] * len(order)
    block_of = {int(d): rank + k for k, d in enumerate(block_map)}
    sparse_csr = schema.DimensionType.SPARSE_CSR

    def place(position: int) -> None:
        index = []
        for d in range(rank):
            if d in block_of:
                size = int(meta[order.index(block_of[d])].denseSize)
                index.append(coords[d] * size + coords[block_of[d]])
            else:
                index.append(coords[d])
        dense[tuple(index)] = values[position]

    def walk(level: int, position: int) -> None:
        if level == len(order):
            place(position)
            return
        m = meta[level]
        if m.format == sparse_csr:
            segments = np.asarray(m.arraySegments.values)
            indices = np.asarray(m.arrayIndices.values)
            for p in range(int(segments[position]), int(segments[position + 1])):
                coords[order[level]] = int(indices[p])
                walk(level + 1, p)
        else:
            for j in range(int(m.denseSize)):
                coords[order[level]] = j
                walk(level + 1, position * int(m.denseSize) + j)

    walk(0, 0)
    return dense
