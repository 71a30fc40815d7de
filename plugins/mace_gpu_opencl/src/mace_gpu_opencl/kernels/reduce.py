"""Softmax / LogSoftmax along C, H or W, and ReduceSum / Mean / Max / Min over any axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from mace_core.ir import Graph, Node
from mace_core.ops.reduce import reduce_axes
from mace_gpu_opencl.kernels.base import I32, OpEnv, activations_ok, const, gpu_spec, view_args
from mace_gpu_opencl.kernels.layout import Relayout
from mace_gpu_opencl.tensor import view4, view_axis


def _softmax_axis(node: Node, graph: Graph) -> int | None:
    """The view axis a Softmax works along (1, 2 or 3), or None when unsupported."""
    shape = graph.desc(node.inputs[0]).shape
    rank = len(shape)
    if rank == 0:
        return None
    axis = int(node.attrs.get("axis", -1 if not node.attrs.get("legacy_2d") else 1)) % rank
    if node.attrs.get("legacy_2d") and int(np.prod(shape[axis + 1:], dtype=np.int64)) != 1:
        return None  # the legacy form flattens several axes into one
    v = view_axis(rank, axis)
    return v if v in (1, 2, 3) else None


def accepts_softmax(node: Node, graph: Graph) -> bool:
    return activations_ok(node, graph) and _softmax_axis(node, graph) is not None


def prepare_softmax(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    axis = _softmax_axis(node, graph)
    n, c, h, w = view4(env.shape(node.inputs[0]))
    cb = -(-c // 4)
    gws = {1: (w, n * h), 2: (cb * w, n), 3: (cb, n * h)}[axis]
    launch = env.launcher("reduce", "softmax")
    out = env.output()
    flags = [I32(axis), I32(node.op_type == "LogSoftmax"), I32(gws[0]), I32(gws[1])]

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch(gws, [*view_args(x), out.mem, I32(out.width), *flags])
        return env.finish([out])

    return run


# -- reductions --------------------------------------------------------------------------
REDUCE_OPS = {"ReduceSum": 0, "ReduceMean": 1, "ReduceMax": 2, "ReduceMin": 3}


def _reduced_view_axes(node: Node, graph: Graph) -> list[int] | None:
    rank = len(graph.desc(node.inputs[0]).shape)
    if len(node.inputs) > 1 and node.inputs[1]:
        value = const(graph, node, 1)
        if value is None:
            return None
        axes = value.reshape(-1).tolist()
    else:
        axes = node.attrs.get("axes")
    try:
        reduced = reduce_axes(rank, list(axes) if axes is not None else None,
                              int(node.attrs.get("noop_with_empty_axes", 0)))
    except Exception:  # noqa: BLE001 - invalid axes are the schema's to report
        return None
    return sorted({view_axis(rank, a) for a in reduced}) if reduced else None


def accepts_reduce(node: Node, graph: Graph) -> bool:
    return activations_ok(node, graph) and _reduced_view_axes(node, graph) is not None


def prepare_reduce(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    reduced = _reduced_view_axes(node, graph) or []
    in_view = view4(env.shape(node.inputs[0]))
    kept = tuple(1 if i in reduced else d for i, d in enumerate(in_view))
    launch = env.launcher("reduce", "reduce")
    tmp = env.output(kept)
    relayout = Relayout(env, env.shape(node.outputs[0]))
    _, oc, oh, ow = kept
    flags = [I32(int(i in reduced)) for i in range(4)] + [I32(REDUCE_OPS[node.op_type])]

    def run(inputs):
        x = env.input(inputs[0], 0)
        width, rows = tmp.grid
        launch(tmp.grid, [*view_args(x), tmp.mem, I32(tmp.width), I32(oc), I32(oh), I32(ow),
                          I32(width), I32(rows), *flags])
        return env.finish([relayout(tmp)])

    return run


KERNELS = [
    *(gpu_spec(op, prepare_softmax, accepts_softmax) for op in ("Softmax", "LogSoftmax")),
    *(gpu_spec(op, prepare_reduce, accepts_reduce) for op in REDUCE_OPS),
]
