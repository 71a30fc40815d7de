"""Running the source model with onnxruntime, for ``mace validate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from mace_core.errors import ConversionError

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
    "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
}


def run_onnxruntime(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All graph outputs of the model at ``path`` on onnxruntime's CPU provider."""
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"onnxruntime cannot load {path}: {exc}") from None
    ort_feeds = {}
    for value in session.get_inputs():
        if value.name not in feeds:
            raise ConversionError(
                f"onnxruntime needs input {value.name!r} of {path}, which was not given "
                f"(given: {', '.join(feeds) or 'none'})"
            )
        array = np.asarray(feeds[value.name])
        wanted = _ORT_TYPES.get(value.type)
        ort_feeds[value.name] = array.astype(wanted) if wanted is not None else array
    names = [o.name for o in session.get_outputs()]
    try:
        results = session.run(names, ort_feeds)
    except Exception as exc:
        raise ConversionError(f"onnxruntime failed to run {path}: {exc}") from None
    return {name: np.asarray(value) for name, value in zip(names, results, strict=True)}
