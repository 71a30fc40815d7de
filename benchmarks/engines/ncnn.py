"""ncnn Net from pnnx's .param/.bin: fp32 (fp16/bf16 storage and arithmetic off), packing
layout on, one extractor per inference."""

from __future__ import annotations

import ncnn as _ncnn
import numpy as np

from engines import model_path

FORMAT = "ncnn_param"
SETTINGS = "ncnn Net, fp16/bf16 storage+arith off (fp32), packing on, num_threads=T"


class Runner:
    def __init__(self, model: dict, threads: int) -> None:
        net = _ncnn.Net()
        opt = net.opt
        opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
        opt.use_bf16_storage = False
        opt.use_packing_layout = True
        opt.use_vulkan_compute = False
        opt.num_threads = threads
        if net.load_param(model_path(model, "ncnn_param")) != 0:
            raise RuntimeError("ncnn load_param failed")
        if net.load_model(model_path(model, "ncnn_bin")) != 0:
            raise RuntimeError("ncnn load_model failed")
        self.net, self.threads = net, threads
        self.input_names = list(net.input_names())
        self.output_names = list(net.output_names())

    def prepare(self, feeds: dict[str, np.ndarray]) -> list:
        """ncnn Mats (batch dimension dropped) in the param file's input order."""
        arrays = list(feeds.values())
        return [_ncnn.Mat(np.ascontiguousarray(a[0] if a.shape[0] == 1 else a)).clone()
                for a in arrays]

    def run(self, mats: list) -> list[np.ndarray]:
        ex = self.net.create_extractor()
        for name, mat in zip(self.input_names, mats, strict=True):
            ex.input(name, mat)
        outs = []
        for name in self.output_names:
            ret, out = ex.extract(name)
            if ret != 0:
                raise RuntimeError(f"ncnn extract({name}) returned {ret}")
            outs.append(np.array(out)[None])
        return outs

    def info(self) -> dict:
        return {"version": getattr(_ncnn, "__version__", "?")}


def load(model: dict, threads: int) -> Runner:
    return Runner(model, threads)
