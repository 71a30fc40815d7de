"""ConvTranspose on the GPU: ``conv_transpose`` of ``cl/conv2d.cl``, one output texel (four
output channels) per work item gathering the input pixels its taps scatter onto it, with
bias and fused activation. 1-D and 2-D; groups of whole channel blocks (or one group)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mace_core.ir import Graph, Node
from mace_core.ops.conv import window_attrs
from mace_core.ops.conv_transpose import transpose_geometry
from mace_gpu_opencl.kernels.base import (
    I32,
    OpEnv,
    activation_args,
    activations_ok,
    const,
    fused_ok,
    gpu_spec,
    is_const,
    tensor_args,
)
from mace_gpu_opencl.kernels.conv import pack_bias, pack_dense


def accepts(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph) or not is_const(graph, node, 1) or not fused_ok(node):
        return False
    if len(node.inputs) > 2 and node.inputs[2] and not is_const(graph, node, 2):
        return False
    x = graph.desc(node.inputs[0]).shape
    w = graph.constants[node.inputs[1]].shape
    group = int(node.attrs.get("group", 1))
    whole_blocks = group == 1 or (x[1] // group % 4 == 0 and w[1] % 4 == 0)
    return len(x) in (3, 4) and whole_blocks


def pack(w: np.ndarray, group: int) -> np.ndarray:
    """W (C, M / group, k...) -> conv2d's dense packing of (M, C / group, KH, KW)."""
    c, mg = w.shape[:2]
    cg = c // group
    per_group = w.reshape(group, cg, mg, *w.shape[2:]).swapaxes(1, 2)  # (g, mg, cg, k...)
    dense = per_group.reshape(group * mg, cg, *w.shape[2:])
    if dense.ndim == 3:  # 1-D: a width of 1
        dense = dense[..., None]
    return pack_dense(np.ascontiguousarray(dense, np.float32))


def prepare(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    x_shape = env.shape(node.inputs[0])
    w = np.asarray(const(graph, node, 1), np.float32)
    nsp = len(x_shape) - 2
    kernel = [int(k) for k in w.shape[2:]]
    s, d, p = window_attrs(nsp, kernel, attrs["strides"], attrs["dilations"], attrs["pads"],
                           attrs["auto_pad"])
    begin, _, _ = transpose_geometry(x_shape[2:], kernel, s, d, p, attrs["output_padding"],
                                     attrs["output_shape"], attrs["auto_pad"])
    if nsp == 1:
        kernel, s, d, begin = kernel + [1], s + [1], d + [1], begin + [0]
    group = int(attrs["group"])
    m = w.shape[1] * group
    out = env.output()
    n, _, oh, ow = out.view
    filters = env.weights(pack(w, group))
    bias = env.buffer(pack_bias(const(graph, node, 2), m))
    launch = env.launcher("conv2d", "conv_transpose")
    ih, iw, c = x_shape[2], x_shape[3] if nsp == 2 else 1, x_shape[1]
    act = activation_args(attrs["activation"], attrs["activation_params"])
    tail = [filters, bias, *tensor_args(out), I32(oh), I32(ow), I32(m), I32(n * oh),
            *(I32(v) for v in (*kernel, *s, *begin, *d, group)), *act]
    gws = (-(-m // 4), ow, n * oh)

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch(gws, [*tensor_args(x), I32(ih), I32(iw), I32(c), *tail])
        return env.finish([out])

    return run


KERNELS = [gpu_spec("ConvTranspose", prepare, accepts)]
