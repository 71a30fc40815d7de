"""Conversion between the IR (:mod:`mace_core.ir`) and the protobuf messages of a model.

Encoding raises :class:`ModelFormatError` naming the node/tensor whose value cannot be stored;
decoding raises it naming the ``.pb`` file and the broken record. Constants are not handled
here: their bytes live in the ``.data`` file (see :mod:`mace_core.model_format.datafile`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mace_core.dtypes import DType
from mace_core.errors import MaceError, ModelFormatError
from mace_core.ir import Graph, Layout, Node, QuantParams, TensorDesc
from mace_core.model_format import mace_model_pb2 as pb

DTYPE_TO_PROTO: dict[DType, int] = {
    DType.FLOAT32: pb.DT_FLOAT32,
    DType.FLOAT16: pb.DT_FLOAT16,
    DType.INT8: pb.DT_INT8,
    DType.UINT8: pb.DT_UINT8,
    DType.INT32: pb.DT_INT32,
    DType.INT64: pb.DT_INT64,
    DType.BOOL: pb.DT_BOOL,
}
DTYPE_FROM_PROTO: dict[int, DType] = {v: k for k, v in DTYPE_TO_PROTO.items()}

LAYOUT_TO_PROTO: dict[Layout, int] = {
    Layout.ANY: pb.LAYOUT_ANY,
    Layout.NCHW: pb.LAYOUT_NCHW,
    Layout.NHWC: pb.LAYOUT_NHWC,
    Layout.IMAGE_NHWC4: pb.LAYOUT_IMAGE_NHWC4,
    Layout.IMAGE_FILTER: pb.LAYOUT_IMAGE_FILTER,
}
LAYOUT_FROM_PROTO: dict[int, Layout] = {v: k for k, v in LAYOUT_TO_PROTO.items()}

REINSTALL_HINT = "reconvert with `mace convert`"
UPGRADE_HINT = "it was written by a newer mace-core: upgrade mace-core (or " + REINSTALL_HINT + \
    " with this version)"


def little_endian(dtype: DType) -> np.dtype:
    """The file representation of ``dtype``: little-endian whatever the host."""
    return dtype.numpy.newbyteorder("<")


# -- encoding ------------------------------------------------------------------------
def encode_dtype(dtype: Any, what: str) -> int:
    """The enum value of ``dtype`` (a DType or anything numpy understands)."""
    try:
        return DTYPE_TO_PROTO[dtype if isinstance(dtype, DType) else DType.from_numpy(dtype)]
    except (TypeError, KeyError) as exc:
        raise ModelFormatError(f"cannot save {what}: {exc}") from None


def encode_tensor_value(msg: pb.TensorValue, value: np.ndarray, what: str) -> None:
    """Store a small array inline (little-endian, row-major)."""
    msg.dtype = encode_dtype(value.dtype, what)
    msg.shape.extend(int(d) for d in value.shape)
    dtype = DTYPE_FROM_PROTO[msg.dtype]
    msg.data = np.ascontiguousarray(value, dtype=little_endian(dtype)).tobytes()


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer, np.bool_))


def _is_float(x: Any) -> bool:
    return isinstance(x, (float, np.floating))


def encode_attribute(msg: pb.Attribute, name: str, value: Any, what: str) -> None:
    """Fill ``msg`` with one node attribute; booleans become ints (ONNX has no bool attrs)."""
    msg.name = name
    where = f"{what} attribute {name!r}"
    if isinstance(value, np.ndarray):
        encode_tensor_value(msg.tensor, value, where)
    elif _is_int(value):
        msg.i = int(value)
    elif _is_float(value):
        msg.f = float(value)
    elif isinstance(value, str):
        msg.s = value
    elif isinstance(value, (list, tuple)):
        if all(_is_int(v) for v in value):
            msg.ints.SetInParent()
            msg.ints.values.extend(int(v) for v in value)
        elif all(_is_int(v) or _is_float(v) for v in value):
            msg.floats.values.extend(float(v) for v in value)
        elif all(isinstance(v, str) for v in value):
            msg.strings.values.extend(value)
        else:
            kinds = sorted({type(v).__name__ for v in value})
            raise ModelFormatError(
                f"cannot save {where}: a list must hold only ints, floats or strings "
                f"(got {', '.join(kinds)})"
            )
    elif isinstance(value, Graph):
        raise ModelFormatError(
            f"cannot save {where}: it holds a subgraph ({value.name!r}); the model format "
            "stores no control flow. If nodes are resolved at conversion time: import the "
            "model with mace_core.pipeline.import_model (or `mace convert`), which inlines "
            "each If whose condition folds to a constant; freeze the inputs the condition "
            "depends on with --input-value NAME=VALUE (ConvertOptions.input_values)"
        )
    else:
        raise ModelFormatError(
            f"cannot save {where}: values of type {type(value).__name__} are not storable "
            "(use int, float, str, a list of those, or a numpy array)"
        )


def encode_node(msg: pb.Node, node: Node) -> None:
    msg.name = node.name
    msg.op_type = node.op_type
    msg.domain = node.domain
    msg.inputs.extend(node.inputs)
    msg.outputs.extend(node.outputs)
    for name, value in node.attrs.items():
        encode_attribute(msg.attributes.add(), name, value, str(node))


def encode_tensor_desc(msg: pb.TensorDesc, desc: TensorDesc) -> None:
    msg.name = desc.name
    msg.dtype = encode_dtype(desc.dtype, f"tensor {desc.name!r}")
    msg.shape.extend(int(d) for d in desc.shape)
    msg.layout = LAYOUT_TO_PROTO[Layout(desc.layout)]
    if desc.quant is not None:
        msg.quant.scale.extend(float(s) for s in desc.quant.scale)
        msg.quant.zero_point.extend(int(z) for z in desc.quant.zero_point)
        if desc.quant.axis is not None:
            msg.quant.axis = int(desc.quant.axis)


# -- decoding ------------------------------------------------------------------------
def decode_dtype(code: int, path: Path, what: str) -> DType:
    try:
        return DTYPE_FROM_PROTO[code]
    except KeyError:
        raise ModelFormatError(
            f"{path}: {what} has unknown dtype code {code}; {UPGRADE_HINT}"
        ) from None


def decode_tensor_value(msg: pb.TensorValue, path: Path, what: str) -> np.ndarray:
    dtype = decode_dtype(msg.dtype, path, what)
    shape = tuple(msg.shape)
    count = math.prod(shape)
    if any(d < 0 for d in shape) or count * dtype.itemsize != len(msg.data):
        raise ModelFormatError(
            f"{path}: {what} holds {len(msg.data)} bytes, which does not match its "
            f"shape {list(shape)} of {dtype}; the file is corrupt: {REINSTALL_HINT}"
        )
    array = np.frombuffer(msg.data, dtype=little_endian(dtype)).reshape(shape)
    return array.astype(dtype.numpy, copy=True)


def decode_attribute(msg: pb.Attribute, path: Path, what: str) -> Any:
    kind = msg.WhichOneof("value")
    if kind == "i":
        return int(msg.i)
    if kind == "f":
        return float(msg.f)
    if kind == "s":
        return str(msg.s)
    if kind == "ints":
        return [int(v) for v in msg.ints.values]
    if kind == "floats":
        return [float(v) for v in msg.floats.values]
    if kind == "strings":
        return [str(v) for v in msg.strings.values]
    if kind == "tensor":
        return decode_tensor_value(msg.tensor, path, f"{what} attribute {msg.name!r}")
    raise ModelFormatError(
        f"{path}: {what} attribute {msg.name!r} has no value of a known kind; {UPGRADE_HINT}"
    )


def decode_node(msg: pb.Node, path: Path) -> Node:
    node = Node(msg.name, msg.op_type, list(msg.inputs), list(msg.outputs), domain=msg.domain)
    for attr in msg.attributes:
        node.attrs[attr.name] = decode_attribute(attr, path, str(node))
    return node


def decode_tensor_desc(msg: pb.TensorDesc, path: Path) -> TensorDesc:
    what = f"tensor {msg.name!r}"
    dtype = decode_dtype(msg.dtype, path, what)
    try:
        layout = LAYOUT_FROM_PROTO[msg.layout]
    except KeyError:
        raise ModelFormatError(
            f"{path}: {what} has unknown layout code {msg.layout}; {UPGRADE_HINT}"
        ) from None
    quant = None
    if msg.HasField("quant"):
        axis = msg.quant.axis if msg.quant.HasField("axis") else None
        try:
            quant = QuantParams(tuple(msg.quant.scale), tuple(msg.quant.zero_point), axis)
        except MaceError as exc:
            raise ModelFormatError(
                f"{path}: {what} has invalid quantization parameters ({exc}); {REINSTALL_HINT}"
            ) from None
    return TensorDesc(msg.name, dtype, tuple(int(d) for d in msg.shape), layout, quant)
