"""Fully quantized (integer activation) TFLite models, converted to float32 graphs.

Every run-time int8 / uint8 / int16 / int32 tensor with quantization parameters (a
*quantized activation*) becomes a float32 tensor holding its real value
``scale * (q - zero_point)``; its parameters stay on the tensor's descriptor
(``TensorDesc.quant``) for a quantization plugin. The model's interface is unchanged: a
quantized graph input keeps its integer type and shape and is followed by a
``DequantizeLinear``; a quantized graph output is produced by a ``QuantizeLinear`` (round
half to even, saturating), so users feed and get the arrays LiteRT takes and gives.

Between the edges the math is plain float32; with ``fake_quant`` each op's quantized output
goes through ``QuantizeLinear -> DequantizeLinear`` with its parameters, emulating the
rounding and clamping of integer kernels (not their fixed-point arithmetic).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mace_converters.nhwc.builder import LayoutBuilder, Perm, identity, permute_quant
from mace_converters.tflite_frontend.loading import TfliteModel
from mace_core.dtypes import DType
from mace_core.errors import ConversionError
from mace_core.ir import Graph, Node, QuantParams, TensorDesc

QUANTIZED_TYPES = ("int8", "uint8", "int16", "int32")
# the integer types QuantizeLinear / DequantizeLinear handle
INTERFACE_TYPES = {"int8": DType.INT8, "uint8": DType.UINT8, "int32": DType.INT32}
FLOAT_WARNING = ("int8 model: activations computed in float32 (dequantized); results differ "
                 "from integer kernels by quantization error")
FAKE_QUANT_WARNING = ("int8 model: activations computed in float32 with QuantizeLinear -> "
                      "DequantizeLinear after each op (fake quantization); results differ "
                      "from integer kernels by their fixed-point rounding")


def quantized_activations(tfl: TfliteModel, keys: Sequence[str], dtypes: dict[str, np.dtype],
                          quants: dict[str, QuantParams]) -> dict[str, QuantParams]:
    """The run-time tensors holding quantized integers, by key, with their parameters."""
    found = {}
    for key, tensor in zip(keys, tfl.subgraph.tensors, strict=True):
        if (key in quants and dtypes[key].name in QUANTIZED_TYPES
                and tfl.buffer_bytes(tensor) is None):
            found[key] = quants[key]
    return found


def _params(graph_or_b: Graph | LayoutBuilder, key: str, quant: QuantParams, dtype: DType,
            perm: Perm) -> tuple[list[str], dict]:
    """Scale and zero-point constants (names) and the axis attribute, for ``perm``."""
    scale = np.asarray(quant.scale, np.float32)
    zero = np.asarray(quant.zero_point, np.int64).astype(dtype.numpy)
    attrs_: dict = {}
    if quant.axis is None:
        scale, zero = scale.reshape(()), zero.reshape(())
    else:
        attrs_["axis"] = tuple(perm).index(quant.axis)
    if isinstance(graph_or_b, LayoutBuilder):
        names = [graph_or_b.const_input(scale, f"{key}_scale"),
                 graph_or_b.const_input(zero, f"{key}_zero_point")]
    else:
        names = [graph_or_b.add_constant(_unique(graph_or_b, f"{key}_scale"), scale),
                 graph_or_b.add_constant(_unique(graph_or_b, f"{key}_zero_point"), zero)]
    return names, attrs_


def interface_type(tfl: TfliteModel, key: str, dtype: np.dtype) -> DType:
    if dtype.name not in INTERFACE_TYPES:
        raise ConversionError(f"{tfl.path}: graph input/output {key!r} is quantized "
                              f"{dtype.name}, which mace-core has no element type for")
    return INTERFACE_TYPES[dtype.name]


def add_quantized_input(b: LayoutBuilder, key: str, shape: Sequence[int], dtype: DType,
                        quant: QuantParams) -> None:
    """A graph input of the source's integer type, dequantized for the float graph."""
    b.add_input(key, shape, dtype, quant)
    inputs, attrs_ = _params(b, key, quant, dtype, identity(len(shape)))
    real = b.fresh(f"{key}_dequantized")
    b.emit("DequantizeLinear", [b.get(key), *inputs], [real], attrs_)
    b.bind(key, real, identity(len(shape)), DType.FLOAT32)


def fake_quantize(b: LayoutBuilder, key: str, quant: QuantParams, dtype: np.dtype) -> None:
    """Round ``key`` (a float tensor) to its quantization grid: Q -> DQ, same layout."""
    if dtype.name not in ("int8", "uint8"):
        return  # no int16 QuantizeLinear here; int16 / int32 grids are fine enough anyway
    value = b.value(key)
    inputs, attrs_ = _params(b, key, quant, INTERFACE_TYPES[dtype.name], value.perm)
    q = b.temp("QuantizeLinear", [value.name, *inputs], attrs_, base=f"{key}_q")
    dq = b.temp("DequantizeLinear", [q, *inputs], attrs_, base=f"{key}_fq")
    b.bind(key, dq, value.perm, DType.FLOAT32)


Interface = tuple[DType, QuantParams, tuple[int, ...]]  # source type, params, shape


def quantize_outputs(graph: Graph, outputs: dict[str, Interface]) -> None:
    """Make each quantized graph output (float so far) a QuantizeLinear of the float value,
    under the output's own name and in the source's integer type."""
    for key, (dtype, quant, shape) in outputs.items():
        producers = graph.producers()
        if key not in producers:
            continue  # a graph input passed through: already of the source type
        node = producers[key]
        inputs, attrs_ = _params(graph, key, quant, dtype, identity(len(shape)))
        if node.op_type == "Identity":  # the layout builder's rename of the float value
            real = node.inputs[0]
            graph.nodes.remove(node)
        else:
            real = _unique(graph, f"{key}_float")
            node.outputs = [real if o == key else o for o in node.outputs]
            for other in graph.nodes:
                other.inputs = [real if i == key else i for i in other.inputs]
        graph.nodes.append(Node(_unique(graph, f"{key}_QuantizeLinear"), "QuantizeLinear",
                                [real, *inputs], [key], attrs_))
        graph.tensors[key] = TensorDesc(key, dtype, shape, quant=quant)
        if real not in graph.tensors:
            graph.tensors[real] = TensorDesc(real, DType.FLOAT32, shape, quant=quant)


def annotate(graph: Graph, b: LayoutBuilder, activations: dict[str, QuantParams],
             shapes: dict[str, tuple[int, ...]]) -> None:
    """Describe every node output holding a quantized activation as float32 with its
    (layout-permuted) parameters; shape inference keeps them while the shape holds.
    Tensors already described (graph inputs, constants, outputs) are left as they are."""
    produced = {o for node in graph.nodes for o in node.outputs}
    for key, quant in activations.items():
        if key not in b.values:
            continue
        for perm, name in b.views(key):
            if name in produced and name not in graph.tensors:
                shape = tuple(shapes[key][p] for p in perm)
                graph.tensors[name] = TensorDesc(name, DType.FLOAT32, shape,
                                                 quant=permute_quant(quant, perm))


def _unique(graph: Graph, base: str) -> str:
    used = {n for node in graph.nodes for n in (*node.inputs, *node.outputs)}
    used |= set(graph.tensors) | {node.name for node in graph.nodes}
    name, i = base, 0
    while name in used:
        i += 1
        name = f"{base}_{i}"
    return name
