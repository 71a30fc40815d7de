"""Gemm and MatMul with a constant right operand: a 1x1 convolution of the (M, K, 1, 1)
view of A (``ConvLaunch``: the GEMM kernels of ``cl/conv2d.cl``, split over K, or
``conv2d_1x1``), with the bias and fused activation.

MatMul of a batched A (``[..., M, K]``) is relaid to ``[B*M, K]`` and back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mace_core.ir import Graph, Node
from mace_gpu_opencl.kernels.base import (
    OpEnv,
    activation_args,
    activations_ok,
    const,
    fused_ok,
    gpu_spec,
    is_const,
)
from mace_gpu_opencl.kernels.conv import ConvLaunch, ConvShape
from mace_gpu_opencl.kernels.layout import Relayout


def _bias(node: Node, graph: Graph, n: int) -> np.ndarray | None | bool:
    """Gemm's C as a length-n vector (times beta), None without C, False if not a vector."""
    if len(node.inputs) < 3 or not node.inputs[2]:
        return None
    c = const(graph, node, 2)
    if c is None or c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
        return False
    beta = float(node.attrs.get("beta", 1.0))
    return np.broadcast_to(c.reshape(-1).astype(np.float64), (n,)) * beta


def accepts_gemm(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph) or not is_const(graph, node, 1) or not fused_ok(node):
        return False
    if node.attrs.get("transA", 0):
        return False
    n = graph.desc(node.outputs[0]).shape[-1]
    return _bias(node, graph, n) is not False


def accepts_matmul(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph) or not is_const(graph, node, 1) or not fused_ok(node):
        return False
    return graph.constants[node.inputs[1]].ndim == 2 and len(graph.desc(node.inputs[0]).shape) >= 2


def prepare(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    b = np.asarray(const(graph, node, 1), np.float64)
    if attrs.get("transB", 0):
        b = b.T
    b = b * float(attrs.get("alpha", 1.0))
    k, n = b.shape
    a_shape = graph.desc(node.inputs[0]).shape
    y_shape = graph.desc(node.outputs[0]).shape
    m = int(np.prod(a_shape[:-1], dtype=np.int64))
    env = OpEnv(node, graph, options, extra_shapes=[(m, k), (m, n)])
    bias = _bias(node, graph, n) if node.op_type == "Gemm" else None
    flat_in = Relayout(env, (m, k))
    flat_out = env.output((m, n))
    unflatten = Relayout(env, y_shape)
    act = activation_args(attrs.get("activation", ""), attrs.get("activation_params", ()))
    shape = ConvShape((m, k, 1, 1), (m, n, 1, 1), (n, k, 1, 1), 1, (0, 0, 0, 0))
    conv = ConvLaunch(env, shape, b.T.astype(np.float32)[:, :, None, None],
                      None if bias is None else bias.astype(np.float32),
                      ([1, 1], [1, 1], [0, 0], [1, 1]), act, flat_out)

    def run(inputs):
        conv(flat_in(env.input(inputs[0], 0)))
        return env.finish([unflatten(flat_out)])

    return run


KERNELS = [gpu_spec("Gemm", prepare, accepts_gemm), gpu_spec("MatMul", prepare, accepts_matmul)]
