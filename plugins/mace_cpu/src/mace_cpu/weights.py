"""The ``cpu_weight_dtype`` session option: constant weights kept as fp16 in the C plans.

``"float32"`` (default for models with fp32 weights): the plans hold packed fp32 weights.
``"float16"``: the constant weights of Gemm / MatMul (B) and of the GEMM convolutions are
rounded to fp16 (nearest even) and packed as fp16, halving the plans' weight memory; the
GEMM widens them to fp32 block by block, so only the weights are rounded and the arithmetic
stays fp32. A layer whose weights exceed fp16's range (|w| > 65504) stays fp32; depthwise
convolutions (small weights) stay fp32.

A model converted with ``mace convert --weights fp16`` defaults to ``"float16"``
(``Model.default_options``): its weights are fp16 values already, so the plans keep them
exactly instead of widening them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from mace_core.errors import MaceError

DTYPES = ("float32", "float16")
FP16_MAX = 65504.0


def weight_dtype(options: Mapping[str, Any]) -> str:
    """``"float32"`` or ``"float16"`` from the session options."""
    value = options.get("cpu_weight_dtype") or "float32"
    if value not in DTYPES:
        raise MaceError(f"cpu_weight_dtype must be one of {', '.join(DTYPES)}, got {value!r}")
    return value


def half_weights(options: Mapping[str, Any], weight: np.ndarray) -> np.ndarray | None:
    """``weight`` rounded to float16 when the session keeps cpu weights as fp16 and the
    values fit fp16's range; None: keep fp32."""
    if weight_dtype(options) != "float16":
        return None
    finite = weight[np.isfinite(weight)]
    if finite.size and float(np.abs(finite).max()) > FP16_MAX:
        return None
    return np.ascontiguousarray(weight, dtype=np.float16)
