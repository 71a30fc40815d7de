"""Core ops: for each, its schema and its numpy reference kernel, side by side.

The reference kernel is the living definition of the op: plain numpy, written to be read.
Each module lists its ops in ``OPS``; ``MODULES`` below is the one list of core op modules.
"""

from __future__ import annotations

import importlib

import attrs

from mace_core.schema import OpSchema
from mace_core.specs import KernelFn


@attrs.frozen
class OpDef:
    """An op's schema and its reference kernel ``reference(*inputs, **attrs)``."""

    schema: OpSchema
    reference: KernelFn


MODULES = (
    "activations",
    "elementwise",
    "unary_math",
    "logical",
    "shape_ops",
    "slicing",
    "generators",
    "reduce",
    "cast",
    "conv",
    "conv_transpose",
    "gemm",
    "normalization",
    "pooling",
    "softmax",
    "recurrent",
    "resize",
    "depth_space",
    "pad",
    "control_flow",
    "quantize",
    "quantized_gemm",
)


def all_ops() -> list[OpDef]:
    ops: list[OpDef] = []
    for name in MODULES:
        module = importlib.import_module(f"mace_core.ops.{name}")
        ops.extend(module.OPS)
    return ops
