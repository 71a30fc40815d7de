"""Small graph-editing helpers shared by the passes (matching producers, removing nodes)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mace_core.dtypes import FLOAT_TYPES, DType
from mace_core.ir import Graph, Node, TensorDesc


def sole_reader(graph: Graph, tensor: str, consumers: dict[str, list[Node]]) -> Node | None:
    """The node reading ``tensor`` when it is read exactly once and is not a graph output."""
    if tensor in graph.outputs:
        return None
    readers = consumers.get(tensor, [])
    return readers[0] if len(readers) == 1 else None


def has_activation(node: Node) -> bool:
    """Whether ``node`` already carries a fused activation."""
    return bool(node.attrs.get("activation"))


def is_float(graph: Graph, tensor: str) -> bool:
    desc = graph.tensors.get(tensor)
    return desc is not None and desc.dtype in FLOAT_TYPES


def remove_node(graph: Graph, node: Node) -> None:
    """Drop ``node`` from the node list (by identity; names are not compared)."""
    graph.nodes = [n for n in graph.nodes if n is not node]


def absorb_successor(graph: Graph, producer: Node, successor: Node) -> None:
    """Make ``producer`` write ``successor``'s output and remove ``successor``.

    Used when ``successor`` (BatchNormalization, an activation, a bias Add) has been folded
    into ``producer``: the tensor name that later nodes and graph outputs read is kept.
    """
    old = producer.outputs[0]
    producer.outputs[0] = successor.outputs[0]
    remove_node(graph, successor)
    graph.tensors.pop(old, None)


def bypass(graph: Graph, node: Node, kept: str) -> bool:
    """Remove ``node``, whose single output equals its input ``kept``; readers read ``kept``.

    When the node's output is a graph output, the producer of ``kept`` writes that name
    instead, so graph output names never change. Returns False (graph untouched) when that
    is impossible: ``kept`` is a graph input, a constant or itself a graph output.
    """
    dropped = node.outputs[0]
    if dropped in graph.outputs:
        producer = graph.producers().get(kept)
        if producer is None or kept in graph.outputs:
            return False
        remove_node(graph, node)
        producer.outputs = [dropped if o == kept else o for o in producer.outputs]
        for other in graph.nodes:
            other.inputs = [dropped if i == kept else i for i in other.inputs]
        graph.tensors.pop(kept, None)
    else:
        remove_node(graph, node)
        graph.rename_tensor(dropped, kept)
        graph.tensors.pop(dropped, None)
    for extra in node.outputs[1:]:
        if extra:
            graph.tensors.pop(extra, None)
    return True


def drop_unused_constants(graph: Graph, names: Iterable[str]) -> None:
    """Delete those of ``names`` that are constants no node or graph output reads any more."""
    read = set(graph.outputs)
    for node in graph.nodes:
        read.update(node.inputs)
    for name in names:
        if name and name in graph.constants and name not in read:
            del graph.constants[name]
            graph.tensors.pop(name, None)


def set_constant(graph: Graph, name: str, value: np.ndarray) -> str:
    """Store ``value`` as constant ``name`` with its descriptor; 0-d arrays stay 0-d."""
    value = np.asarray(value, order="C")
    graph.constants[name] = value
    graph.tensors[name] = TensorDesc(name, DType.from_numpy(value.dtype), tuple(value.shape))
    return name


def new_constant(graph: Graph, base: str, value: np.ndarray) -> str:
    """Add ``value`` as a constant under a fresh name derived from ``base``; returns the name."""
    return set_constant(graph, graph.unique_name(base), value)


def input_or_empty(node: Node, index: int) -> str:
    return node.inputs[index] if index < len(node.inputs) else ""


def set_input(node: Node, index: int, name: str) -> None:
    """Set input ``index``, padding skipped optional inputs with ``""``."""
    while len(node.inputs) <= index:
        node.inputs.append("")
    node.inputs[index] = name
