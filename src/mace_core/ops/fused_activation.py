"""Activations that producers (Conv, ConvTranspose, Gemm, MatMul, Add...) may carry fused.

A fusion pass folds ``Conv -> Relu`` into one Conv node with attributes
``activation="Relu"`` and ``activation_params=[...]``. Every op that accepts these attributes
applies :func:`apply_activation` to its result, so fused and unfused graphs agree exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# name -> number of float params, in the order stored in ``activation_params``
FUSABLE = {
    "Relu": 0,
    "Clip": 2,  # min, max (Relu6 is Clip 0..6)
    "LeakyRelu": 1,  # alpha
    "Sigmoid": 0,
    "Tanh": 0,
    "HardSigmoid": 2,  # alpha, beta
    "HardSwish": 0,
    "Swish": 1,  # alpha: x * sigmoid(alpha * x) (SiLU when alpha is 1)
}

# Attributes (with defaults) that fusable producers add to their schema.
ACTIVATION_ATTRS = {"activation": "", "activation_params": ()}


def apply_activation(y: np.ndarray, activation: str, params: Sequence[float] = ()) -> np.ndarray:
    """Apply a fused activation to ``y`` (no-op for the empty name)."""
    if not activation:
        return y
    p = [float(v) for v in params]
    if activation == "Relu":
        r = np.maximum(y, 0)
    elif activation == "Clip":
        r = np.clip(y, p[0], p[1])
    elif activation == "LeakyRelu":
        r = np.where(y >= 0, y, y * p[0])
    elif activation == "Sigmoid":
        with np.errstate(over="ignore"):  # exp overflow -> inf -> exactly 0, as intended
            r = 1.0 / (1.0 + np.exp(-y))
    elif activation == "Tanh":
        r = np.tanh(y)
    elif activation == "HardSigmoid":
        r = np.clip(y * p[0] + p[1], 0, 1)
    elif activation == "HardSwish":
        r = y * np.clip(y / 6.0 + 0.5, 0, 1)
    elif activation == "Swish":  # as the Swish op: float16 computes in float32
        wide = y.astype(np.float32) if y.dtype == np.float16 else y
        with np.errstate(over="ignore"):  # exp overflow -> inf -> exactly 0, as intended
            r = wide / (1 + np.exp(-p[0] * wide))
    else:
        raise ValueError(f"unknown fused activation {activation!r}; known: {', '.join(FUSABLE)}")
    return r.astype(y.dtype, copy=False)
