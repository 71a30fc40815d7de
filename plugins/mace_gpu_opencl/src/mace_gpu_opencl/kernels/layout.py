"""Data movement on the GPU: reshapes, Concat, Pad, DepthToSpace / SpaceToDepth.

A reshape whose 4-D view stays the same costs nothing (a new handle on the same memory);
otherwise ``relayout`` gathers every lane (see ``cl/layout.cl``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mace_core.ir import Graph, Node
from mace_core.ops.pad import _pad_widths
from mace_gpu_opencl.kernels.base import (
    F32,
    I32,
    OpEnv,
    activations_ok,
    const,
    float_activation,
    gpu_spec,
    tensor_args,
    view_args,
)
from mace_gpu_opencl.tensor import GpuTensor, view4


class Relayout:
    """Gives a GpuTensor another logical shape of the same size, on the device."""

    def __init__(self, env: OpEnv, shape: Sequence[int]) -> None:
        self.env = env
        self.shape = tuple(int(d) for d in shape)
        self._launch = None
        self._out: GpuTensor | None = None

    def __call__(self, t: GpuTensor) -> GpuTensor:
        if view4(self.shape) == t.view:
            return t.reshaped(self.shape)
        if self._launch is None:
            self._launch = self.env.launcher("layout", "relayout")
            self._out = self.env.output(self.shape)
        out = self._out
        assert out is not None
        self._launch(out.grid, [*view_args(t), *view_args(out)])
        return out


# -- reshape-like ------------------------------------------------------------------------
RESHAPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")


def accepts_reshape(node: Node, graph: Graph) -> bool:
    if node.op_type == "Dropout" and len(node.inputs) > 2 and node.inputs[2]:
        training = const(graph, node, 2)  # training_mode: only a constant False is inference
        if training is None or bool(np.asarray(training).reshape(-1)[0]):
            return False
    return activations_ok(node, graph)


def prepare_reshape(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    relayout = Relayout(env, env.shape(node.outputs[0]))

    def run(inputs):
        return env.finish([relayout(env.input(inputs[0], 0))])

    return run


# -- Concat ------------------------------------------------------------------------------
def accepts_concat(node: Node, graph: Graph) -> bool:
    inputs = [i for i in node.inputs if i]
    if not inputs or len(inputs) != len(node.inputs) or not activations_ok(node, graph, ()):
        return False
    if not all(float_activation(graph, i) for i in inputs):
        return False
    rank = len(graph.desc(inputs[0]).shape)
    return rank >= 1


def _concat_axis(node: Node, graph: Graph, axis: int) -> int:
    """The view axis of the concat (0=N, 1=C, 2=H, 3=W)."""
    rank = len(graph.desc(node.inputs[0]).shape)
    axis %= rank
    return 1 if rank == 1 else axis


def prepare_concat(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    axis = _concat_axis(node, graph, int(attrs["axis"]))
    out_shape = env.shape(node.outputs[0])
    views = [view4(env.shape(name)) for name in node.inputs]
    aligned = axis != 1 or all(v[1] % 4 == 0 for v in views[:-1])
    if aligned:
        return _concat_regions(env, axis, out_shape, views)
    return _concat_pairs(env, out_shape, views)


def _concat_regions(env: OpEnv, axis: int, out_shape: tuple[int, ...], views: list):
    launch = env.launcher("layout", "copy_region")
    out = env.output(out_shape)
    offsets, at = [], 0
    for v in views:
        offset = [0, 0, 0, 0]
        offset[axis] = at // 4 if axis == 1 else at
        offsets.append([I32(o) for o in offset])
        at += v[axis]

    def run(inputs):
        for i, value in enumerate(inputs):
            x = env.input(value, i)
            launch(x.grid, [*view_args(x), *view_args(out), *offsets[i]])
        return env.finish([out])

    return run


def _concat_pairs(env: OpEnv, out_shape: tuple[int, ...], views: list):
    """Channel concat at unaligned offsets: fold left, two inputs at a time."""
    launch = env.launcher("layout", "concat_lanes")
    n, _, h, w = view4(out_shape)
    steps, channels = [], views[0][1]
    for i, v in enumerate(views[1:], start=1):
        channels += v[1]
        last = i == len(views) - 1
        shape = out_shape if last else (n, channels, h, w)
        steps.append((channels - v[1], env.output(shape)))

    def run(inputs):
        acc = env.input(inputs[0], 0)
        for i, (split, out) in enumerate(steps, start=1):
            b = env.input(inputs[i], i)
            launch(out.grid, [*tensor_args(acc), *tensor_args(b), I32(split),
                              *view_args(out)])
            acc = out
        return env.finish([acc])

    return run


# -- DepthToSpace / SpaceToDepth -----------------------------------------------------------
def accepts_depth_space(node: Node, graph: Graph) -> bool:
    return activations_ok(node, graph) and len(graph.desc(node.inputs[0]).shape) == 4


def prepare_depth_space(node: Node, attrs: dict[str, Any], graph: Graph,
                        options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    launch = env.launcher("layout", "depth_space")
    out = env.output()
    flags = [I32(attrs["blocksize"]), I32(node.op_type == "DepthToSpace"),
             I32(attrs["mode"] == "CRD")]

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch(out.grid, [*view_args(x), *view_args(out), *flags])
        return env.finish([out])

    return run


# -- Pad -------------------------------------------------------------------------------
PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}


def _pads(node: Node, graph: Graph, attrs: dict[str, Any]) -> list[tuple[int, int]] | None:
    """(begin, end) per logical axis, or None when the pads are not constant."""
    rank = len(graph.desc(node.inputs[0]).shape)
    given = const(graph, node, 1)
    if len(node.inputs) > 1 and node.inputs[1] and given is None:
        return None
    raw = given if given is not None else attrs["pads"] if attrs["pads"] is not None \
        else attrs["paddings"]
    if raw is None:
        return None
    axes_value = const(graph, node, 3)
    if len(node.inputs) > 3 and node.inputs[3] and axes_value is None:
        return None
    axes = None if axes_value is None else axes_value.reshape(-1).tolist()
    return _pad_widths(rank, np.asarray(raw).reshape(-1).tolist(), axes)


def accepts_pad(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph) or node.attrs.get("mode", "constant") not in PAD_MODES:
        return False
    if len(node.inputs) > 2 and node.inputs[2] and const(graph, node, 2) is None:
        return False
    try:
        return _pads(node, graph, {"pads": None, "paddings": None, **node.attrs}) is not None
    except ValueError:
        return False


def _view_widths(rank: int, widths: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Per-axis pads moved onto the 4-D view axes."""
    view = [(0, 0)] * 4
    for axis, pads in enumerate(widths):
        view[1 if rank == 1 else axis] = pads
    return view


def prepare_pad(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    from pyopencl import cltypes

    env = OpEnv(node, graph, options)
    x_view = view4(env.shape(node.inputs[0]))
    widths = _view_widths(len(env.shape(node.inputs[0])), _pads(node, graph, attrs) or [])
    begin = [max(b, 0) for b, _ in widths]
    lo = [max(-b, 0) for b, _ in widths]
    size = [d - max(-b, 0) - max(-e, 0) for d, (b, e) in zip(x_view, widths, strict=True)]
    value = const(graph, node, 2)
    fill = float(attrs["value"]) if value is None or value.size == 0 else float(
        value.reshape(-1)[0])
    extra = [cltypes.make_int4(*begin), cltypes.make_int4(*lo), cltypes.make_int4(*size),
             I32(PAD_MODES[attrs["mode"]]), F32(fill)]
    launch = env.launcher("layout", "pad")
    out = env.output()

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch(out.grid, [*view_args(x), *view_args(out), *extra])
        return env.finish([out])

    return run


KERNELS = [
    *(gpu_spec(op, prepare_reshape, accepts_reshape) for op in RESHAPES),
    gpu_spec("Concat", prepare_concat, accepts_concat),
    gpu_spec("DepthToSpace", prepare_depth_space, accepts_depth_space),
    gpu_spec("SpaceToDepth", prepare_depth_space, accepts_depth_space),
    gpu_spec("Pad", prepare_pad, accepts_pad),
]
