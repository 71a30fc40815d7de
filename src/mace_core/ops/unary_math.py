"""Elementwise math of one tensor: Sqrt, Exp, Log, Abs, Erf, Floor, Round, trigonometry, IsNaN..."""

from __future__ import annotations

import math

import numpy as np

from mace_core.dtypes import FLOAT_TYPES, DType
from mace_core.ops import OpDef
from mace_core.schema import InferContext, OpSchema, OutputSpec

_erf_float64 = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """The Gauss error function, exact to double precision (``math.erf`` elementwise)."""
    x = np.asarray(x)
    return _erf_float64(x.astype(np.float64)).astype(np.float64)


def _same_shape(floats_only: bool, out: DType | None = None):
    """Inference for an elementwise unary op: shape of input 0, dtype ``out`` or the input's."""

    def infer(ctx: InferContext) -> list[OutputSpec]:
        if floats_only and ctx.dtype(0) not in FLOAT_TYPES:
            raise ctx.fail(f"input 0 has dtype {ctx.dtype(0)}, expected float32 or float16")
        return [(ctx.shape(0), out or ctx.dtype(0))]

    return infer


def _unary(op_type: str, fn, doc: str, floats_only: bool = True) -> OpDef:
    """``y = fn(x)`` elementwise; float16 is evaluated in float32 and rounded back."""

    def reference(x):
        wide = x.astype(np.float32) if x.dtype == np.float16 else x
        with np.errstate(all="ignore"):  # log(-1) is nan, 1/0 is inf, as in ONNX
            return np.asarray(fn(wide)).astype(x.dtype)

    reference.__name__ = op_type.lower()
    return OpDef(OpSchema(op_type, _same_shape(floats_only), doc=doc), reference)


def is_nan(x):
    return np.isnan(x)


def is_inf(x, *, detect_negative, detect_positive):
    """True at +inf (if ``detect_positive``) and at -inf (if ``detect_negative``)."""
    return np.asarray((np.isposinf(x) & bool(detect_positive))
                      | (np.isneginf(x) & bool(detect_negative)))


OPS = [
    _unary("Sqrt", np.sqrt, "square root"),
    _unary("Exp", np.exp, "e ** x"),
    _unary("Log", np.log, "natural logarithm"),
    _unary("Abs", np.abs, "|x|", floats_only=False),
    _unary("Neg", np.negative, "-x", floats_only=False),
    _unary("Sign", np.sign, "-1, 0 or 1 by the sign of x", floats_only=False),
    _unary("Reciprocal", np.reciprocal, "1 / x"),
    _unary("Erf", erf, "Gauss error function", floats_only=False),
    _unary("Floor", np.floor, "round down"),
    _unary("Ceil", np.ceil, "round up"),
    _unary("Round", np.round, "round to nearest, halves to even"),
    _unary("Sin", np.sin, "sine"),
    _unary("Cos", np.cos, "cosine"),
    _unary("Tan", np.tan, "tangent"),
    _unary("Asin", np.arcsin, "arcsine"),
    _unary("Acos", np.arccos, "arccosine"),
    _unary("Atan", np.arctan, "arctangent"),
    _unary("Sinh", np.sinh, "hyperbolic sine"),
    _unary("Cosh", np.cosh, "hyperbolic cosine"),
    _unary("Asinh", np.arcsinh, "inverse hyperbolic sine"),
    _unary("Acosh", np.arccosh, "inverse hyperbolic cosine"),
    _unary("Atanh", np.arctanh, "inverse hyperbolic tangent"),
    OpDef(OpSchema("IsNaN", _same_shape(True, DType.BOOL), doc="x is NaN"), is_nan),
    OpDef(
        OpSchema(
            "IsInf",
            _same_shape(True, DType.BOOL),
            attrs={"detect_negative": 1, "detect_positive": 1},
            doc="x is +inf / -inf (each side selectable)",
        ),
        is_inf,
    ),
]
