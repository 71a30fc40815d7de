"""Single conv / depthwise / FC layers of the GPU benchmark, timed on mace-gpu-opencl with
every applicable kernel (``gpu_conv_kernel``) and split-K count (``gpu_conv_split_k``).

    python3 benchmarks/gpu_layers.py OUT.json [--layers a,b] [--storages image,buffer]

Time is GPU time from the launches' profiling events (median over runs; the GEMM kernel
plus the split-K sum where there is one); every variant's output is checked against
numpy first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np


class Layer(NamedTuple):
    name: str
    kind: str  # conv, dw (depthwise) or fc
    c: int
    m: int
    hw: int
    k: int = 3
    stride: int = 1

    @property
    def out_hw(self) -> int:
        return 1 if self.kind == "fc" else (self.hw + 2 * (self.k // 2) - self.k) // self.stride + 1

    @property
    def macs(self) -> int:
        if self.kind == "fc":
            return self.c * self.hw * self.hw * self.m
        per = self.k * self.k * (1 if self.kind == "dw" else self.c)
        return self.m * self.out_hw ** 2 * per


LAYERS = [
    Layer("r3x3_64_56", "conv", 64, 64, 56),
    Layer("r3x3_128_28", "conv", 128, 128, 28),
    Layer("r3x3_256_14", "conv", 256, 256, 14),
    Layer("r3x3_512_7", "conv", 512, 512, 7),
    Layer("r1x1_64_256_56", "conv", 64, 256, 56, 1),
    Layer("r1x1_256_64_56", "conv", 256, 64, 56, 1),
    Layer("r1x1_1024_256_14", "conv", 1024, 256, 14, 1),
    Layer("r1x1_256_1024_14", "conv", 256, 1024, 14, 1),
    Layer("r1x1_2048_512_7", "conv", 2048, 512, 7, 1),
    Layer("r7x7_stem", "conv", 3, 64, 224, 7, 2),
    Layer("m1x1_16_96_112", "conv", 16, 96, 112, 1),
    Layer("m1x1_144_24_56", "conv", 144, 24, 56, 1),
    Layer("m1x1_960_160_7", "conv", 960, 160, 7, 1),
    Layer("dw_96_112_s2", "dw", 96, 96, 112, 3, 2),
    Layer("dw_144_56", "dw", 144, 144, 56),
    Layer("dw_960_7", "dw", 960, 960, 7),
    Layer("dw_512_14", "dw", 512, 512, 14),
    Layer("fc_2048_1000", "fc", 2048, 1000, 1, 1),
]

GEMMS = ("conv2d_gemm", "conv2d_gemm8")
DENSE_VARIANTS = [("auto", 0)] + [(k, s) for k in GEMMS for s in (1, 2, 4, 8, 16, 32)] + [
    ("direct", 0)]
DW_VARIANTS = [("auto", 0), ("depthwise", 0), ("depthwise_1", 0)]


def layer_graph(layer: Layer):
    """A one-node graph of the layer with seeded weights, and its input."""
    from mace_core.dtypes import DType
    from mace_core.ir import Graph, Node, TensorDesc
    from mace_core.registry import default_registry
    from mace_core.shape_inference import infer_shapes

    rng = np.random.default_rng(0)
    graph = Graph(layer.name, outputs=["y"])
    if layer.kind == "fc":
        shape = (1, layer.c)
        w = (rng.standard_normal((layer.m, layer.c)) * 0.05).astype(np.float32)
        node = Node("fc", "Gemm", ["x", graph.add_constant("w", w)], ["y"], {"transB": 1})
    else:
        shape = (1, layer.c, layer.hw, layer.hw)
        groups = layer.c if layer.kind == "dw" else 1
        w = (rng.standard_normal((layer.m, layer.c // groups, layer.k, layer.k)) * 0.05
             ).astype(np.float32)
        p = layer.k // 2
        node = Node("conv", "Conv", ["x", graph.add_constant("w", w)], ["y"],
                    {"pads": [p] * 4, "strides": [layer.stride] * 2, "group": groups})
    graph.inputs.append("x")
    graph.tensors["x"] = TensorDesc("x", DType.FLOAT32, shape)
    graph.nodes = [node]
    infer_shapes(graph, default_registry())
    return graph, {"x": rng.standard_normal(shape).astype(np.float32)}


def direct_kernel(layer: Layer) -> str:
    """The direct (non-GEMM) kernel for a dense layer."""
    if layer.kind == "fc" or layer.k == 1:
        return "conv2d_1x1"
    return "conv2d_3x3" if layer.k == 3 else "conv2d"


def time_session(gpu, session, feeds, runs: int) -> tuple[float, list[str], np.ndarray]:
    """(median GPU ms per run, kernel names, output); every launch on the profiling
    queue."""
    gpu.profile_all = True
    out = session.run(feeds)["y"]
    for _ in range(3):
        session.run(feeds)
    samples, names = [], []
    for _ in range(runs):
        gpu.trace = []
        session.run(feeds)
        gpu.finish()
        samples.append(sum(r.ms for r in gpu.trace))
        names = [r.name for r in gpu.trace]
    gpu.trace = None
    gpu.profile_all = False
    return statistics.median(samples), names, out


def bench(layers, storages, runs: int) -> dict:
    from mace_gpu_opencl.device import get_runtime

    from mace_core.runtime.model import Model

    gpu = get_runtime()
    results: dict = {}
    for layer in layers:
        graph, feeds = layer_graph(layer)
        ref = Model(graph).session(["reference"]).run(feeds)["y"]
        entry = {"macs": layer.macs, "variants": {}}
        variants = DW_VARIANTS if layer.kind == "dw" else DENSE_VARIANTS
        if layer.kind == "fc":
            variants = [*variants, ("conv2d_gemv", 0)]
        for storage in storages:
            for kernel, split in variants:
                for tuned in (False, True) if kernel in ("direct", "depthwise",
                                                         "depthwise_1") else (False,):
                    opts = {"gpu_storage": storage}
                    if kernel not in ("auto", "direct"):
                        opts["gpu_conv_kernel"] = kernel
                    if kernel == "direct":
                        opts["gpu_conv_kernel"] = direct_kernel(layer)
                    if split:
                        opts["gpu_conv_split_k"] = split
                    if tuned:
                        opts["gpu_tuning"] = 12
                    key = f"{storage}:{kernel}:{split}{':tuned' if tuned else ''}"
                    try:
                        session = Model(graph).session(["gpu"], **opts)
                        ms, names, out = time_session(gpu, session, feeds, runs)
                        err = float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-30))
                        entry["variants"][key] = {
                            "ms": ms, "kernels": names, "rel_err": err, "ok": err < 1e-4,
                            "gflops": 2 * layer.macs / ms * 1e-6}
                    except Exception as exc:  # noqa: BLE001 - one variant failing
                        entry["variants"][key] = {"error": f"{type(exc).__name__}: {exc}"}
        ok = {k: v for k, v in entry["variants"].items() if v.get("ok")}
        if ok:
            best = min(ok, key=lambda k: ok[k]["ms"])
            entry["best"] = best
            print(f"{layer.name:18s} best {best:32s} {ok[best]['ms'] * 1e3:8.1f} us "
                  f"{ok[best]['gflops']:8.0f} GFLOP/s; auto "
                  f"{ok.get(storages[0] + ':auto:0', {}).get('ms', float('nan')) * 1e3:8.1f} us",
                  flush=True)
        results[layer.name] = entry
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--layers", default="")
    parser.add_argument("--storages", default="image,buffer")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    wanted = set(filter(None, args.layers.split(",")))
    layers = [la for la in LAYERS if not wanted or la.name in wanted]
    t = time.perf_counter()
    results = bench(layers, args.storages.split(","), args.runs)
    args.out.write_text(json.dumps({"layers": results, "seconds": time.perf_counter() - t},
                                   indent=1))


if __name__ == "__main__":
    main()
