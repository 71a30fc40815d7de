"""Tensor layouts: what the converted graph is in, and where devices disagree with it.

At conversion time the graph keeps ONNX semantics, so every 4-D activation is NCHW - the
layout of the reference device. The ``layout`` pass says so explicitly: it annotates 4-D
activation descriptors with ``Layout.NCHW`` and records ``graph.metadata["layout"]``. It does
not pick a layout per device; no op is rewritten.

A device whose ``Capabilities.preferred_layout`` is NHWC works on NHWC tensors.
:func:`insert_layout_transforms` prepares a graph for such a mix once it is placed: given the
layout each node runs in, it inserts ``Transpose`` nodes where a 4-D activation crosses from
one layout to the other, so each node reads its 4-D activations in its own layout and the
graph's inputs and outputs stay NCHW under their names. Constants and tensors of other ranks
are left as they are (a device kernel repacks its weights when it prepares itself). Only
NCHW and NHWC are handled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from mace_core.ir import Graph, Layout, Node, TensorDesc
from mace_core.specs import PassContext

if TYPE_CHECKING:
    from mace_core.registry import Registry
    from mace_core.runtime.placement import Placement

GRAPH_LAYOUT = Layout.NCHW
PERMS = {
    (Layout.NCHW, Layout.NHWC): [0, 2, 3, 1],
    (Layout.NHWC, Layout.NCHW): [0, 3, 1, 2],
}


def _activations(graph: Graph) -> list[str]:
    names = [n for n in graph.inputs if n not in graph.constants]
    names += [o for node in graph.nodes for o in node.outputs if o and o not in graph.constants]
    return names


def annotate_layout(graph: Graph, ctx: PassContext) -> bool:
    """The ``layout`` pass: mark 4-D activations NCHW; True when anything was marked."""
    changed = graph.metadata.get("layout") != GRAPH_LAYOUT.value
    graph.metadata["layout"] = GRAPH_LAYOUT.value
    for name in _activations(graph):
        desc = graph.tensors.get(name)
        if desc is not None and len(desc.shape) == 4 and desc.layout != GRAPH_LAYOUT:
            graph.tensors[name] = attrs.evolve(desc, layout=GRAPH_LAYOUT)
            changed = True
    return changed


def node_layouts(placement: Placement, registry: Registry) -> dict[str, Layout]:
    """Node name -> preferred layout of the device it was placed on."""
    return {
        step.node.name: registry.probe(step.device).preferred_layout for step in placement.steps
    }


def _permuted(desc: TensorDesc, name: str, layout: Layout) -> TensorDesc:
    perm = PERMS[(GRAPH_LAYOUT, layout)] if layout != GRAPH_LAYOUT else [0, 1, 2, 3]
    return TensorDesc(name, desc.dtype, tuple(desc.shape[p] for p in perm), layout, desc.quant)


class _Transforms:
    """Per 4-D activation: the name holding it in each layout made so far."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.versions: dict[str, dict[Layout, str]] = {}
        self.nchw_desc: dict[str, TensorDesc] = {}
        self.taken = set(graph.tensors) | {n.name for n in graph.nodes}
        self.inserted: list[Node] = []

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.taken:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name

    def produced(self, name: str, layout: Layout) -> str:
        """Record that ``name`` is produced in ``layout``; returns the name to write."""
        desc = self.graph.tensors[name]
        self.nchw_desc[name] = desc
        physical = name if layout == GRAPH_LAYOUT else self.fresh(f"{name}_{layout.value}")
        self.graph.tensors[physical] = _permuted(desc, physical, layout)
        self.versions[name] = {layout: physical}
        return physical

    def read(self, name: str, layout: Layout, out: list[Node]) -> str:
        """The name of ``name`` in ``layout``, appending a Transpose to ``out`` if needed."""
        versions = self.versions[name]
        if layout in versions:
            return versions[layout]
        ((have, source),) = versions.items()  # two layouts: the other one is there
        target = name if layout == GRAPH_LAYOUT else self.fresh(f"{name}_{layout.value}")
        self.graph.tensors[target] = _permuted(self.nchw_desc[name], target, layout)
        node = Node(self.fresh(f"{name}_to_{layout.value}"), "Transpose", [source], [target],
                    {"perm": list(PERMS[(have, layout)])})
        out.append(node)
        self.inserted.append(node)
        versions[layout] = target
        return target


def insert_layout_transforms(graph: Graph, placement: Mapping[str, Layout]) -> list[Node]:
    """Insert Transposes so every node reads its 4-D activations in its own layout.

    ``placement`` maps node names to the layout of the device each runs on (see
    :func:`node_layouts`); a node not named there runs in the graph's layout (NCHW). A
    node's 4-D outputs are in its layout: an NHWC node's output ``t`` is renamed ``t_nhwc``
    (descriptor with permuted shape and ``Layout.NHWC``), and ``t`` is re-made by a
    Transpose only where an NCHW node or the graph outputs read it. Each conversion is made
    once, right before its first reader. Returns the inserted nodes (not yet placed).
    """
    for name, layout in placement.items():
        if layout not in (Layout.NCHW, Layout.NHWC):
            raise ValueError(f"node {name!r}: layout {layout.value} is not NCHW or NHWC")
    state = _Transforms(graph)

    def is_4d_activation(name: str) -> bool:
        desc = graph.tensors.get(name)
        return bool(name) and name not in graph.constants and desc is not None and (
            len(desc.shape) == 4)

    for name in graph.inputs:
        if is_4d_activation(name):
            state.produced(name, GRAPH_LAYOUT)
    nodes: list[Node] = []
    for node in graph.nodes:
        layout = placement.get(node.name, GRAPH_LAYOUT)
        node.inputs = [state.read(i, layout, nodes) if i in state.versions else i
                       for i in node.inputs]
        nodes.append(node)
        node.outputs = [state.produced(o, layout) if is_4d_activation(o) else o
                        for o in node.outputs]
    for name in graph.outputs:
        if name in state.versions:
            state.read(name, GRAPH_LAYOUT, nodes)
    graph.nodes = nodes
    for name, versions in state.versions.items():
        if GRAPH_LAYOUT in versions:
            graph.tensors[name] = attrs.evolve(graph.tensors[name], layout=GRAPH_LAYOUT)
        else:
            graph.tensors.pop(name, None)  # only its NHWC version exists now
    return state.inserted
