"""The PyTorch side of the GPU benchmark (``gpu_h100.py``): builds the networks, exports
them to ONNX, and times PyTorch eager (cuDNN, fp32, TF32 off), CUDA-graph replay and
onnxruntime (CPU EP) on them; also cuDNN on the single conv layers of ``gpu_layers.py``.

    python3 benchmarks/gpu_torch.py WORKDIR [--models a,b] [--runs N]

Writes ``WORKDIR/<model>.onnx``, ``WORKDIR/<model>.npz`` (input ``x`` and the eager output
``y``) and ``WORKDIR/torch.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gpu_layers import LAYERS  # noqa: E402

SEED = 0
OPSET = 13
MODELS = ("mobilenet_v1", "mobilenet_v2", "resnet50")


def mobilenet_v1(torch):
    """MobileNetV1 1.0 224: a 3x3 stem and 13 depthwise-separable blocks (BN + ReLU)."""
    nn = torch.nn

    def conv_bn(c_in, c_out, stride, groups=1, k=3):
        return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

    plan = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
            (256, 512, 2)] + [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    layers = conv_bn(3, 32, 2)
    for c_in, c_out, stride in plan:
        layers += conv_bn(c_in, c_in, stride, groups=c_in) + conv_bn(c_in, c_out, 1, k=1)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(1024, 1000))


def build(name: str, torch):
    """The network with seeded random weights and BatchNorm statistics of one batch."""
    import torchvision

    torch.manual_seed(SEED)
    if name == "mobilenet_v1":
        model = mobilenet_v1(torch)
    elif name == "mobilenet_v2":
        model = torchvision.models.mobilenet_v2(weights=None)
    else:
        model = torchvision.models.resnet50(weights=None)
    # running statistics from one training-mode pass (momentum 1: the batch's), so every
    # layer sees roughly unit-variance activations as in a trained network
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, 224, 224) * 2 - 1)
    return model.eval()


def macs(model, x, torch) -> int:
    """Multiply-accumulates of the conv and linear layers for input ``x``."""
    total = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += out.numel() * k

    def linear_hook(m, inp, out):
        total[0] += out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return total[0]


def stats_ms(times_s: list[float]) -> dict[str, float]:
    ms = sorted(t * 1e3 for t in times_s)
    return {"median_ms": statistics.median(ms), "p90_ms": ms[int(0.9 * (len(ms) - 1))],
            "min_ms": ms[0], "runs": len(ms)}


def time_fn(fn, runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return stats_ms(times)


def export(model, x, path: Path, torch) -> str:
    """Export with the TorchScript exporter (``dynamo=False``) where there is one, else the
    dynamo exporter; returns which one wrote the file."""
    kwargs = {"opset_version": OPSET, "input_names": ["x"], "output_names": ["y"]}
    try:
        torch.onnx.export(model, (x,), str(path), dynamo=False, do_constant_folding=True,
                          **kwargs)
        return "torchscript"
    except TypeError:  # an older torch without the dynamo switch
        torch.onnx.export(model, (x,), str(path), do_constant_folding=True, **kwargs)
        return "torchscript"
    except Exception as exc:  # noqa: BLE001 - e.g. a torch without the TorchScript exporter
        print(f"dynamo=False export failed ({type(exc).__name__}: {exc}); using dynamo",
              flush=True)
        torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, **kwargs)
        return "dynamo"


def bench_model(name: str, work: Path, runs: int, torch) -> dict:
    import onnxruntime as ort

    model = build(name, torch)
    x_np = np.random.default_rng(SEED).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)
    x_cpu = torch.from_numpy(x_np)
    onnx_path = work / f"{name}.onnx"
    exporter = export(model, x_cpu, onnx_path, torch)
    n_macs = macs(model, x_cpu, torch)
    with torch.no_grad():
        y_cpu64 = model.double()(x_cpu.double()).numpy()
    model = model.float().cuda()
    x = x_cpu.cuda()
    with torch.no_grad():
        y = model(x).cpu().numpy()
    np.savez(work / f"{name}.npz", x=x_np, y=y, y64=y_cpu64)
    out: dict = {"macs": n_macs, "exporter": exporter, "onnx_bytes": onnx_path.stat().st_size,
                 "eager_vs_fp64_rel": float(np.abs(y - y_cpu64).max() / np.abs(y_cpu64).max())}

    def eager():
        with torch.no_grad():
            model(x)
        torch.cuda.synchronize()

    def eager_host():
        with torch.no_grad():
            model(x_cpu.cuda()).cpu()

    out["eager"] = time_fn(eager, runs, 30)
    out["eager_with_copies"] = time_fn(eager_host, runs, 10)
    static_x = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.no_grad():
        for _ in range(3):
            model(static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        static_y = model(static_x)

    def replay():
        graph.replay()
        torch.cuda.synchronize()

    out["cuda_graph"] = time_fn(replay, runs, 30)
    out["cuda_graph_rel"] = float(np.abs(static_y.cpu().numpy() - y).max() / np.abs(y).max())
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {"x": x_np}
    y_ort = sess.run(None, feeds)[0]
    out["ort_cpu"] = time_fn(lambda: sess.run(None, feeds), max(10, runs // 5), 5)
    out["ort_rel"] = float(np.abs(y_ort - y).max() / np.abs(y).max())
    return out


def bench_layers(torch) -> dict:
    """cuDNN time of each single layer: a CUDA graph of 20 calls, replayed."""
    results = {}
    for layer in LAYERS:
        torch.manual_seed(SEED)
        x = torch.randn(1, layer.c, layer.hw, layer.hw, device="cuda")
        if layer.kind == "fc":
            weight = torch.randn(layer.m, layer.c, device="cuda") * 0.05

            def call(x=x, weight=weight):
                return torch.nn.functional.linear(x.reshape(1, -1), weight)
        else:
            groups = layer.c if layer.kind == "dw" else 1
            weight = torch.randn(layer.m, layer.c // groups, layer.k, layer.k,
                                 device="cuda") * 0.05

            def call(x=x, weight=weight, groups=groups, layer=layer):
                return torch.nn.functional.conv2d(x, weight, None, layer.stride,
                                                  layer.k // 2, 1, groups)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(5):
                call()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(20):
                call()
        graph.replay()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        samples = []
        for _ in range(7):
            start.record()
            for _ in range(5):
                graph.replay()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / 100)
        results[layer.name] = {"cudnn_ms": statistics.median(samples)}
        del graph
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    import torch

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    args.work.mkdir(parents=True, exist_ok=True)
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name(),
              "sm_count": torch.cuda.get_device_properties(0).multi_processor_count,
              "models": {}, "layers": {}}
    for name in filter(None, args.models.split(",")):
        t = time.perf_counter()
        try:
            result["models"][name] = bench_model(name, args.work, args.runs, torch)
        except Exception as exc:  # noqa: BLE001 - keep the other models' numbers
            result["models"][name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"torch {name}: {time.perf_counter() - t:.1f} s "
              f"{json.dumps(result['models'][name])[:400]}", flush=True)
    try:
        result["layers"] = bench_layers(torch)
    except Exception as exc:  # noqa: BLE001
        result["layers_error"] = f"{type(exc).__name__}: {exc}"
    (args.work / "torch.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
