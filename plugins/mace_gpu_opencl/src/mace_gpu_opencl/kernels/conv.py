"""Conv (1-D and 2-D) on the GPU: constant filters packed once per session.

Kernel choice (``cl/conv2d.cl``): depthwise when ``group == C == M``; for ``group == 1``
``conv2d_1x1`` (1x1, no padding), ``conv2d_3x3`` or ``conv2d``; ``conv2d_grouped``
otherwise. A 1-D conv runs as a 2-D conv on the ``(N, C, L, 1)`` view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mace_core.ir import Graph, Node
from mace_core.ops.conv import window_attrs, window_geometry
from mace_core.specs import KernelSpec
from mace_gpu_opencl.kernels.base import (
    I32,
    OpEnv,
    activation_args,
    activations_ok,
    const,
    fused_ok,
    is_const,
    tensor_args,
)
from mace_gpu_opencl.tensor import view4


def accepts(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph) or not is_const(graph, node, 1) or not fused_ok(node):
        return False
    if len(node.inputs) > 2 and node.inputs[2] and not is_const(graph, node, 2):
        return False
    return len(graph.desc(node.inputs[0]).shape) in (3, 4)


def geometry(x_shape: Sequence[int], w_shape: Sequence[int], attrs: dict[str, Any]
             ) -> tuple[list[int], ...]:
    """Kernel, strides, dilations, begin and end pads as 2-D lists (1-D convs get a
    width of 1)."""
    nsp = len(x_shape) - 2
    kernel = [int(k) for k in w_shape[2:]]
    s, d, p = window_attrs(nsp, kernel, attrs["strides"], attrs["dilations"], attrs["pads"],
                           attrs["auto_pad"])
    begin, end, _ = window_geometry(x_shape[2:], kernel, s, d, p, attrs["auto_pad"])
    if nsp == 1:
        return kernel + [1], s + [1], d + [1], begin + [0], end + [0]
    return kernel, s, d, begin, end


def pack_dense(w: np.ndarray) -> np.ndarray:
    """(M, C, KH, KW) -> [OCB][KH][KW][ICB*4 ic][4 oc], zero padded."""
    m, c, kh, kw = w.shape
    ocb, icb = -(-m // 4), -(-c // 4)
    full = np.zeros((ocb * 4, icb * 4, kh, kw), np.float32)
    full[:m, :c] = w
    return full.reshape(ocb, 4, icb * 4, kh, kw).transpose(0, 3, 4, 2, 1)


def pack_depthwise(w: np.ndarray) -> np.ndarray:
    """(C, 1, KH, KW) -> [CB][KH][KW][4], zero padded."""
    c, _, kh, kw = w.shape
    cb = -(-c // 4)
    full = np.zeros((cb * 4, kh, kw), np.float32)
    full[:c] = w[:, 0]
    return full.reshape(cb, 4, kh, kw).transpose(0, 2, 3, 1)


def pack_bias(b: np.ndarray | None, channels: int) -> np.ndarray:
    full = np.zeros(-(-channels // 4) * 4, np.float32)
    if b is not None:
        full[:channels] = np.asarray(b, np.float32).reshape(-1)
    return full


def choose(x_shape: Sequence[int], w: np.ndarray, group: int, pads: Sequence[int]) -> str:
    """The kernel of ``cl/conv2d.cl`` for this convolution."""
    m, c = w.shape[0], x_shape[1]
    kh, kw = w.shape[2], w.shape[3]
    if group > 1 and group == c == m:
        return "depthwise"
    if group > 1:
        return "conv2d_grouped"
    if kh == kw == 1 and not any(pads):
        return "conv2d_1x1"
    return "conv2d_3x3" if kh == kw == 3 else "conv2d"


def prepare(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    x_shape = env.shape(node.inputs[0])
    w = np.asarray(const(graph, node, 1), np.float32)
    kernel, strides, dilations, begin, end = geometry(x_shape, w.shape, attrs)
    w4 = w.reshape(*w.shape[:2], kernel[0], kernel[1])
    group = int(attrs["group"])
    _, c, _, _ = view4(x_shape)
    y_shape = env.shape(node.outputs[0])
    n, m, oh, ow = view4(y_shape)
    name = choose(view4(x_shape), w4, group, begin + end)
    packed = {"depthwise": pack_depthwise, "conv2d_grouped": lambda a: a}.get(name, pack_dense)
    filters = env.weights(packed(w4))
    bias = env.buffer(pack_bias(const(graph, node, 2), m))
    launch = env.launcher("conv2d", name)
    out = env.output()
    act = activation_args(attrs["activation"], attrs["activation_params"])
    cols = ow if name == "conv2d_grouped" else -(-ow // 4)
    gws = (-(-m // 4), cols, n * oh)
    _, _, ih, iw = view4(x_shape)
    geo = [I32(v) for v in (*kernel, *strides, *begin, *dilations, group)]

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch(gws, [*tensor_args(x), I32(ih), I32(iw), I32(c), filters, bias,
                     *tensor_args(out), I32(oh), I32(ow), I32(m), I32(n * oh),
                     *geo, *act])
        return env.finish([out])

    return run


KERNELS = [KernelSpec("Conv", "gpu", prepare=prepare, when=accepts, priority=10,
                      name="gpu:Conv")]
