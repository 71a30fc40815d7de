"""LiteRT (ai-edge-litert) Interpreter, fp32 .tflite with the default XNNPACK delegate."""

from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from engines import model_path

FORMAT = "tflite"
SETTINGS = "LiteRT Interpreter fp32, default XNNPACK delegate, num_threads=T"


class Runner:
    def __init__(self, model: dict, threads: int) -> None:
        self.interp = Interpreter(model_path(model, FORMAT), num_threads=threads)
        self.interp.allocate_tensors()
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()

    def prepare(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The NCHW feeds as the model's NHWC inputs (in the interpreter's input order)."""
        arrays = list(feeds.values())
        if len(arrays) != len(self.inputs):
            raise ValueError(f"model takes {len(self.inputs)} inputs, got {len(arrays)}")
        prepared = []
        for value, detail in zip(arrays, self.inputs, strict=True):
            if value.ndim == 4 and tuple(detail["shape"]) != value.shape:
                value = value.transpose(0, 2, 3, 1)
            prepared.append(np.ascontiguousarray(value, dtype=detail["dtype"]))
        return prepared

    def run(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        for value, detail in zip(prepared, self.inputs, strict=True):
            self.interp.set_tensor(detail["index"], value)
        self.interp.invoke()
        return [self.interp.get_tensor(d["index"]) for d in self.outputs]

    def info(self) -> dict:
        import ai_edge_litert

        return {"version": getattr(ai_edge_litert, "__version__", "?")}


def load(model: dict, threads: int) -> Runner:
    return Runner(model, threads)
