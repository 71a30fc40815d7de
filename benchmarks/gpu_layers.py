"""Single conv / depthwise / FC layers of the GPU benchmark, timed on mace-gpu-opencl with
every applicable kernel (``gpu_conv_kernel``) and split-K count (``gpu_conv_split_k``):
direct, implicit GEMM and, for 3x3 stride-1 convs, every Winograd variant.

    python3 benchmarks/gpu_layers.py OUT.json [--layers a,b] [--storages image,buffer]
        [--families auto,gemm,wino,direct]

Two times per variant, both from profiling events, after its output was checked against
the reference device:

* ``ms``: one run alone (median over runs of the run's launches' event times: the GEMM or
  Winograd kernel plus the split-K sum where there is one), the GPU idle before it;
* ``steady_ms``: the run's launches replayed back to back ``REPLAYS`` times in one queue,
  from the first launch's start to the last one's end, divided by ``REPLAYS`` (median of
  5): what the layer costs inside a stream of work, as in a model, and how cuDNN's times
  here are taken (a CUDA graph of 20 calls replayed). ``mace_gpu_opencl.launch.
  back_to_back_ms`` times them: all enqueued behind a user event, then released, so the
  GPU runs them back to back, not as fast as the host can enqueue.

``floor_us`` / ``steady_floor_us``: the same two for an empty kernel, what one launch costs
at least whatever it does. (Back to back on the plain queue, timed by wall clock, an empty
kernel cost about what it costs on the profiling queue: 3.5 vs 3.9 us on an H100.)
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
WINO_SPLITS = (1, 2, 4, 8, 16, 32)  # 3, 6, 12 (unequal slices) were slower on an H100
LAUNCH_SUM = ("wino2_t8o16k16",)  # Winograd kernels also timed with the two-launch sum
MAX_GROUPS = 1100  # Winograd splits past this many work-groups (8 per H100 SM) are skipped


def family(kernel: str) -> str:
    """auto, gemm, wino or direct: what ``--families`` selects by."""
    if kernel.startswith("wino"):
        return "wino"
    if kernel in GEMMS or kernel == "conv2d_gemv":
        return "gemm"
    return "auto" if kernel == "auto" else "direct"


def wino_variants(layer: Layer, gpu=None) -> list[tuple[str, int]]:
    """Every Winograd kernel (that builds on ``gpu``) at each split it really uses (3x3
    stride-1 convs)."""
    from mace_gpu_opencl.kernels import winograd
    from mace_gpu_opencl.kernels.conv import ConvShape

    if layer.kind != "conv" or layer.k != 3 or layer.stride != 1:
        return []
    shape = ConvShape((1, layer.c, layer.hw, layer.hw), (1, layer.m, layer.hw, layer.hw),
                      (layer.m, layer.c, 3, 3), 1, (1, 1, 1, 1))
    found = [("winograd", 0)]
    for name, variant in winograd.KERNELS.items():
        if gpu is not None and not winograd.builds_here(gpu, name):
            continue
        steps = winograd.k_steps(shape, variant)
        groups = winograd.work_groups(shape, variant)
        splits = {min(s, steps) for s in WINO_SPLITS if s == 1 or groups * s <= MAX_GROUPS}
        found += [(name, s) for s in sorted(splits)]
        # the same splits summed by a second launch (conv2d_splitk_sum), for comparison
        found += [(f"{name}+launch", s) for s in sorted(splits) if s > 1 and name in LAUNCH_SUM]
    return found


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-30))


REPLAYS = 100  # back-to-back runs per steady-state sample


def launch_floor_us(gpu, runs: int = 50) -> tuple[float, float]:
    """An empty kernel (one work-group of 64) on the profiling queue: median event time of
    a launch alone, and time per launch back to back."""
    from mace_gpu_opencl.launch import back_to_back_ms

    cl = gpu.cl
    program = cl.Program(gpu.context, "__kernel void nothing(__global float *a) {}").build()
    kernel = cl.Kernel(program, "nothing")
    buf = cl.Buffer(gpu.context, cl.mem_flags.READ_WRITE, size=256)
    kernel.set_args(buf)

    sizes = gpu.raw and gpu.raw.sizes((64,))

    def launch(wait_for=None, event=True):
        queue = gpu.profiling_queue
        if event or gpu.raw is None:
            return cl.enqueue_nd_range_kernel(queue, kernel, (64,), (64,), wait_for=wait_for)
        gpu.raw(queue.int_ptr, kernel.int_ptr, 1, sizes, sizes)
        return None

    gpu.use_queue(True)
    times = []
    for _ in range(runs):
        event = launch()
        event.wait()
        times.append((event.profile.end - event.profile.start) * 1e-3)
    steady = [back_to_back_ms(gpu, [launch] * REPLAYS) * 1e3 / REPLAYS for _ in range(5)]
    return statistics.median(times), statistics.median(steady)


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


def time_session(gpu, session, feeds, runs: int
                 ) -> tuple[float, float, list[str], np.ndarray]:
    """(median GPU ms per run alone, ms per run back to back, kernel names, output); every
    launch on the profiling queue."""
    from mace_gpu_opencl.launch import back_to_back_ms

    gpu.profile_all = True
    out = session.run(feeds)["y"]
    for _ in range(3):
        session.run(feeds)
    samples, names, records = [], [], []
    for _ in range(runs):
        gpu.trace = []
        session.run(feeds)
        gpu.finish()
        samples.append(sum(r.ms for r in gpu.trace))
        records = gpu.trace
        names = [r.name for r in records]
    gpu.trace = None
    launches = [r.replay for r in records] * REPLAYS
    steady = [back_to_back_ms(gpu, launches) / REPLAYS for _ in range(5)]
    gpu.profile_all = False
    return statistics.median(samples), statistics.median(steady), names, out


def bench(layers, storages, runs: int, families=("auto", "gemm", "wino", "direct"),
          save=None) -> dict:
    """Every variant of every layer; ``save(results)`` after each layer (partial results
    survive a time limit)."""
    from mace_gpu_opencl.device import get_runtime

    from mace_core.runtime.model import Model

    gpu = get_runtime()
    results: dict = {}
    for layer in layers:
        graph, feeds = layer_graph(layer)
        ref = Model(graph).session(["reference"]).run(feeds)["y"]
        # another input: a kernel that sums across work-groups must not keep old sums
        other = {k: (0.5 - v[..., ::-1]).copy() for k, v in feeds.items()}
        ref_other = Model(graph).session(["reference"]).run(other)["y"]
        entry = {"macs": layer.macs, "variants": {}}
        variants = DW_VARIANTS if layer.kind == "dw" else DENSE_VARIANTS + wino_variants(layer, gpu)
        if layer.kind == "fc":
            variants = [*variants, ("conv2d_gemv", 0)]
        variants = [v for v in variants if layer.kind == "dw" or family(v[0]) in families]
        for storage in storages:
            for kernel, split in variants:
                timed = kernel in ("direct", "depthwise", "depthwise_1") or (
                    kernel == "auto" and wino_variants(layer))
                for tuned in (False, True) if timed else (False,):
                    opts = {"gpu_storage": storage}
                    if kernel not in ("auto", "direct"):
                        opts["gpu_conv_kernel"] = kernel.split("+")[0]
                    if kernel.endswith("+launch"):
                        opts["gpu_winograd_split_sum"] = "launch"
                    if kernel == "direct":
                        opts["gpu_conv_kernel"] = direct_kernel(layer)
                    if split:
                        opts["gpu_conv_split_k"] = split
                    if tuned:
                        opts["gpu_tuning"] = 12
                    key = f"{storage}:{kernel}:{split}{':tuned' if tuned else ''}"
                    try:
                        session = Model(graph).session(["gpu"], **opts)
                        ms, steady, names, out = time_session(gpu, session, feeds, runs)
                        err = rel_err(out, ref)
                        if split > 1 and family(kernel) == "wino":  # in-kernel split-K sum
                            err = max(err, rel_err(session.run(other)["y"], ref_other),
                                      rel_err(session.run(feeds)["y"], ref))
                        entry["variants"][key] = {
                            "ms": ms, "steady_ms": steady, "kernels": names, "rel_err": err,
                            "ok": err < 1e-4, "gflops": 2 * layer.macs / ms * 1e-6,
                            "steady_gflops": 2 * layer.macs / steady * 1e-6}
                    except Exception as exc:  # noqa: BLE001 - one variant failing
                        entry["variants"][key] = {"error": f"{type(exc).__name__}: {exc}"}
        ok = {k: v for k, v in entry["variants"].items() if v.get("ok")}
        if ok:
            for field, label in (("ms", "alone"), ("steady_ms", "steady")):
                best = min(ok, key=lambda k, f=field: ok[k][f])
                entry["best" if field == "ms" else f"best_{label}"] = best
                auto = ok.get(storages[0] + ":auto:0", {}).get(field, float("nan"))
                print(f"{layer.name:18s} {label:6s} best {best:32s} "
                      f"{ok[best][field] * 1e3:8.1f} us "
                      f"{2 * layer.macs / ok[best][field] * 1e-6:8.0f} GFLOP/s; "
                      f"auto {auto * 1e3:8.1f} us", flush=True)
            for fam in ("gemm", "wino"):  # by the kernel that ran (not a fallback)
                mine = {k: v for k, v in ok.items() if family(v["kernels"][0]) == fam}
                if mine:
                    top = min(mine, key=lambda k: mine[k]["ms"])
                    entry[f"best_{fam}"] = top
                    print(f"{'':18s} {fam:4s} {top:32s} {mine[top]['ms'] * 1e3:8.1f} us",
                          flush=True)
        bad = {k: v.get("error", f"rel_err {v.get('rel_err')}")
               for k, v in entry["variants"].items() if not v.get("ok")}
        if bad:
            print(f"{layer.name:18s} NOT OK: {bad}", flush=True)
        results[layer.name] = entry
        if save is not None:
            save(results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--layers", default="")
    parser.add_argument("--storages", default="image,buffer")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--families", default="auto,gemm,wino,direct")
    args = parser.parse_args()
    wanted = set(filter(None, args.layers.split(",")))
    layers = [la for la in LAYERS if not wanted or la.name in wanted]
    t = time.perf_counter()
    from mace_gpu_opencl.device import get_runtime

    floor, steady_floor = launch_floor_us(get_runtime())
    print(f"empty kernel: {floor:.1f} us alone, {steady_floor:.1f} us back to back",
          flush=True)

    def save(results: dict) -> None:
        args.out.write_text(json.dumps({"layers": results, "floor_us": floor,
                                        "steady_floor_us": steady_floor,
                                        "seconds": time.perf_counter() - t}, indent=1))

    save(bench(layers, args.storages.split(","), args.runs, args.families.split(","), save))


if __name__ == "__main__":
    main()
