"""Unary activations: Relu, Sigmoid, Tanh, LeakyRelu, Clip, HardSigmoid, HardSwish, ..."""

from __future__ import annotations

import numpy as np

from mace_core.ops import OpDef
from mace_core.ops.unary_math import erf
from mace_core.schema import InferContext, OpSchema, OutputSpec, same_as_input


def _wide(x: np.ndarray) -> np.ndarray:
    """``x`` in the precision the formula is evaluated in: float16 computes in float32."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _unary(op_type: str, fn, doc: str, attrs: dict | None = None, infer=None) -> OpDef:
    """An activation ``y = fn(x, **attrs)``, by default of the input's shape and dtype."""

    def reference(x, **kw):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return np.asarray(fn(_wide(x), **kw)).astype(x.dtype)

    reference.__name__ = op_type.lower()
    schema = OpSchema(op_type, infer or same_as_input(0), attrs=dict(attrs or {}), doc=doc)
    return OpDef(schema, reference)


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


def prelu(x, slope):
    """``x`` where positive, ``slope * x`` elsewhere; ``slope`` broadcasts to ``x``."""
    return np.where(x < 0, x * slope, x).astype(x.dtype)


def _infer_prelu(ctx: InferContext) -> list[OutputSpec]:
    x, slope = ctx.shape(0), ctx.shape(1)
    try:
        fits = tuple(np.broadcast_shapes(x, slope)) == tuple(x)
    except ValueError:
        fits = False
    if not fits:
        raise ctx.fail(f"input 1 (slope) of shape {list(slope)} must broadcast to the shape "
                       f"{list(x)} of input 0")
    if ctx.dtype(1) != ctx.dtype(0):
        raise ctx.fail(f"input 1 (slope) has dtype {ctx.dtype(1)}, expected {ctx.dtype(0)}")
    return [(x, ctx.dtype(0))]


def _hard_sigmoid(x, *, alpha, beta):
    return np.clip(x * alpha + beta, 0, 1)


def _elu(x, *, alpha):
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _selu(x, *, alpha, gamma):
    return gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _celu(x, *, alpha):
    return np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(np.minimum(x, 0) / alpha))


def _softplus(x):
    return np.logaddexp(0, x)  # log(1 + exp(x)) without overflow


def _gelu(x, *, approximate):
    if approximate == "tanh":
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1 + np.tanh(inner))
    if approximate != "none":
        raise ValueError(f"Gelu approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def _infer_gelu(ctx: InferContext) -> list[OutputSpec]:
    if ctx.attrs["approximate"] not in ("none", "tanh"):
        raise ctx.fail(f"attribute approximate must be 'none' or 'tanh', got "
                       f"{ctx.attrs['approximate']!r}")
    return [(ctx.shape(0), ctx.dtype(0))]


OPS = [
    OpDef(OpSchema("Relu", same_as_input(0), doc="max(x, 0)"), relu),
    OpDef(OpSchema("Sigmoid", same_as_input(0), doc="1 / (1 + exp(-x))"), sigmoid),
    OpDef(
        OpSchema("LeakyRelu", same_as_input(0), attrs={"alpha": 0.01},
                 doc="x if x >= 0 else alpha*x"),
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
    OpDef(
        OpSchema("PRelu", _infer_prelu, num_inputs=(2, 2), doc="x if x >= 0 else slope*x"),
        prelu,
    ),
    _unary("Tanh", np.tanh, "tanh(x)"),
    _unary("HardSigmoid", _hard_sigmoid, "clamp(alpha*x + beta, 0, 1)",
           {"alpha": 0.2, "beta": 0.5}),
    _unary("HardSwish", lambda x: x * np.clip(x / 6 + 0.5, 0, 1), "x * clamp(x/6 + 1/2, 0, 1)"),
    _unary("Elu", _elu, "x if x >= 0 else alpha*(exp(x) - 1)", {"alpha": 1.0}),
    _unary("Selu", _selu, "gamma * (x if x > 0 else alpha*(exp(x) - 1))",
           {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875}),
    _unary("Celu", _celu, "max(0, x) + min(0, alpha*(exp(x/alpha) - 1))", {"alpha": 1.0}),
    _unary("Softplus", _softplus, "log(1 + exp(x))"),
    _unary("Softsign", lambda x: x / (1 + np.abs(x)), "x / (1 + |x|)"),
    _unary("Mish", lambda x: x * np.tanh(_softplus(x)), "x * tanh(softplus(x))"),
    _unary("ThresholdedRelu", lambda x, *, alpha: np.where(x > alpha, x, 0),
           "x if x > alpha else 0", {"alpha": 1.0}),
    _unary("Swish", lambda x, *, alpha: x / (1 + np.exp(-alpha * x)), "x * sigmoid(alpha*x)",
           {"alpha": 1.0}),
    _unary("Gelu", _gelu, "0.5*x*(1 + erf(x/sqrt(2))); approximate='tanh' uses the tanh form",
           {"approximate": "none"}, _infer_gelu),
]
