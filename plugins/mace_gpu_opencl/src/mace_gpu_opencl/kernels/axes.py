"""Slice, Split and Transpose on the GPU: one gather over the 4-D view axes.

Every output lane reads the input lane at ``start + step * (its coordinate on the source
axis)`` per view axis (``gather_axes`` in ``cl/layout.cl``): a Slice is starts and steps
with the axes in place, a Split is one such slice per output along its axis, a Transpose
is the permutation of the axes. Logical axes of rank <= 4 tensors are their view axes
(rank 1: the channel axis), see ``tensor.view4``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mace_core.ir import Graph, Node
from mace_core.ops.slicing import slice_plan, split_sizes
from mace_gpu_opencl.kernels.base import OpEnv, activations_ok, const, gpu_spec, view_args
from mace_gpu_opencl.tensor import view_axis

IDENTITY = (0, 1, 2, 3)


class Gather:
    """One ``gather_axes`` launch into output ``index`` of the node."""

    def __init__(self, env: OpEnv, index: int, start: Sequence[int], step: Sequence[int],
                 src: Sequence[int] = IDENTITY) -> None:
        from pyopencl import cltypes

        self.launch = env.launcher("layout", "gather_axes")
        self.out = env.output(index=index)
        self.extra = [cltypes.make_int4(*start), cltypes.make_int4(*step),
                      cltypes.make_int4(*src)]

    def __call__(self, x: Any) -> Any:
        self.launch(self.out.grid, [*view_args(x), *view_args(self.out), *self.extra])
        return self.out


# -- Slice -------------------------------------------------------------------------------
def _slice_args(node: Node, graph: Graph) -> list[Any] | None:
    """starts, ends, axes, steps as constants (None when one is computed at run time)."""
    if len(node.inputs) < 2:  # Slice-1: attributes, no steps
        return [node.attrs.get("starts"), node.attrs.get("ends"), node.attrs.get("axes"),
                None]
    args = []
    for i in range(1, 5):
        if len(node.inputs) > i and node.inputs[i]:
            value = const(graph, node, i)
            if value is None:
                return None
            args.append(value)
        else:
            args.append(None)
    return args


def accepts_slice(node: Node, graph: Graph) -> bool:
    return activations_ok(node, graph) and _slice_args(node, graph) is not None


def prepare_slice(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    shape = env.shape(node.inputs[0])
    index, _ = slice_plan(shape, *(_slice_args(node, graph) or []))
    start, step = [0, 0, 0, 0], [1, 1, 1, 1]
    for axis, part in enumerate(index):
        v = view_axis(len(shape), axis)
        start[v] = part.start or 0
        step[v] = part.step or 1
    gather = Gather(env, 0, start, step)

    def run(inputs):
        return env.finish([gather(env.input(inputs[0], 0))])

    return run


# -- Split -------------------------------------------------------------------------------
def _split_sizes(node: Node, graph: Graph) -> list[int] | None:
    shape = graph.desc(node.inputs[0]).shape
    axis = int(node.attrs.get("axis", 0)) % len(shape)
    given = node.attrs.get("split")
    if len(node.inputs) > 1 and node.inputs[1]:
        given = const(graph, node, 1)
        if given is None:
            return None
    return split_sizes(shape[axis], given, node.attrs.get("num_outputs") or len(node.outputs))


def accepts_split(node: Node, graph: Graph) -> bool:
    outputs = range(len(node.outputs))
    if not node.outputs or not activations_ok(node, graph, (0,), outputs):
        return False
    try:
        return _split_sizes(node, graph) is not None
    except ValueError:
        return False


def prepare_split(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    rank = len(env.shape(node.inputs[0]))
    axis = view_axis(rank, int(attrs["axis"]))
    gathers, at = [], 0
    for index, size in enumerate(_split_sizes(node, graph) or []):
        start = [0, 0, 0, 0]
        start[axis] = at
        gathers.append(Gather(env, index, start, (1, 1, 1, 1)))
        at += size

    def run(inputs):
        x = env.input(inputs[0], 0)
        return env.finish([gather(x) for gather in gathers])

    return run


# -- Transpose ---------------------------------------------------------------------------
def accepts_transpose(node: Node, graph: Graph) -> bool:
    return activations_ok(node, graph)


def prepare_transpose(node: Node, attrs: dict[str, Any], graph: Graph,
                      options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    rank = len(env.shape(node.inputs[0]))
    perm = attrs.get("perm")
    perm = list(range(rank))[::-1] if perm is None else [int(p) % rank for p in perm]
    src = list(IDENTITY)
    for out_axis, in_axis in enumerate(perm):  # output axis k walks input axis perm[k]
        src[view_axis(rank, in_axis)] = view_axis(rank, out_axis)
    gather = Gather(env, 0, (0, 0, 0, 0), (1, 1, 1, 1), src)

    def run(inputs):
        return env.finish([gather(env.input(inputs[0], 0))])

    return run


KERNELS = [
    gpu_spec("Slice", prepare_slice, accepts_slice),
    gpu_spec("Split", prepare_split, accepts_split),
    gpu_spec("Transpose", prepare_transpose, accepts_transpose),
]
