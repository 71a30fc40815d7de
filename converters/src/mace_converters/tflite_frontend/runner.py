"""Running the source .tflite model with the LiteRT interpreter, for ``mace validate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mace_core.errors import ConversionError


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tensorflow.lite.python.interpreter import Interpreter
        except ImportError:
            raise ConversionError(
                "running .tflite models needs LiteRT; install it with "
                "`pip install 'mace-converters[tflite]'` (ai-edge-litert)"
            ) from None
    return Interpreter


def run_litert(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All outputs of the main subgraph, by tensor name, for ``feeds`` by input name.

    Inputs whose shape differs from the file's are resized first.
    """
    try:
        interpreter = _interpreter_class()(model_path=str(path))
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"LiteRT cannot load {path}: {exc}") from None
    inputs = interpreter.get_input_details()
    for detail in inputs:
        name = detail["name"]
        if name not in feeds:
            given = ", ".join(feeds) or "none"
            raise ConversionError(f"{path}: LiteRT needs input {name!r} (given: {given})")
        shape = tuple(np.shape(feeds[name]))
        if shape != tuple(detail["shape"]):
            interpreter.resize_tensor_input(detail["index"], list(shape))
    interpreter.allocate_tensors()
    for detail in inputs:
        array = np.asarray(feeds[detail["name"]]).astype(detail["dtype"], copy=False)
        interpreter.set_tensor(detail["index"], array)
    try:
        interpreter.invoke()
    except Exception as exc:
        raise ConversionError(f"LiteRT failed to run {path}: {exc}") from None
    return {d["name"]: np.array(interpreter.get_tensor(d["index"]))
            for d in interpreter.get_output_details()}
