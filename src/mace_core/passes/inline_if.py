"""Inlining of ``If`` nodes whose condition is known at conversion time.

:func:`inline_if` replaces an ``If`` node by the nodes of the branch its condition selects:
the branch's constants become constants of the enclosing graph, its internal tensor and node
names are renamed where they would clash with the enclosing graph's, and its outputs are
written under the ``If`` node's output names (through an ``Identity`` when a branch output
is not computed by a branch node: an outer tensor, a constant, or a repeated output).
Branches nested in the inlined branch stay ``If`` nodes, with their reads renamed, and are
inlined in turn when ``fold_and_infer`` reaches them.

:func:`condition_error` is the error for a condition only known at run time, naming the
graph inputs it depends on.
"""

from __future__ import annotations

import copy

import attrs

from mace_core.errors import ValidationError
from mace_core.ir import Graph, Node
from mace_core.ops.control_flow import chosen_branch
from mace_core.passes.graph_edit import set_constant


def is_if(node: Node) -> bool:
    return node.op_type == "If" and node.domain == ""


def defined_names(graph: Graph) -> set[str]:
    """Tensor names a (sub)graph defines itself: its constants and its nodes' outputs."""
    return set(graph.constants) | {o for node in graph.nodes for o in node.outputs if o}


def rename_graph(graph: Graph, mapping: dict[str, str]) -> None:
    """Rename tensors of ``graph`` by ``mapping``, in nested subgraphs too.

    In a nested subgraph only the names it reads from outside are renamed; names it defines
    itself shadow the outer ones and stay.
    """
    if not mapping:
        return

    def new(name: str) -> str:
        return mapping.get(name, name) if name else name

    graph.inputs = [new(n) for n in graph.inputs]
    graph.outputs = [new(n) for n in graph.outputs]
    graph.constants = {new(k): v for k, v in graph.constants.items()}
    graph.tensors = {new(k): attrs.evolve(d, name=new(k)) for k, d in graph.tensors.items()}
    for node in graph.nodes:
        node.inputs = [new(n) for n in node.inputs]
        node.outputs = [new(n) for n in node.outputs]
        for value in node.attrs.values():
            if isinstance(value, Graph):
                own = defined_names(value)
                rename_graph(value, {k: v for k, v in mapping.items() if k not in own})


def _taken_names(graph: Graph) -> set[str]:
    taken = set(graph.tensors) | set(graph.constants) | set(graph.inputs) | set(graph.outputs)
    for node in graph.nodes:
        taken.update(node.inputs)
        taken.update(node.outputs)
    return taken


def _fresh(base: str, taken: set[str]) -> str:
    name, i = base, 1
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    taken.add(name)
    return name


def inline_if(graph: Graph, node: Node, flag: bool) -> list[Node]:
    """The nodes that replace ``node`` (an If of ``graph``) when its condition is ``flag``.

    Adds the branch's constants to ``graph``; the caller splices the returned nodes in
    place of ``node``.
    """
    branch = copy.deepcopy(chosen_branch(node.attrs, flag, str(node)))
    captured = node.inputs[1:]
    if len(branch.inputs) != len(captured) or len(branch.outputs) != len(node.outputs):
        raise ValidationError(
            f"{node}: the chosen branch reads {len(branch.inputs)} outer tensors and has "
            f"{len(branch.outputs)} outputs, but the node has {len(captured)} inputs after "
            f"the condition and {len(node.outputs)} outputs"
        )
    taken = _taken_names(graph)
    mapping = dict(zip(branch.inputs, captured, strict=True))
    produced = {o for n in branch.nodes for o in n.outputs if o}
    for inner, outer in zip(branch.outputs, node.outputs, strict=True):
        if outer and inner in produced and inner not in mapping:
            mapping[inner] = outer
    internal = list(branch.constants) + [o for n in branch.nodes for o in n.outputs if o]
    for name in internal:
        if name not in mapping:
            mapping[name] = _fresh(f"{node.name}/{name}", taken) if name in taken else name
            taken.add(mapping[name])
    rename_graph(branch, mapping)

    node_names = {n.name for n in graph.nodes}
    for inner_node in branch.nodes:
        if not inner_node.name or inner_node.name in node_names:
            inner_node.name = _fresh(f"{node.name}/{inner_node.name or inner_node.op_type}",
                                     node_names)
        node_names.add(inner_node.name)
    for name, value in branch.constants.items():
        set_constant(graph, name, value)
    nodes = list(branch.nodes)
    for index, (inner, outer) in enumerate(zip(branch.outputs, node.outputs, strict=True)):
        if outer and inner != outer:
            name = _fresh(f"{node.name}/output_{index}", node_names)
            nodes.append(Node(name, "Identity", [inner], [outer]))
    return nodes


def runtime_inputs(graph: Graph, tensor: str) -> list[str]:
    """The graph inputs a tensor's value depends on (through nodes not folded to constants)."""
    producers = graph.producers()
    inputs = set(graph.inputs)
    found: set[str] = set()
    stack, seen = [tensor], set()
    while stack:
        name = stack.pop()
        if not name or name in seen or name in graph.constants:
            continue
        seen.add(name)
        if name in inputs:
            found.add(name)
        elif name in producers:
            stack.extend(producers[name].inputs)
    return [n for n in graph.inputs if n in found]


def condition_error(graph: Graph, node: Node) -> ValidationError:
    """The error for an If whose condition is only known at run time."""
    names = runtime_inputs(graph, node.inputs[0])
    if names:
        return ValidationError(
            f"If node {node.name!r}: its condition depends on run-time input(s) "
            f"{', '.join(names)}; freeze them with --input-value NAME=VALUE or give static "
            "shapes"
        )
    return ValidationError(
        f"If node {node.name!r}: its condition {node.inputs[0]!r} cannot be computed at "
        "conversion time (it comes from an op that is not folded); mace-core resolves If "
        "at conversion time, so its condition must fold to a constant"
    )
