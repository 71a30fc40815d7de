"""Matching small subgraphs for the pattern fusions: constants, scalings, private tensors.

A :class:`Matcher` answers questions about the graph as it is (producers, readers, constant
values) and replaces a matched group of nodes by one node. Constants compare within a
relative tolerance (:data:`RTOL`), so ``1/6`` stored as float32 matches ``1/6``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mace_core.dtypes import FLOAT_TYPES
from mace_core.ir import Graph, Node
from mace_core.passes.graph_edit import drop_unused_constants, has_activation
from mace_core.specs import PassContext

RTOL = 1e-6


def near(value: float | None, expected: float) -> bool:
    """``value`` equals ``expected`` within :data:`RTOL` (relative)."""
    return value is not None and abs(value - expected) <= RTOL * abs(expected)


class Matcher:
    """Questions and edits on one graph; :meth:`refresh` after each edit."""

    def __init__(self, graph: Graph, ctx: PassContext) -> None:
        self.graph = graph
        self.ctx = ctx
        self.removed: set[int] = set()  # ids of nodes that a replacement took out
        self.refresh()

    def refresh(self) -> None:
        self.producers = self.graph.producers()
        self.consumers = self.graph.consumers()

    # -- questions ---------------------------------------------------------------------
    def attrs(self, node: Node) -> dict[str, Any]:
        """The node's attributes with schema defaults filled in."""
        return self.ctx.registry.schema(node).resolve_attrs(node)

    def has_op(self, op_type: str) -> bool:
        return ("", op_type) in self.ctx.registry.schemas

    def scalar(self, name: str) -> float | None:
        """The value of a one-element float constant, else None."""
        value = self.graph.constants.get(name)
        if value is None or value.size != 1 or not np.issubdtype(value.dtype, np.floating):
            return None
        return float(value.reshape(-1)[0])

    def produced_by(self, tensor: str, op_type: str) -> Node | None:
        """The plain (standard domain, no fused activation) ``op_type`` node writing
        ``tensor`` as its first output, else None."""
        node = self.producers.get(tensor)
        if (node is None or node.domain or node.op_type != op_type or has_activation(node)
                or node.outputs[0] != tensor):
            return None
        return node

    def readers(self, tensor: str) -> list[Node]:
        return self.consumers.get(tensor, [])

    def sole_reader(self, tensor: str, op_types: Sequence[str]) -> Node | None:
        """The one plain node of one of ``op_types`` reading ``tensor``, which must not be a
        graph output; else None."""
        readers = self.readers(tensor)
        if tensor in self.graph.outputs or len(readers) != 1:
            return None
        node = readers[0]
        if node.domain or node.op_type not in op_types or has_activation(node):
            return None
        return node

    def operand_with(self, node: Node, value: float) -> str | None:
        """For a binary node with one input a scalar constant near ``value``: the other input."""
        if len(node.inputs) != 2:
            return None
        for const, other in ((1, 0), (0, 1)):
            if near(self.scalar(node.inputs[const]), value):
                return node.inputs[other]
        return None

    def scaling(self, node: Node | None) -> tuple[str, float] | None:
        """``(x, k)`` when ``node`` computes ``x * k`` for a scalar constant: ``Mul`` by ``k``
        (either side) or ``Div`` by ``1/k``; else None."""
        if node is None or node.domain or has_activation(node) or len(node.inputs) != 2:
            return None
        a, b = node.inputs
        if node.op_type == "Mul":
            for const, data in ((b, a), (a, b)):
                k = self.scalar(const)
                if k is not None and const != data:
                    return data, k
        elif node.op_type == "Div":
            k = self.scalar(b)
            if k is not None and k != 0 and a != b:
                return a, 1.0 / k
        return None

    def other_input(self, node: Node, known: str) -> str | None:
        """The input of binary ``node`` that is not ``known`` (None if it reads it twice)."""
        if len(node.inputs) != 2 or known not in node.inputs:
            return None
        a, b = node.inputs
        other = b if a == known else a
        return None if other == known else other

    def private(self, nodes: Sequence[Node], final: Node) -> bool:
        """Every tensor written by ``nodes`` except ``final``'s output is read only inside
        ``nodes`` and is not a graph output; no node carries a fused activation."""
        inside = {id(n) for n in nodes}
        for node in nodes:
            if node.domain or has_activation(node):
                return False
            if node is final:
                continue
            for out in node.outputs:
                if not out:
                    continue
                if out in self.graph.outputs:
                    return False
                if any(id(r) not in inside for r in self.readers(out)):
                    return False
        return True

    def same_float_shape(self, x: str, out: str) -> bool:
        """``x`` and ``out`` are float tensors of one shape and dtype (nothing broadcast)."""
        a, b = self.graph.tensors.get(x), self.graph.tensors.get(out)
        return (a is not None and b is not None and a.dtype in FLOAT_TYPES
                and a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape))

    # -- edits -------------------------------------------------------------------------
    def replace(self, nodes: Sequence[Node], final: Node, op_type: str, inputs: list[str],
                attrs: dict[str, Any] | None = None) -> Node:
        """Replace ``nodes`` (``final`` among them, after all others) by one ``op_type`` node
        at ``final``'s place, writing ``final``'s output under the same name."""
        new = Node(final.name, op_type, list(inputs), [final.outputs[0]], dict(attrs or {}))
        dropped = {id(n) for n in nodes if n is not final}
        self.removed.update(id(n) for n in nodes)
        kept = []
        for node in self.graph.nodes:
            if node is final:
                kept.append(new)
            elif id(node) not in dropped:
                kept.append(node)
        self.graph.nodes = kept
        for node in nodes:
            if node is not final:
                for out in node.outputs:
                    self.graph.tensors.pop(out, None)
        drop_unused_constants(self.graph, [i for n in nodes for i in n.inputs])
        self.refresh()
        return new
