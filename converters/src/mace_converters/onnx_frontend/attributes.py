"""ONNX node attributes -> plain Python values for ``Node.attrs``; Constant node values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, helper, numpy_helper

from mace_converters.onnx_frontend.tensors import sparse_to_array, tensor_to_array
from mace_core.errors import ConversionError

_SUBGRAPH_TYPES = (AttributeProto.GRAPH, AttributeProto.GRAPHS)


def _decode(raw: bytes | str) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


# Converts one GRAPH attribute (the GraphProto and the attribute's name) into a subgraph.
SubgraphFn = Callable[[onnx.GraphProto, str], Any]


def attribute_value(attr: AttributeProto, where: str, subgraph: SubgraphFn | None = None
                    ) -> Any:
    """One attribute as int, float, str, list, or np.ndarray (tensor attributes).

    A GRAPH attribute (If's branches) becomes whatever ``subgraph`` makes of it; without
    ``subgraph``, and for GRAPHS attributes, subgraphs are refused.
    """
    kind = attr.type
    if kind == AttributeProto.GRAPH and subgraph is not None:
        return subgraph(attr.g, attr.name)
    if kind in _SUBGRAPH_TYPES:
        raise ConversionError(
            f"{where}: attribute {attr.name!r} holds a subgraph; of the control-flow ops only "
            "If is supported (Loop and Scan are not); export the model with the loop "
            "unrolled"
        )
    if kind == AttributeProto.TENSOR:
        return numpy_helper.to_array(attr.t)
    if kind == AttributeProto.TENSORS:
        return [numpy_helper.to_array(t) for t in attr.tensors]
    if kind == AttributeProto.SPARSE_TENSOR:
        return sparse_to_array(attr.sparse_tensor)
    if kind == AttributeProto.SPARSE_TENSORS:
        return [sparse_to_array(t) for t in attr.sparse_tensors]
    if kind in (AttributeProto.TYPE_PROTO, AttributeProto.TYPE_PROTOS):
        raise ConversionError(f"{where}: attribute {attr.name!r} holds a type; not supported")
    value = helper.get_attribute_value(attr)
    if kind == AttributeProto.STRING:
        return _decode(value)
    if kind == AttributeProto.STRINGS:
        return [_decode(v) for v in value]
    if kind == AttributeProto.FLOAT:
        return float(value)
    if kind == AttributeProto.INT:
        return int(value)
    if kind == AttributeProto.FLOATS:
        return [float(v) for v in value]
    if kind == AttributeProto.INTS:
        return [int(v) for v in value]
    raise ConversionError(f"{where}: attribute {attr.name!r} has an unknown type ({kind})")


def node_attributes(node: onnx.NodeProto, where: str, subgraph: SubgraphFn | None = None
                    ) -> dict[str, Any]:
    """Every attribute of ``node`` by name, converted with :func:`attribute_value`."""
    return {attr.name: attribute_value(attr, where, subgraph) for attr in node.attribute}


def constant_value(node: onnx.NodeProto, where: str) -> np.ndarray:
    """The value of a Constant node, whichever ``value*`` attribute holds it."""
    if len(node.attribute) != 1:
        raise ConversionError(
            f"{where}: a Constant node needs exactly one value attribute, it has "
            f"{len(node.attribute)}"
        )
    attr = node.attribute[0]
    what = f"{where}: constant {node.output[0]!r}"
    if attr.name == "value":
        return tensor_to_array(attr.t, what)
    if attr.name == "sparse_value":
        tensor_to_array(attr.sparse_tensor.values, what)  # checks the element type
        return sparse_to_array(attr.sparse_tensor)
    if attr.name == "value_float":
        return np.array(attr.f, dtype=np.float32)
    if attr.name == "value_floats":
        return np.array(list(attr.floats), dtype=np.float32)
    if attr.name == "value_int":
        return np.array(attr.i, dtype=np.int64)
    if attr.name == "value_ints":
        return np.array(list(attr.ints), dtype=np.int64)
    if attr.name in ("value_string", "value_strings"):
        raise ConversionError(f"{what} is a string; mace-core has no string tensors")
    raise ConversionError(f"{where}: Constant has an unknown attribute {attr.name!r}")
