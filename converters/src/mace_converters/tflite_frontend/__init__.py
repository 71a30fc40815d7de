"""The TFLite frontend: a .tflite flatbuffer -> an NCHW mace-core Graph.

The main subgraph's operators are converted in order by :data:`ops.CONVERTERS`; graph
inputs and outputs keep their TFLite names, shapes (NHWC) and dtypes. Float16 weights
(``DEQUANTIZE`` of a float16 constant) and quantized weights become float32 constants;
quantized weights keep their scale / zero point in ``TensorDesc.quant`` and a warning says
they were dequantized. Fully quantized models (integer activations) compute in float32
between a dequantized input and a requantized output (see :mod:`.quantized`), with a
warning; their activations' parameters are kept in the descriptors too.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mace_converters.nhwc.builder import LayoutBuilder
from mace_converters.tflite_frontend.context import OpContext
from mace_converters.tflite_frontend.loading import (
    TfliteModel,
    dequantize,
    quant_params,
    read_model,
    tensor_name,
)
from mace_converters.tflite_frontend.ops import CONVERTERS
from mace_converters.tflite_frontend.quantized import (
    FAKE_QUANT_WARNING,
    FLOAT_WARNING,
    Interface,
    add_quantized_input,
    annotate,
    fake_quantize,
    interface_type,
    quantize_outputs,
    quantized_activations,
)
from mace_core.dtypes import FLOAT_TYPES, DType
from mace_core.errors import ConversionError, UnsupportedOpError
from mace_core.ir import Graph, QuantParams
from mace_core.registry import Registry
from mace_core.specs import ConvertOptions

__all__ = ["CONVERTERS", "convert_tflite", "tensor_keys"]


def tensor_keys(tfl: TfliteModel) -> list[str]:
    """A unique source name per tensor of the main subgraph (its own name when unique)."""
    names = [tensor_name(t) for t in tfl.subgraph.tensors]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [n if n and counts[n] == 1 else f"{n or 'tensor'}_{i}" for i, n in enumerate(names)]


def check_supported(tfl: TfliteModel) -> None:
    """Raise UnsupportedOpError naming every operator this frontend cannot convert."""
    missing: dict[str, int] = {}
    for op in tfl.subgraph.operators:
        name = tfl.op_name(op)
        if name not in CONVERTERS:
            missing[name] = missing.get(name, 0) + 1
    if missing:
        listed = ", ".join(f"{name} (x{count})" for name, count in sorted(missing.items()))
        custom = any(name.startswith("CUSTOM:") for name in missing)
        raise UnsupportedOpError(
            f"{tfl.path}: {len(missing)} TFLite operator(s) are not supported: {listed}."
            + (" Custom operators are implemented by the application that shipped the model"
               " and have no standard definition; add them with a custom-op plugin." if custom
               else "")
        )


def convert_tflite(path: Path, options: ConvertOptions, registry: Registry, *,
                   fake_quant: bool = False) -> Graph:
    """Convert the .tflite file at ``path`` (main subgraph) into a mace-core graph.

    ``fake_quant``: for fully quantized models, round each op's output to its int8/uint8
    grid (QuantizeLinear -> DequantizeLinear) instead of keeping plain float32 values.
    """
    tfl = read_model(path)
    check_supported(tfl)
    sub = tfl.subgraph
    keys = tensor_keys(tfl)
    outputs = [keys[i] for i in sub.outputs]
    b = LayoutBuilder(options.model_name or path.stem, outputs)
    shapes, dtypes, quants = _tensor_info(tfl, keys, options)
    activations = quantized_activations(tfl, keys, dtypes, quants)
    source_dtypes = dict(dtypes)
    dtypes.update({key: np.dtype(np.float32) for key in activations})  # computed in float
    for i in sub.inputs:
        key = keys[i]
        wanted = options.input_dtypes.get(key)
        if key in activations and (wanted is None or wanted not in FLOAT_TYPES):
            add_quantized_input(b, key, shapes[key],
                                interface_type(tfl, key, source_dtypes[key]), activations[key])
        else:
            b.add_input(key, shapes[key], wanted or _dtype(tfl, key, dtypes), quants.get(key))
    dequantized = _add_constants(tfl, b, keys, quants)
    if dequantized:
        warnings.warn(
            f"{path.name}: {len(dequantized)} quantized weight tensor(s) were dequantized to "
            f"float32 (scale and zero point are kept in their descriptors); the graph runs in "
            f"float until a quantization plugin handles them", stacklevel=2)
    for op in sub.operators:
        name = tfl.op_name(op)
        ins = [keys[i] if i >= 0 else None for i in (op.inputs if op.inputs is not None else [])]
        outs = [keys[i] for i in (op.outputs if op.outputs is not None else [])]
        ctx = OpContext(b, tfl, op, name, ins, outs, shapes, dtypes, quants)
        try:
            CONVERTERS[name](ctx)
        except ConversionError:
            raise
        except Exception as exc:
            raise ctx.fail(f"{type(exc).__name__}: {exc}") from exc
        if fake_quant:
            for key in outs:
                if key in activations and key not in outputs:
                    fake_quantize(b, key, activations[key], source_dtypes[key])
    graph = b.finish()
    graph.metadata.update({
        "source_format": "tflite",
        "source_file": Path(path).name,
        "tflite_schema_version": str(tfl.model.version),
        "source_layout": "nhwc",
    })
    if activations:
        interface: dict[str, Interface] = {
            key: (interface_type(tfl, key, source_dtypes[key]), activations[key], shapes[key])
            for key in outputs if key in activations}
        quantize_outputs(graph, interface)
        annotate(graph, b, activations, shapes)
        graph.metadata["quantization"] = (
            "integer activations fake-quantized in float32" if fake_quant
            else "integer activations dequantized to float32")
        warnings.warn(f"{FAKE_QUANT_WARNING if fake_quant else FLOAT_WARNING} ({path.name})",
                      stacklevel=2)
    return graph


def _dtype(tfl: TfliteModel, key: str, dtypes: dict[str, np.dtype]) -> DType:
    try:
        return DType.from_numpy(dtypes[key])
    except TypeError as exc:
        raise ConversionError(f"{tfl.path}: input {key!r}: {exc}") from None


def _tensor_info(tfl: TfliteModel, keys: list[str], options: ConvertOptions):
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, np.dtype] = {}
    quants: dict[str, QuantParams] = {}
    for key, tensor in zip(keys, tfl.subgraph.tensors, strict=True):
        shapes[key] = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
        dtypes[key] = tfl.numpy_type(tensor)
        quant = quant_params(tensor)
        if quant is not None:
            quants[key] = quant
    for i in tfl.subgraph.inputs:
        key = keys[i]
        if key in options.input_shapes:
            shapes[key] = tuple(options.input_shapes[key])
        if any(d < 0 for d in shapes[key]):
            raise ConversionError(f"{tfl.path}: input {key!r} has dynamic shape "
                                  f"{list(shapes[key])}; give --input-shape {key}=...")
    return shapes, dtypes, quants


def _add_constants(tfl: TfliteModel, b: LayoutBuilder, keys: list[str],
                   quants: dict[str, QuantParams]) -> list[str]:
    """Add every constant tensor; quantized integer weights are dequantized to float32."""
    dequantized: list[str] = []
    dequantize_inputs = {
        keys[op.inputs[0]] for op in tfl.subgraph.operators
        if tfl.op_name(op) == "DEQUANTIZE" and op.inputs is not None
    }
    for key, tensor in zip(keys, tfl.subgraph.tensors, strict=True):
        if key in b.values:
            continue
        value = tfl.constant(tensor)
        if value is None:
            continue
        quant = quants.get(key)
        if quant is not None and value.dtype.kind in "iu" and key not in dequantize_inputs:
            value = dequantize(value, quant)
            dequantized.append(key)
        b.add_constant(key, value, quant)
    return dequantized
