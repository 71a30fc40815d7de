"""Control flow: If, with its branches held as subgraphs.

An ``If`` node keeps ONNX's ``then_branch`` / ``else_branch`` attributes as
:class:`mace_core.ir.Graph` objects. A branch reads tensors of the enclosing graph by name;
the frontend lists those outer-scope tensors after the condition, as extra inputs of the node
(``If(cond, *captured)``), and as the branch graph's ``inputs`` in the same order, so the
enclosing graph's dataflow (ordering, dead-node removal, lifetimes) sees every read.

mace-core resolves control flow at conversion time: ``fold_and_infer`` replaces an ``If``
whose condition folds to a constant by the nodes of the chosen branch (see
``mace_core.passes.inline_if``). The schema and reference kernel below define the op for the
graphs where an ``If`` is still present: shape inference needs the condition's value, and the
reference kernel runs the chosen branch node by node on the reference device.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from mace_core.errors import MaceError, ValidationError
from mace_core.ir import Graph
from mace_core.ops import OpDef
from mace_core.schema import REQUIRED, InferContext, OpSchema, OutputSpec

BRANCHES = ("then_branch", "else_branch")


def condition_flag(cond: np.ndarray, where: str) -> bool:
    """The truth value of an If condition, which must hold exactly one element."""
    cond = np.asarray(cond)
    if cond.size != 1:
        raise ValidationError(
            f"{where}: the condition must hold one element, it has shape {list(cond.shape)}"
        )
    return bool(cond.reshape(-1)[0])


def chosen_branch(attrs: dict[str, Any], flag: bool, where: str) -> Graph:
    """The branch graph that runs for condition ``flag``."""
    name = BRANCHES[0] if flag else BRANCHES[1]
    branch = attrs.get(name)
    if not isinstance(branch, Graph):
        raise ValidationError(
            f"{where}: attribute {name!r} must be a subgraph (mace_core.ir.Graph), got "
            f"{type(branch).__name__}"
        )
    return branch


def run_graph(graph: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run ``graph`` node by node with the reference kernels; its outputs in order.

    ``feeds`` gives the graph's inputs (for a branch: the outer-scope tensors it reads).
    """
    from mace_core.registry import default_registry

    registry = default_registry()
    values: dict[str, Any] = {**graph.constants, **feeds}
    for node in graph.nodes:
        schema = registry.schema(node)
        attrs = schema.resolve_attrs(node)
        kernels = [k for k in registry.kernels_for(node, "reference") if k.fn is not None]
        if not kernels:
            raise MaceError(f"{node} has no reference kernel to run inside a branch")
        try:
            args = [values[name] if name else None for name in node.inputs]
        except KeyError as exc:
            raise ValidationError(
                f"{node} in subgraph {graph.name!r} reads {exc.args[0]!r}, which is neither "
                "computed in the subgraph nor one of its inputs"
            ) from None
        result = kernels[0].fn(*args, **attrs)
        results = result if isinstance(result, (tuple, list)) else (result,)
        for name, value in zip(node.outputs, results, strict=False):
            if name:
                values[name] = value
    return [np.asarray(values[name]) for name in graph.outputs]


def infer_branch(branch: Graph, descs: Sequence[Any], values: Sequence[Any]) -> Graph:
    """A shape-inferred copy of ``branch`` given its inputs' descriptors and known values."""
    from mace_core.passes.constant_folding import fold_and_infer
    from mace_core.registry import default_registry

    graph = Graph(name=branch.name, nodes=copy.deepcopy(branch.nodes),
                  outputs=list(branch.outputs), tensors=dict(branch.tensors),
                  constants=dict(branch.constants))
    for name, desc, value in zip(branch.inputs, descs, values, strict=True):
        graph.tensors[name] = desc
        if value is not None:
            graph.constants[name] = value
        else:
            graph.inputs.append(name)
    fold_and_infer(graph, default_registry())
    return graph


def _infer_if(ctx: InferContext) -> list[OutputSpec]:
    where = str(ctx.node)
    flag = condition_flag(ctx.value(0, "condition"), where)
    branch = chosen_branch(ctx.attrs, flag, where)
    if len(branch.inputs) != len(ctx.descs) - 1:
        raise ctx.fail(
            f"the branch reads {len(branch.inputs)} outer-scope tensors, but the node has "
            f"{len(ctx.descs) - 1} inputs after the condition"
        )
    if len(branch.outputs) != len(ctx.node.outputs):
        raise ctx.fail(
            f"the {BRANCHES[0] if flag else BRANCHES[1]} has {len(branch.outputs)} outputs, "
            f"the node has {len(ctx.node.outputs)}"
        )
    inferred = infer_branch(branch, ctx.descs[1:], ctx.values[1:])
    return [(inferred.desc(name).shape, inferred.desc(name).dtype) for name in branch.outputs]


def if_(cond, *captured, then_branch: Graph, else_branch: Graph):
    """Run ``then_branch`` when the single element of ``cond`` is true, else ``else_branch``.

    ``captured`` are the outer-scope tensors the branches read, in the order of the branch
    graphs' ``inputs``.
    """
    attrs = {"then_branch": then_branch, "else_branch": else_branch}
    branch = chosen_branch(attrs, condition_flag(cond, "If"), "If")
    outputs = run_graph(branch, dict(zip(branch.inputs, captured, strict=True)))
    return tuple(outputs)


OPS = [
    OpDef(OpSchema("If", _infer_if, num_inputs=(1, None), num_outputs=(1, None),
                   attrs={"then_branch": REQUIRED, "else_branch": REQUIRED},
                   doc="run then_branch or else_branch (subgraphs) on a one-element "
                   "condition; inputs after the condition are the tensors they read"),
          if_),
]
