"""The ``cpu_precision`` session option: fp16 arithmetic on CPUs that have it.

``"float32"`` (default): every cpu kernel computes in fp32.
``"float16"``: on AArch64 CPUs with FEAT_FP16 (``asimdhp``; e.g. Cortex-A55/A75/A76 and
later) the GEMM convolutions (1x1, shifted, im2col) and Gemm / MatMul with a constant B
keep their weights as fp16, round their activations to fp16 and multiply-add in fp16
(FMLA on 8 halves), summing in fp16 over chunks of 64 steps of K and in fp32 across
chunks; bias and activation are applied in fp32 (csrc/gemm_f16.c). Like MNN's
``precision=low`` / ncnn's ``use_fp16_arithmetic``: about twice the multiply-adds per
instruction, at a relative error of about 1e-3 of the output's scale. Everything else
(depthwise, Winograd, pooling, elementwise...) stays fp32, as does a layer whose weights
exceed fp16's range. Elsewhere (x86, ARMv8.0 cores such as Cortex-A53, the scalar ISA)
the option is accepted and the fp32 kernels run; each kernel's ``info["precision"]``
says what it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from mace_core.errors import MaceError

from mace_cpu import native
from mace_cpu.weights import FP16_MAX, half_weights

PRECISIONS = ("float32", "float16")


def precision(options: Mapping[str, Any]) -> str:
    """``"float32"`` or ``"float16"`` from the session options; MaceError naming the
    choices otherwise."""
    value = options.get("cpu_precision") or "float32"
    if value not in PRECISIONS:
        raise MaceError(f"cpu_precision must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def f16_arith_supported(isa: str | None = None) -> bool:
    """Whether kernels of ``isa`` (default: the current one) can run fp16 arithmetic here."""
    _, lib = native.load()
    return bool(lib.mc_f16_arith_supported(native.isa_id(isa)))


def wants_f16_arith(options: Mapping[str, Any], isa: str) -> bool:
    """The session asks for fp16 arithmetic and kernels of ``isa`` can run it."""
    return precision(options) == "float16" and f16_arith_supported(isa)


def plan_weights(options: Mapping[str, Any], weight: np.ndarray, isa: str) -> np.ndarray | None:
    """The weights as fp16 for a plan with fp16 weights (``cpu_weight_dtype``) or fp16
    arithmetic (``cpu_precision`` where supported); None: an fp32 plan."""
    half = half_weights(options, weight)
    if half is not None or not wants_f16_arith(options, isa):
        return half
    finite = weight[np.isfinite(weight)]
    if finite.size and float(np.abs(finite).max()) > FP16_MAX:
        return None
    return np.ascontiguousarray(weight, dtype=np.float16)


def use_f16_arith(options: Mapping[str, Any], switch, plan: Any) -> str:
    """Switch a C plan to fp16 arithmetic (``switch``: ``mc_conv_use_f16_arith`` or
    ``mc_gemm_use_f16_arith``) when the session asks for it; the precision it runs."""
    if precision(options) == "float16" and switch(plan):
        return "float16"
    return "float32"
