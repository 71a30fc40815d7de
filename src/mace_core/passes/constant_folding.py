"""Constant folding: compute at conversion time what does not depend on the model inputs.

A node whose inputs are all constants is evaluated with its reference kernel and replaced
by constants holding its outputs (under the same tensor names, so readers are untouched).
``Shape`` and ``Size`` fold from the static shape of their input even when its value is
computed at run time.

Two entry points:

* :func:`fold_constants` - the ``constant_folding`` pass, run on a shape-inferred graph.
* :func:`fold_and_infer` - shape inference and folding in one walk over the nodes. Frontends
  hand over graphs whose shape subgraphs (``Shape -> Gather -> Concat -> Reshape``) must
  fold before the shapes of later nodes can be inferred; the pipeline calls this instead of
  plain ``infer_shapes``. It also resolves control flow: an ``If`` whose condition folds is
  replaced by the nodes of the chosen branch, which the walk then continues into (so nested
  ``If`` nodes are inlined as their conditions fold); a condition that depends on run-time
  inputs is an error naming them.

Large outputs made from small inputs (``ConstantOfShape``, ``Expand``, ``Tile``...) are not
folded when they hold more than ``max_elements`` elements (and more than their inputs), so
the model file does not grow; ``fold_and_infer`` still folds one when a later node's shape
inference needs its value. Nodes producing graph outputs and random generators are never
folded.
"""

from __future__ import annotations

import numpy as np

from mace_core.errors import ValidationError
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.ops.control_flow import condition_flag
from mace_core.passes.graph_edit import set_constant
from mace_core.passes.inline_if import condition_error, inline_if, is_if
from mace_core.registry import Registry
from mace_core.shape_inference import infer_node, keep_annotations
from mace_core.specs import PassContext

DEFAULT_MAX_ELEMENTS = 1 << 20
OPTION_MAX_ELEMENTS = "fold_max_elements"  # PassContext.options key

NEVER_FOLD = frozenset(
    {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
     "Bernoulli"}
)
FROM_STATIC_SHAPE = frozenset({"Shape", "Size"})  # need only the input's descriptor


class _Folder:
    """Folding state over one walk of a graph.

    ``deferred`` maps each output of a node left unfolded only because of its size (or
    because it reads such an output) to that node, so it can still be folded on demand.
    """

    def __init__(self, graph: Graph, registry: Registry, max_elements: int) -> None:
        self.graph = graph
        self.registry = registry
        self.max_elements = max_elements
        self.deferred: dict[str, Node] = {}
        self.folded: set[int] = set()  # ids of folded nodes

    # -- deciding ------------------------------------------------------------------
    def _kind(self, node: Node) -> str:
        """``"fold"``, ``"defer"`` (computable from constants, but not now) or ``"no"``."""
        graph = self.graph
        if node.op_type in NEVER_FOLD and not node.domain:
            return "no"
        if any(o in graph.outputs for o in node.outputs if o):
            return "no"
        if not self.registry.kernels_for(node, "reference"):
            return "no"
        if (node.op_type in FROM_STATIC_SHAPE and not node.domain and node.inputs
                and node.inputs[0] in graph.tensors):
            return "fold"
        inputs = [i for i in node.inputs if i]
        if any(i not in graph.constants and i not in self.deferred for i in inputs):
            return "no"
        return "defer" if any(i in self.deferred for i in inputs) else "fold"

    def _too_big(self, node: Node, descs: list[TensorDesc]) -> bool:
        produced = sum(d.size for d in descs)
        constants = self.graph.constants
        consumed = sum(constants[i].size for i in node.inputs if i in constants)
        return produced > self.max_elements and produced > consumed

    def try_fold(self, node: Node, descs: list[TensorDesc]) -> bool:
        """Fold ``node`` (outputs described by ``descs``) if it can; True when folded."""
        kind = self._kind(node)
        if kind == "no":
            return False
        if kind == "defer" or self._too_big(node, descs):
            for name in node.outputs:
                if name:
                    self.deferred[name] = node
            return False
        self._store(node, descs)
        return True

    def materialize(self, name: str) -> None:
        """Fold the deferred producer of ``name`` (and the deferred nodes it reads)."""
        node = self.deferred.get(name)
        if node is None:
            return
        for output in node.outputs:
            self.deferred.pop(output, None)
        for i in node.inputs:
            if i in self.deferred:
                self.materialize(i)
        descs = [self.graph.tensors[o] for o in node.outputs if o]
        self._store(node, descs)

    # -- evaluating ----------------------------------------------------------------
    def _argument(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        if name in self.graph.constants:
            return self.graph.constants[name]
        # Shape / Size of a run-time tensor: a data-less stand-in of the right shape.
        desc = self.graph.tensors[name]
        return np.broadcast_to(np.zeros((), desc.dtype.numpy), desc.shape)

    def _store(self, node: Node, descs: list[TensorDesc]) -> None:
        schema = self.registry.schema(node)
        attrs = schema.resolve_attrs(node)
        kernel = self.registry.kernels_for(node, "reference")[0]
        args = [self._argument(name) for name in node.inputs]
        try:
            if kernel.fn is not None:
                result = kernel.fn(*args, **attrs)
            else:
                result = kernel.prepare(node, attrs, self.graph, {})(args)  # type: ignore[misc]
        except Exception as exc:
            raise ValidationError(
                f"{node}: constant folding failed: the reference kernel raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        values = result if isinstance(result, (tuple, list)) else (result,)
        by_name = {d.name: d for d in descs}
        for index, name in enumerate(node.outputs):
            if not name:
                continue
            if index >= len(values):
                raise ValidationError(
                    f"{node}: the reference kernel returned {len(values)} outputs, "
                    f"{name!r} is output {index}"
                )
            value = np.asarray(values[index])
            desc = by_name[name]
            if tuple(value.shape) != desc.shape:
                raise ValidationError(
                    f"{node}: the reference kernel produced shape {list(value.shape)} for "
                    f"{name!r} but shape inference says {list(desc.shape)}"
                )
            set_constant(self.graph, name, value.astype(desc.dtype.numpy, copy=False))
        self.folded.add(id(node))

    def inline(self, node: Node) -> list[Node]:
        """The nodes of the branch an If's (constant) condition selects."""
        cond = node.inputs[0]
        self.materialize(cond)
        if cond not in self.graph.constants:
            raise condition_error(self.graph, node)
        return inline_if(self.graph, node, condition_flag(self.graph.constants[cond], str(node)))

    def infer(self, node: Node) -> list[TensorDesc]:
        """Infer ``node``'s outputs; when that needs a deferred value, fold it and retry."""
        try:
            return infer_node(self.graph, node, self.registry)
        except ValidationError:
            pending = [i for i in node.inputs if i in self.deferred]
            if not pending:
                raise
        for name in pending:
            self.materialize(name)
        return infer_node(self.graph, node, self.registry)


def fold_and_infer(graph: Graph, registry: Registry, *,
                   max_elements: int = DEFAULT_MAX_ELEMENTS) -> int:
    """Infer every node's output descriptors in execution order, folding as it goes.

    Fills ``graph.tensors`` like ``infer_shapes`` and replaces foldable nodes by constants,
    so shape inference of later nodes sees the folded values. Returns how many nodes were
    folded.
    """
    for name in graph.inputs:
        graph.desc(name)  # inputs must be described by the frontend
    folder = _Folder(graph, registry, max_elements)
    index = 0
    while index < len(graph.nodes):
        node = graph.nodes[index]
        if is_if(node):  # replaced by its chosen branch, whose nodes come next
            graph.nodes[index:index + 1] = folder.inline(node)
            continue
        descs = folder.infer(node)
        for desc in descs:
            graph.tensors[desc.name] = keep_annotations(graph.tensors.get(desc.name), desc)
        folder.try_fold(node, descs)
        index += 1
    graph.nodes = [n for n in graph.nodes if id(n) not in folder.folded]
    return len(folder.folded)


def fold_constants(graph: Graph, ctx: PassContext) -> bool:
    """The ``constant_folding`` pass: fold until nothing changes; True when a node folded.

    ``ctx.options["fold_max_elements"]`` overrides the size limit for grown outputs.
    """
    max_elements = int(ctx.options.get(OPTION_MAX_ELEMENTS, DEFAULT_MAX_ELEMENTS))
    changed = False
    while True:
        folder = _Folder(graph, ctx.registry, max_elements)
        for node in graph.nodes:
            folder.try_fold(node, infer_node(graph, node, ctx.registry))
        if not folder.folded:
            return changed
        graph.nodes = [n for n in graph.nodes if id(n) not in folder.folded]
        changed = True
