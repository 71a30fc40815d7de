"""The ONNX frontend: an .onnx file -> a mace-core Graph with static input shapes.

Op types, attribute names and values stay as ONNX has them (``Node.attrs`` verbatim,
tensor attributes as numpy arrays); initializers and Constant nodes become constants, and
so do inputs frozen with ``ConvertOptions.input_values``. If branches become subgraphs.
Shape inference and optimisation run afterwards in ``mace_core.pipeline``.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from mace_converters.onnx_frontend.builder import (
    add_initializers,
    add_nodes,
    check_supported,
    unique_node_names,
)
from mace_converters.onnx_frontend.inputs import frozen_inputs, input_descs
from mace_converters.onnx_frontend.loading import default_opset, inline_functions, load_model
from mace_core.errors import ConversionError
from mace_core.frozen_inputs import METADATA_KEY, encode_metadata
from mace_core.ir import Graph
from mace_core.registry import Registry
from mace_core.specs import ConvertOptions

__all__ = ["convert_onnx"]


def convert_onnx(path: Path, options: ConvertOptions, registry: Registry) -> Graph:
    """Load, check and translate the ONNX model at ``path``."""
    model = load_model(path)
    opset = default_opset(model, path)
    model = inline_functions(model, path)
    proto = model.graph
    names = unique_node_names(proto.node)
    check_supported(proto.node, names, registry)
    if not proto.output:
        raise ConversionError(f"{path}: the graph has no outputs")

    graph = Graph(name=options.model_name or proto.name or path.stem)
    graph.metadata.update({
        "source_format": "onnx",
        "source_file": path.name,
        "onnx_opset": str(opset),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
    })
    add_initializers(graph, proto, path)
    real_inputs = [v for v in proto.input if v.name not in graph.constants]
    frozen = frozen_inputs(real_inputs, options, path)
    for name, value in frozen.items():
        graph.add_constant(name, value)
    if frozen:
        graph.metadata[METADATA_KEY] = encode_metadata(frozen)
        real_inputs = [v for v in real_inputs if v.name not in frozen]
        options = attrs.evolve(
            options,
            input_shapes={k: v for k, v in options.input_shapes.items() if k not in frozen},
            input_dtypes={k: v for k, v in options.input_dtypes.items() if k not in frozen},
        )
    for desc in input_descs(real_inputs, options, path):
        graph.tensors[desc.name] = desc
        graph.inputs.append(desc.name)
    add_nodes(graph, proto, names, opset, path)
    graph.outputs = [o.name for o in proto.output]
    graph.remove_unused_tensors()
    return graph
