"""onnxruntime: CPU execution provider, all graph optimisations, sequential execution."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from engines import model_path

FORMAT = "onnx"
SETTINGS = ("ONNX Runtime CPU EP, ORT_ENABLE_ALL, intra_op=T, inter_op=1, sequential")


class Runner:
    def __init__(self, model: dict, threads: int) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model_path(model, FORMAT), options,
                                            providers=["CPUExecutionProvider"])

    def prepare(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return feeds

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feeds)

    def info(self) -> dict:
        return {"version": ort.__version__}


def load(model: dict, threads: int) -> Runner:
    return Runner(model, threads)
