"""ONNX GraphProto -> mace-core Graph: node names, op support check, constants, nodes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnx

from mace_converters.onnx_frontend.attributes import constant_value, node_attributes
from mace_converters.onnx_frontend.loading import DEFAULT_DOMAINS
from mace_converters.onnx_frontend.opset import adapt_attrs
from mace_converters.onnx_frontend.tensors import sparse_to_array, tensor_to_array
from mace_core.errors import UnsupportedOpError
from mace_core.ir import Graph, Node
from mace_core.registry import Registry, unsupported_message

# Ops the frontend itself resolves, so they need no schema.
FRONTEND_OPS = frozenset({("", "Constant")})


def op_domain(node: onnx.NodeProto) -> str:
    """The node's domain with the default domain spelled ``""``."""
    return "" if node.domain in DEFAULT_DOMAINS else node.domain


def unique_node_names(nodes: Sequence[onnx.NodeProto]) -> list[str]:
    """One distinct name per node: its own when unique, ``{op_type}_{index}`` when empty."""
    taken = {n.name for n in nodes if n.name}
    seen: set[str] = set()
    names: list[str] = []
    for index, node in enumerate(nodes):
        base = node.name or f"{node.op_type}_{index}"
        name = base
        if name in seen or (not node.name and name in taken):
            i = 1
            while f"{base}_{i}" in seen or f"{base}_{i}" in taken:
                i += 1
            name = f"{base}_{i}"
        seen.add(name)
        names.append(name)
    return names


def check_supported(nodes: Sequence[onnx.NodeProto], names: Sequence[str],
                    registry: Registry) -> None:
    """Raise UnsupportedOpError listing every node whose op has no schema."""
    missing = []
    for node, name in zip(nodes, names, strict=True):
        key = (op_domain(node), node.op_type)
        if key not in FRONTEND_OPS and key not in registry.schemas:
            missing.append(Node(name, node.op_type, [], [], domain=key[0]))
    if missing:
        raise UnsupportedOpError(unsupported_message(missing))


def _used_names(graph: onnx.GraphProto) -> set[str]:
    used = {o.name for o in graph.output}
    for node in graph.node:
        used.update(node.input)
    return used


def add_initializers(graph: Graph, proto: onnx.GraphProto, path: Path) -> None:
    """Initializers (dense and sparse) that something reads become constants."""
    used = _used_names(proto)
    for tensor in proto.initializer:
        if tensor.name in used:
            value = tensor_to_array(tensor, f"{path}: initializer {tensor.name!r}")
            graph.add_constant(tensor.name, value)
    for sparse in proto.sparse_initializer:
        name = sparse.values.name
        if name in used:
            tensor_to_array(sparse.values, f"{path}: sparse initializer {name!r}")
            graph.add_constant(name, sparse_to_array(sparse))


def add_nodes(graph: Graph, proto: onnx.GraphProto, names: Sequence[str], opset: int,
              path: Path) -> None:
    """Constant nodes become constants; every other node is copied with its attributes."""
    for node, name in zip(proto.node, names, strict=True):
        domain = op_domain(node)
        where = f"{path}: node {name!r} ({node.op_type})"
        if (domain, node.op_type) in FRONTEND_OPS:
            graph.add_constant(node.output[0], constant_value(node, where))
            continue
        ir_node = Node(name, node.op_type, list(node.input), list(node.output),
                       node_attributes(node, where), domain)
        ir_node.attrs = adapt_attrs(ir_node, opset)
        graph.nodes.append(ir_node)
