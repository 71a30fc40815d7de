"""Unary activations: Relu, Sigmoid, Tanh, LeakyRelu, Clip, HardSigmoid, HardSwish, ..."""

from __future__ import annotations

import numpy as np

from mace_core.ops import OpDef
from mace_core.schema import OpSchema, same_as_input


def relu(x):
    return np.maximum(x, 0).astype(x.dtype)


def sigmoid(x):
    return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


def leaky_relu(x, *, alpha):
    return np.where(x >= 0, x, x * alpha).astype(x.dtype)


def clip(x, lo=None, hi=None, *, min=None, max=None):  # noqa: A002 - ONNX attribute names
    # Clip-6 gives bounds as attributes, Clip-11+ as optional inputs.
    low = lo if lo is not None else min
    high = hi if hi is not None else max
    y = x
    if low is not None:
        y = np.maximum(y, np.asarray(low, dtype=x.dtype))
    if high is not None:
        y = np.minimum(y, np.asarray(high, dtype=x.dtype))
    return y.astype(x.dtype)


OPS = [
    OpDef(OpSchema("Relu", same_as_input(0), doc="max(x, 0)"), relu),
    OpDef(OpSchema("Sigmoid", same_as_input(0), doc="1 / (1 + exp(-x))"), sigmoid),
    OpDef(
        OpSchema("LeakyRelu", same_as_input(0), attrs={"alpha": 0.01}, doc="x if x >= 0 else alpha*x"),
        leaky_relu,
    ),
    OpDef(
        OpSchema(
            "Clip",
            same_as_input(0),
            num_inputs=(1, 3),
            attrs={"min": None, "max": None},
            doc="clamp to [min, max]; bounds as inputs (opset 11+) or attributes (opset 6)",
        ),
        clip,
    ),
]
