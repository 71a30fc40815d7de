"""Comparing outputs against a reference framework: the metrics and the pass rule."""

from __future__ import annotations

import attrs
import numpy as np

# fp32 defaults: cosine similarity >= 0.99999 and max |err| <= 1e-4 * max |ref|.
COSINE_MIN = 0.99999
REL_MAX = 1e-4


@attrs.frozen
class Comparison:
    name: str
    max_abs: float
    rel: float  # max |ours - ref| / max |ref|
    cosine: float
    ok: bool
    note: str = ""


def compare(name: str, ours: np.ndarray, ref: np.ndarray, *, cosine_min: float = COSINE_MIN,
            rel_max: float = REL_MAX) -> Comparison:
    """Compare one output. Integer and bool outputs must match exactly."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    if ours.shape != ref.shape:
        return Comparison(name, float("inf"), float("inf"), 0.0, False,
                          f"shape {list(ours.shape)} vs reference {list(ref.shape)}")
    if ref.dtype.kind in "biu":
        mismatches = int(np.count_nonzero(ours != ref))
        return Comparison(name, float(mismatches), float(mismatches), 1.0 if not mismatches
                          else 0.0, mismatches == 0, f"{mismatches} elements differ")
    a = ours.astype(np.float64).ravel()
    b = ref.astype(np.float64).ravel()
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not (np.array_equal(fa, fb) and np.array_equal(a[~fa], b[~fb], equal_nan=True)):
        return Comparison(name, float("nan"), float("nan"), 0.0, False,
                          "NaN/inf where the reference differs")
    a, b = a[fa], b[fb]
    if a.size == 0:
        return Comparison(name, 0.0, 0.0, 1.0, True, "empty")
    diff = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b)))
    rel = diff / scale if scale > 0 else diff
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 and nb == 0:
        cosine = 1.0
    elif na == 0 or nb == 0:
        cosine = 0.0
    else:
        cosine = float(np.dot(a, b) / (na * nb))
    ok = cosine >= cosine_min and rel <= rel_max
    return Comparison(name, diff, rel, cosine, ok)


# Quantized integer outputs: compared as real values; integer kernels and float math may
# differ by rounding at every layer, so the rule is in quantization steps of the output.
QUANT_STEPS_MAX = 3
QUANT_COSINE_MIN = 0.999


def compare_quantized(name: str, ours: np.ndarray, ref: np.ndarray, quant) -> Comparison:
    """Compare two quantized integer outputs as dequantized values: pass when the largest
    difference is at most ``QUANT_STEPS_MAX`` steps and cosine >= ``QUANT_COSINE_MIN``."""
    scale = np.asarray(quant.scale, np.float64)
    zero = np.asarray(quant.zero_point, np.float64)
    if quant.axis is not None and np.asarray(ours).ndim:
        shape = [1] * np.asarray(ours).ndim
        shape[quant.axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    real = [(np.asarray(v, np.float64) - zero) * scale for v in (ours, ref)]
    result = compare(name, real[0], real[1], cosine_min=QUANT_COSINE_MIN, rel_max=float("inf"))
    steps = result.max_abs / float(np.max(scale))
    ok = result.ok and steps <= QUANT_STEPS_MAX
    return attrs.evolve(result, ok=ok, note=f"{steps:.0f} quantization steps")
