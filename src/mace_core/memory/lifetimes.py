"""Tensor lifetimes over an execution order, and which tensors may share storage.

Step ``s`` is the ``s``-th node of the execution order. A planned tensor is every node output
that is neither a graph input (the caller owns those) nor a constant (they live in the
weights file). It is live from the step that produces it through the last step that reads
it; a graph output stays live through the last step, since the caller reads it afterwards.

Some tensors need no storage of their own (see :data:`VIEW_OPS` and :data:`IN_PLACE_OPS`):
they become *aliases* of a *root* tensor, and a root with its aliases forms one
:class:`Storage` block whose lifetime is the union of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from mace_core.errors import ValidationError
from mace_core.ir import Graph, Node, TensorDesc

ALIGNMENT = 64  # bytes; every planned size is rounded up to this (cache line, SIMD loads)

# Ops whose first output is the first input with new shape metadata and the same bytes in
# the same order, so the output may be a view of the input's storage. Reading a view
# never changes the bytes, so a view may be taken even while the input is still read later.
VIEW_OPS = frozenset(
    {
        "Reshape",  # row-major reinterpretation; the shape input only describes metadata
        "Flatten",  # a Reshape to 2-D
        "Squeeze",  # drops size-1 dims
        "Unsqueeze",  # inserts size-1 dims
        "Identity",  # copies nothing
        "Dropout",  # output 0 is the input unless training_mode is on (see _is_view);
        # output 1 (the mask) gets its own storage
    }
)

# Ops that may write their (single) output over one of their inputs, keyed by op type, with
# the input positions that may be overwritten. Each is elementwise in that input: output
# element ``i`` depends only on element ``i`` of the overwritten input (other inputs may be
# broadcast or per-channel), so a kernel reads element ``i`` before it writes element ``i``
# and never reads it again. The planner further requires the overwritten input to have the
# output's exact byte size (so it is not broadcast) and to be dead after this op.
_UNARY = (0,)
_ANY = (0, 1, 2, 3, 4, 5, 6, 7)  # variadic / binary ops: any input of the output's size
IN_PLACE_OPS: dict[str, tuple[int, ...]] = {
    # y[i] = f(x[i]): pointwise activations and math
    "Relu": _UNARY,
    "LeakyRelu": _UNARY,
    "Clip": _UNARY,  # inputs 1-2 are scalar bounds, never the same size as the output
    "Sigmoid": _UNARY,
    "Tanh": _UNARY,
    "HardSigmoid": _UNARY,
    "HardSwish": _UNARY,
    "Swish": _UNARY,
    "Elu": _UNARY,
    "Selu": _UNARY,
    "Celu": _UNARY,
    "Softplus": _UNARY,
    "Softsign": _UNARY,
    "ThresholdedRelu": _UNARY,
    "Gelu": _UNARY,
    "Abs": _UNARY,
    "Neg": _UNARY,
    "Exp": _UNARY,
    "Log": _UNARY,
    "Sqrt": _UNARY,
    "Reciprocal": _UNARY,
    "Floor": _UNARY,
    "Ceil": _UNARY,
    "Round": _UNARY,
    "Sign": _UNARY,
    "Erf": _UNARY,
    # y[i] = f(x[i], slope[c]) / (x[i] - mean[c]) * scale[c] + bias[c]: per-channel params
    # are read-only inputs of other sizes; only the data input is overwritten
    "PRelu": _UNARY,
    "BatchNormalization": _UNARY,  # inference form (one output)
    # y[i] = f(a[i], b[i], ...) with numpy broadcasting: an input of the output's size is
    # not broadcast, so its element i is the output's element i
    "Add": _ANY,
    "Sub": _ANY,
    "Mul": _ANY,
    "Div": _ANY,
    "Pow": _ANY,
    "Max": _ANY,
    "Min": _ANY,
    "Sum": _ANY,
    "Mean": _ANY,
}


def align(nbytes: int, alignment: int = ALIGNMENT) -> int:
    """``nbytes`` rounded up to a multiple of ``alignment``."""
    return -(-nbytes // alignment) * alignment


@attrs.frozen
class TensorLifetime:
    """One planned tensor: its aligned size and the steps ``[first, last]`` it is live.

    ``root`` names the tensor whose storage it uses (itself unless it is an alias);
    ``reason`` says why an alias shares storage: ``"view"`` or ``"in-place"``.
    """

    name: str
    nbytes: int
    size: int
    first: int
    last: int
    root: str
    reason: str = ""

    @property
    def alias_of(self) -> str | None:
        return None if self.root == self.name else self.root


@attrs.frozen
class Storage:
    """One block of the arena: a root tensor and its aliases, live ``[first, last]``."""

    root: str
    size: int
    first: int
    last: int
    members: tuple[str, ...]

    def overlaps(self, other: Storage) -> bool:
        return self.first <= other.last and other.first <= self.last


@attrs.frozen
class Lifetimes:
    """Every planned tensor (production order) and the storage blocks they form."""

    num_steps: int
    tensors: dict[str, TensorLifetime]
    storages: dict[str, Storage]  # by root name, production order


def _own_lifetimes(graph: Graph, order: Sequence[Node]) -> tuple[dict[str, int], dict[str, int]]:
    """First and last step of every planned tensor, ignoring aliasing."""
    external = set(graph.inputs) | set(graph.constants)
    produced = {name for node in order for name in node.outputs if name} - external
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for step, node in enumerate(order):
        for name in node.inputs:
            if name in first:
                last[name] = step
            elif name in produced:
                raise ValidationError(
                    f"{node} (step {step}) reads {name!r} before the node producing it runs; "
                    "plan memory over a topological order (Graph.toposort)"
                )
        for name in node.outputs:
            if name and name not in external and name not in first:
                first[name] = last[name] = step
    end = len(order) - 1
    for name in graph.outputs:
        if name in first:
            last[name] = max(last[name], end)
    return first, last


class _Groups:
    """Storage groups being formed while walking the execution order."""

    def __init__(self, last: dict[str, int], graph_outputs: set[str]) -> None:
        self.last = last
        self.graph_outputs = graph_outputs
        self.root: dict[str, str] = {}
        self.group_last: dict[str, int] = {}
        self.exported: dict[str, bool] = {}  # group holds a graph output
        self.reason: dict[str, str] = {}

    def new(self, name: str) -> None:
        self.root[name] = name
        self.group_last[name] = self.last[name]
        self.exported[name] = name in self.graph_outputs

    def join(self, name: str, existing: str, reason: str) -> None:
        root = self.root[existing]
        self.root[name] = root
        self.reason[name] = reason
        self.group_last[root] = max(self.group_last[root], self.last[name])
        self.exported[root] = self.exported[root] or name in self.graph_outputs


def _is_view(node: Node, graph: Graph) -> bool:
    """Whether ``node``'s first output is its first input (see VIEW_OPS)."""
    if node.domain != "" or node.op_type not in VIEW_OPS:
        return False
    if node.op_type == "Dropout" and len(node.inputs) > 2 and node.inputs[2]:
        training = graph.constants.get(node.inputs[2])
        return training is not None and not bool(np.asarray(training).any())
    return True


def _in_place_target(
    node: Node, step: int, output: TensorDesc, groups: _Groups, descs: dict[str, TensorDesc]
) -> str | None:
    """The input ``node`` may overwrite with ``output`` at ``step``, or None.

    Legal when the op is in IN_PLACE_OPS, the input has the output's dtype and byte size,
    no tensor sharing its storage is read after this step or is a graph output, and no
    other input of the node reads that storage under another name.
    """
    positions = IN_PLACE_OPS.get(node.op_type) if node.domain == "" else None
    if positions is None or len([o for o in node.outputs if o]) != 1:
        return None
    for k in positions:
        if k >= len(node.inputs) or node.inputs[k] not in groups.root:
            continue
        target = node.inputs[k]
        root = groups.root[target]
        if (
            descs[target].nbytes == output.nbytes
            and descs[target].dtype == output.dtype
            and groups.group_last[root] == step
            and not groups.exported[root]
            # conservative: no other input may read this storage under another name (a
            # device may lay out a differently shaped view differently)
            and all(
                name == target or groups.root.get(name) != root for name in node.inputs if name
            )
        ):
            return target
    return None


def compute_lifetimes(
    graph: Graph, order: Sequence[Node], *, alignment: int = ALIGNMENT, alias: bool = True
) -> Lifetimes:
    """Lifetimes of the planned tensors of ``graph`` run in ``order``.

    With ``alias`` (the default), view outputs and last-use elementwise outputs share
    their input's storage; sizes come from the tensor descriptors, rounded up to
    ``alignment`` bytes.
    """
    first, last = _own_lifetimes(graph, order)
    descs = {name: graph.desc(name) for name in first}
    nbytes = {name: desc.nbytes for name, desc in descs.items()}
    groups = _Groups(last, set(graph.outputs))
    for step, node in enumerate(order):
        for index, name in enumerate(node.outputs):
            if not name or first.get(name) != step or name in groups.root:
                continue
            source = node.inputs[0] if node.inputs else ""
            if (
                alias
                and index == 0
                and _is_view(node, graph)
                and source in groups.root
                and nbytes[source] == nbytes[name]
            ):
                groups.join(name, source, "view")
                continue
            target = _in_place_target(node, step, descs[name], groups, descs) if alias else None
            if target is not None:
                groups.join(name, target, "in-place")
            else:
                groups.new(name)
    tensors: dict[str, TensorLifetime] = {}
    members: dict[str, list[str]] = {}
    for name in first:
        root = groups.root[name]
        size = align(nbytes[name], alignment)
        tensors[name] = TensorLifetime(
            name, nbytes[name], size, first[name], last[name], root, groups.reason.get(name, "")
        )
        members.setdefault(root, []).append(name)
    storages = {
        root: Storage(
            root=root,
            size=max(tensors[m].size for m in names),
            first=tensors[root].first,
            last=groups.group_last[root],
            members=tuple(names),
        )
        for root, names in members.items()
    }
    return Lifetimes(len(order), tensors, storages)
