"""MaxPool / AveragePool (2-D and 1-D, one output) and GlobalMax/GlobalAveragePool."""

from __future__ import annotations

from typing import Any

from mace_core.ir import Graph, Node
from mace_core.ops.conv import window_attrs, window_geometry
from mace_gpu_opencl.kernels.base import I32, OpEnv, activations_ok, gpu_spec, tensor_args
from mace_gpu_opencl.tensor import view4


def accepts_window(node: Node, graph: Graph) -> bool:
    return activations_ok(node, graph) and len(graph.desc(node.inputs[0]).shape) in (3, 4)


def accepts_global(node: Node, graph: Graph) -> bool:
    return activations_ok(node, graph) and len(graph.desc(node.inputs[0]).shape) in (3, 4)


def prepare_window(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    x_shape = env.shape(node.inputs[0])
    nsp = len(x_shape) - 2
    kernel = [int(k) for k in attrs["kernel_shape"]]
    s, d, p = window_attrs(nsp, kernel, attrs["strides"], attrs.get("dilations"), attrs["pads"],
                           attrs["auto_pad"])
    begin, end, _ = window_geometry(x_shape[2:], kernel, s, d, p, attrs["auto_pad"],
                                    bool(attrs["ceil_mode"]))
    if nsp == 1:
        kernel, s, d, begin, end = kernel + [1], s + [1], d + [1], begin + [0], end + [0]
    _, _, ih, iw = view4(x_shape)
    n, c, oh, ow = view4(env.shape(node.outputs[0]))
    is_avg = node.op_type == "AveragePool"
    count_pad = int(is_avg and attrs.get("count_include_pad", 0))
    geo = [I32(v) for v in (*kernel, *s, *begin, *d, *end, is_avg, count_pad)]
    launch = env.launcher("pooling", "pool2d")
    out = env.output()
    gws = (-(-c // 4), ow, n * oh)

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch(gws, [*tensor_args(x), I32(ih), I32(iw), *tensor_args(out), I32(oh), I32(ow),
                     I32(c), I32(n * oh), *geo])
        return env.finish([out])

    return run


def prepare_global(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    n, c, ih, iw = view4(env.shape(node.inputs[0]))
    is_avg = I32(node.op_type == "GlobalAveragePool")
    launch = env.launcher("pooling", "global_pool")
    out = env.output()

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch((-(-c // 4), n), [*tensor_args(x), I32(ih), I32(iw), *tensor_args(out), I32(c),
                                 I32(n), is_avg])
        return env.finish([out])

    return run


KERNELS = [
    *(gpu_spec(op, prepare_window, accepts_window) for op in ("MaxPool", "AveragePool")),
    *(gpu_spec(op, prepare_global, accepts_global)
      for op in ("GlobalMaxPool", "GlobalAveragePool")),
]
