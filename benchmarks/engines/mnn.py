"""MNN Interpreter/Session on the CPU backend, precision=normal (fp32).

Only ``MNN`` itself is imported: ``MNN.tools`` pulls in a logger that runs ``pip install``
and posts usage data.
"""

from __future__ import annotations

import MNN as _mnn
import numpy as np

from engines import model_path

FORMAT = "mnn"
SETTINGS = "MNN Interpreter/Session, CPU backend, precision=normal (fp32), numThread=T"


class Runner:
    def __init__(self, model: dict, threads: int) -> None:
        self.interp = _mnn.Interpreter(model_path(model, FORMAT))
        self.session = self.interp.createSession(
            {"backend": "CPU", "numThread": threads, "precision": "normal"})
        self.inputs = self.interp.getSessionInputAll(self.session)
        self.outputs = self.interp.getSessionOutputAll(self.session)

    def prepare(self, feeds: dict[str, np.ndarray]) -> list:
        prepared = []
        for name, value in feeds.items():
            value = np.ascontiguousarray(value, np.float32)
            host = _mnn.Tensor(value.shape, _mnn.Halide_Type_Float, value,
                               _mnn.Tensor_DimensionType_Caffe)
            prepared.append((self.inputs[name] if name in self.inputs
                             else self.interp.getSessionInput(self.session), host, value))
        return prepared

    def run(self, prepared: list) -> list[np.ndarray]:
        for tensor, host, _ in prepared:
            tensor.copyFrom(host)
        self.interp.runSession(self.session)
        outs = []
        for tensor in self.outputs.values():
            shape = tensor.getShape()
            host = _mnn.Tensor(shape, _mnn.Halide_Type_Float, np.zeros(shape, np.float32),
                               _mnn.Tensor_DimensionType_Caffe)
            tensor.copyToHostTensor(host)
            outs.append(np.array(host.getNumpyData()))
        return outs

    def info(self) -> dict:
        return {"version": getattr(_mnn, "version", lambda: "?")()}


def load(model: dict, threads: int) -> Runner:
    return Runner(model, threads)
