"""Dead-node elimination: drop nodes no graph output depends on, then unused tensors."""

from __future__ import annotations

from mace_core.ir import Graph
from mace_core.specs import PassContext


def remove_dead_nodes(graph: Graph, ctx: PassContext) -> bool:
    """Remove every node whose outputs nothing reads (transitively) and that produces no
    graph output; then descriptors and constants nothing refers to. True when any went."""
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(name in live for name in node.outputs if name):
            kept.append(node)
            live.update(name for name in node.inputs if name)
    kept.reverse()
    changed = len(kept) != len(graph.nodes)
    graph.nodes = kept
    before = (len(graph.tensors), len(graph.constants))
    graph.remove_unused_tensors()
    return changed or before != (len(graph.tensors), len(graph.constants))
