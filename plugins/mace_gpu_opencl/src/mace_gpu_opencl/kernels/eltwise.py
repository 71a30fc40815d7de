"""Elementwise ops: broadcast binaries with fused activation, activations, BatchNorm.

A binary's inputs are seen with their ranks padded to the output's (numpy broadcasting);
constant operands are uploaded in that shape once, a lower-rank activation operand is
relaid on the device when its view differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mace_core.ir import Graph, Node
from mace_gpu_opencl.kernels.base import (
    I32,
    OpEnv,
    activation_args,
    activations_ok,
    const,
    float_activation,
    fused_ok,
    gpu_spec,
    tensor_args,
)
from mace_gpu_opencl.kernels.layout import Relayout
from mace_gpu_opencl.tensor import GpuTensor

BINARY = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Max": 4, "Min": 5, "PRelu": 6, "Pow": 7,
          "Sum": 0}
FUSED = ("Add", "Sub", "Mul", "Div")


def _operand_ok(node: Node, graph: Graph, index: int) -> bool:
    name = node.inputs[index]
    if name in graph.constants:
        value = graph.constants[name]
        return value.dtype == np.float32 and value.ndim <= 4
    return float_activation(graph, name)


def accepts_binary(node: Node, graph: Graph) -> bool:
    if len(node.inputs) != 2 or not all(node.inputs) or not fused_ok(node):
        return False
    if not activations_ok(node, graph, inputs=()):
        return False
    if all(name in graph.constants for name in node.inputs):
        return False  # constant folding's job
    return _operand_ok(node, graph, 0) and _operand_ok(node, graph, 1)


def prepare_binary(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    rank = len(graph.desc(node.outputs[0]).shape)
    padded_shapes = [(1,) * (rank - len(graph.desc(name).shape)) + tuple(graph.desc(name).shape)
                     for name in node.inputs]
    env = OpEnv(node, graph, options, extra_shapes=padded_shapes)
    operands = []
    for i, padded in enumerate(padded_shapes):
        value = const(graph, node, i)
        if value is not None:
            operands.append(GpuTensor.upload(env.runtime, value.reshape(padded), env.storage,
                                             env.half))
        else:
            operands.append(Relayout(env, padded))
    op = I32(BINARY[node.op_type])
    act = activation_args(attrs.get("activation", ""), attrs.get("activation_params", ()))
    launch = env.launcher("eltwise", "binary")
    out = env.output()
    n, c, h, w = out.view
    width, rows = out.grid
    tail = [*tensor_args(out), I32(c), I32(h), I32(w), I32(width), I32(rows), op, *act]

    def run(inputs):
        args = []
        for i, operand in enumerate(operands):
            t = operand if isinstance(operand, GpuTensor) else operand(env.input(inputs[i], i))
            args += [*tensor_args(t), *(I32(d) for d in t.view)]
        launch((width, rows), args + tail)
        return env.finish([out])

    return run


# -- activations ---------------------------------------------------------------------------
UNARY = ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip", "HardSigmoid", "HardSwish", "Elu",
         "Softplus", "Abs", "Neg", "Exp", "Sqrt", "Swish", "Log")


def _clip_bounds(node: Node, graph: Graph, attrs: dict[str, Any]) -> list[Any] | None:
    """[min, max] of a Clip (None for a missing bound), or None if a bound is dynamic."""
    bounds: list[Any] = [attrs.get("min"), attrs.get("max")]
    for i in (1, 2):
        if len(node.inputs) > i and node.inputs[i]:
            value = const(graph, node, i)
            if value is None:
                return None
            bounds[i - 1] = float(np.asarray(value).reshape(-1)[0])
    return bounds


def accepts_unary(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph):
        return False
    return node.op_type != "Clip" or _clip_bounds(node, graph, node.attrs) is not None


def _params(node: Node, graph: Graph, attrs: dict[str, Any]) -> list[Any]:
    if node.op_type == "Clip":
        return _clip_bounds(node, graph, attrs) or []
    if node.op_type in ("LeakyRelu", "Elu", "Swish"):
        return [attrs["alpha"]]
    if node.op_type == "HardSigmoid":
        return [attrs["alpha"], attrs["beta"]]
    return []


def prepare_unary(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    act = activation_args(node.op_type, _params(node, graph, attrs))
    launch = env.launcher("eltwise", "unary")
    out = env.output()
    _, c, _, w = out.view
    width, rows = out.grid

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch((width, rows), [*tensor_args(x), *tensor_args(out), I32(c), I32(w),
                               I32(width), I32(rows), *act])
        return env.finish([out])

    return run


# -- BatchNormalization (inference) --------------------------------------------------------
def accepts_batchnorm(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph) or len(node.inputs) != 5:
        return False
    if node.attrs.get("training_mode", 0) or len(graph.desc(node.inputs[0]).shape) < 2:
        return False
    channels = graph.desc(node.inputs[0]).shape[1]
    stats = [const(graph, node, i) for i in range(1, 5)]
    return all(s is not None and s.size == channels for s in stats)


def prepare_batchnorm(node: Node, attrs: dict[str, Any], graph: Graph,
                      options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    scale, bias, mean, var = (np.asarray(const(graph, node, i), np.float64).reshape(-1)
                              for i in range(1, 5))
    mul = scale / np.sqrt(var + float(attrs["epsilon"]))
    add = bias - mean * mul
    c = mul.size
    tables = []
    for values in (mul, add):
        padded = np.zeros(-(-c // 4) * 4, np.float32)
        padded[:c] = values
        tables.append(env.buffer(padded))
    act = activation_args(attrs.get("activation", ""), attrs.get("activation_params", ()))
    launch = env.launcher("eltwise", "affine")
    out = env.output()
    w = out.view[3]
    width, rows = out.grid

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch((width, rows), [*tensor_args(x), *tables, *tensor_args(out), I32(c), I32(w),
                               I32(width), I32(rows), *act])
        return env.finish([out])

    return run


KERNELS = [
    *(gpu_spec(op, prepare_binary, accepts_binary) for op in BINARY),
    *(gpu_spec(op, prepare_unary, accepts_unary) for op in UNARY),
    gpu_spec("BatchNormalization", prepare_batchnorm, accepts_batchnorm),
]
