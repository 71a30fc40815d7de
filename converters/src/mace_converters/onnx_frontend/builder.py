"""ONNX GraphProto -> mace-core Graph: node names, op support check, constants, nodes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import onnx

from mace_converters.onnx_frontend.attributes import constant_value, node_attributes
from mace_converters.onnx_frontend.loading import DEFAULT_DOMAINS
from mace_converters.onnx_frontend.opset import adapt_attrs
from mace_converters.onnx_frontend.tensors import sparse_to_array, tensor_to_array
from mace_core.errors import ConversionError, UnsupportedOpError
from mace_core.ir import Graph, Node, iter_unique
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


def _with_subgraph_nodes(nodes: Sequence[onnx.NodeProto], names: Sequence[str]
                         ) -> Iterator[tuple[onnx.NodeProto, str]]:
    """Every node with its name, then the nodes of its subgraphs (``name/attr/inner``)."""
    for node, name in zip(nodes, names, strict=True):
        yield node, name
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                inner = unique_node_names(sub.node)
                yield from _with_subgraph_nodes(
                    sub.node, [f"{name}/{attr.name}/{n}" for n in inner])


def check_supported(nodes: Sequence[onnx.NodeProto], names: Sequence[str],
                    registry: Registry) -> None:
    """Raise UnsupportedOpError listing every node whose op has no schema (subgraphs too)."""
    missing = []
    for node, name in _with_subgraph_nodes(nodes, names):
        key = (op_domain(node), node.op_type)
        if key not in FRONTEND_OPS and key not in registry.schemas:
            missing.append(Node(name, node.op_type, [], [], domain=key[0]))
    if missing:
        raise UnsupportedOpError(unsupported_message(missing))


def _used_names(graph: onnx.GraphProto) -> set[str]:
    """Names the graph's outputs and nodes read, the nodes of its subgraphs included."""
    used = {o.name for o in graph.output}
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                used.update(_used_names(sub))
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
    """Constant nodes become constants; every other node is copied with its attributes.

    GRAPH attributes (If's branches) become subgraphs (:func:`convert_subgraph`); the
    outer-scope tensors they read are appended to the node's inputs and set as every
    subgraph's ``inputs``, in the same order (see ``mace_core.ops.control_flow``).
    """
    for node, name in zip(proto.node, names, strict=True):
        domain = op_domain(node)
        where = f"{path}: node {name!r} ({node.op_type})"
        if (domain, node.op_type) in FRONTEND_OPS:
            graph.add_constant(node.output[0], constant_value(node, where))
            continue

        def subgraph(sub: onnx.GraphProto, attr: str, where: str = where) -> Graph:
            return convert_subgraph(sub, f"{where} attribute {attr!r}", opset, path)

        ir_node = Node(name, node.op_type, list(node.input), list(node.output),
                       node_attributes(node, where, subgraph), domain)
        ir_node.attrs = adapt_attrs(ir_node, opset)
        branches = [v for v in ir_node.attrs.values() if isinstance(v, Graph)]
        if branches:
            captured = iter_unique(n for b in branches for n in b.inputs)
            for branch in branches:
                branch.inputs = list(captured)
            ir_node.inputs += captured
        graph.nodes.append(ir_node)


def outer_reads(graph: Graph) -> list[str]:
    """The names a subgraph reads from enclosing scopes, in first-read order."""
    defined = set(graph.constants) | {o for node in graph.nodes for o in node.outputs}
    reads = [i for node in graph.nodes for i in node.inputs] + list(graph.outputs)
    return [name for name in iter_unique(reads) if name not in defined]


def convert_subgraph(proto: onnx.GraphProto, where: str, opset: int, path: Path) -> Graph:
    """A branch GraphProto -> a Graph whose ``inputs`` are the outer tensors it reads.

    Its initializers and Constant nodes become its own constants; nested subgraphs are
    converted recursively.
    """
    if proto.input:
        raise ConversionError(
            f"{where}: the subgraph {proto.name!r} takes {len(proto.input)} formal inputs; "
            "only If branches (subgraphs without inputs) are supported, not Loop or Scan bodies"
        )
    graph = Graph(name=proto.name or where)
    add_initializers(graph, proto, path)
    add_nodes(graph, proto, unique_node_names(proto.node), opset, path)
    graph.outputs = [o.name for o in proto.output]
    graph.inputs = outer_reads(graph)
    return graph
