"""Cleanup: remove nodes that do nothing at inference and collapse redundant chains.

* ``Identity`` and ``Dropout`` (inference: identity; only when its mask is unused);
* ``Cast`` to the dtype the input already has;
* ``Reshape`` / ``Flatten`` / ``Squeeze`` / ``Unsqueeze`` whose output shape equals the input's;
* ``Reshape`` of a reshape-like op's output: reads the original tensor directly, with its
  (static) output shape as a constant;
* ``Transpose -> Transpose``: removed when the permutations compose to the identity, else
  merged into one ``Transpose``; a ``Transpose`` with the identity permutation is removed.

Graph output names never change: when a removed node wrote a graph output, the producer of
its input writes that name instead (or the node stays, when its input is a graph input).
A producer left without readers by a collapse is removed too.
"""

from __future__ import annotations

import numpy as np

from mace_core.ir import Graph, Node
from mace_core.passes.graph_edit import bypass, drop_unused_constants, new_constant, remove_node
from mace_core.specs import PassContext

RESHAPE_LIKE = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})


def _perm(graph: Graph, node: Node) -> list[int]:
    perm = node.attrs.get("perm")
    rank = len(graph.desc(node.inputs[0]).shape)
    return list(range(rank))[::-1] if perm is None else [int(p) for p in perm]


def _is_noop(graph: Graph, node: Node) -> bool:
    """Whether ``node`` passes its first input through unchanged."""
    op = node.op_type
    if op == "Identity":
        return True
    if op == "Dropout":
        return len(node.outputs) < 2 or not node.outputs[1] or _unread(graph, node.outputs[1])
    src, out = graph.desc(node.inputs[0]), graph.desc(node.outputs[0])
    if op == "Cast":
        return src.dtype == out.dtype
    if op in RESHAPE_LIKE:
        return src.shape == out.shape
    if op == "Transpose":
        perm = _perm(graph, node)
        return perm == sorted(perm)
    return False


def _unread(graph: Graph, tensor: str) -> bool:
    return tensor not in graph.outputs and not any(tensor in n.inputs for n in graph.nodes)


def _remove_if_unread(graph: Graph, node: Node) -> None:
    if all(not name or _unread(graph, name) for name in node.outputs):
        remove_node(graph, node)
        for name in node.outputs:
            graph.tensors.pop(name, None)
        drop_unused_constants(graph, node.inputs)


def _collapse_reshape(graph: Graph, node: Node, first: Node) -> bool:
    """``Reshape(reshape_like(x))`` -> ``Reshape(x, <static output shape>)``."""
    shape = graph.desc(node.outputs[0]).shape
    if 0 in shape:  # a 0 in the shape input would mean "copy this dimension"
        return False
    old_shape = node.inputs[1] if len(node.inputs) > 1 else ""
    target = new_constant(graph, f"{node.name}_shape", np.array(shape, dtype=np.int64))
    node.inputs = [first.inputs[0], target]
    node.attrs.pop("shape", None)  # opset-1 form
    drop_unused_constants(graph, [old_shape])
    _remove_if_unread(graph, first)
    return True


def _merge_transposes(graph: Graph, node: Node, first: Node) -> bool:
    """``Transpose(Transpose(x, p1), p2)`` -> ``Transpose(x, p1[p2])`` or ``x``."""
    p1, p2 = _perm(graph, first), _perm(graph, node)
    composed = [p1[axis] for axis in p2]
    source = first.inputs[0]
    if composed == sorted(composed):
        if not bypass(graph, node, source):
            return False
    else:
        node.inputs = [source]
        node.attrs["perm"] = composed
    _remove_if_unread(graph, first)
    return True


def _rewrite(graph: Graph, node: Node, producers: dict[str, Node]) -> bool:
    if not node.inputs or not node.inputs[0] or node.domain:
        return False
    if node.op_type in {"Identity", "Dropout", "Cast", "Transpose"} | RESHAPE_LIKE:
        if _is_noop(graph, node) and bypass(graph, node, node.inputs[0]):
            return True
    first = producers.get(node.inputs[0])
    if first is None or first.domain:
        return False
    if node.op_type == "Reshape" and first.op_type in RESHAPE_LIKE:
        return _collapse_reshape(graph, node, first)
    if node.op_type == "Transpose" and first.op_type == "Transpose":
        return _merge_transposes(graph, node, first)
    return False


def cleanup(graph: Graph, ctx: PassContext) -> bool:
    """The ``cleanup`` pass; True when anything was removed or rewritten."""
    changed = False
    progress = True
    while progress:
        progress = False
        producers = graph.producers()
        dirty: set[str] = set()  # tensors renamed or re-wired in this sweep
        alive = {id(n) for n in graph.nodes}
        for node in list(graph.nodes):
            if id(node) not in alive:
                continue  # removed earlier in this sweep
            first = producers.get(node.inputs[0]) if node.inputs else None
            names = {*node.inputs, *node.outputs, *(first.inputs if first else ())}
            if names & dirty:
                continue
            if _rewrite(graph, node, producers):
                dirty.update(names)
                dirty.update(first.outputs if first else ())
                alive = {id(n) for n in graph.nodes}
                progress = changed = True
    return changed
