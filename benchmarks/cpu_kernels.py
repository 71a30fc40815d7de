#!/usr/bin/env python3
"""Single-layer speed of the mace-cpu kernels on MobileNetV2 / ResNet-like layers.

    OPENBLAS_NUM_THREADS=1 python benchmarks/cpu_kernels.py [--threads 1] [--isa avx2]
    python benchmarks/cpu_kernels.py --model      # + a whole MobileNetV2 (random weights)
    python benchmarks/cpu_kernels.py --winograd   # + 3x3 stride-1 layers, every algorithm
    python benchmarks/cpu_kernels.py --only pw --cold   # 1x1 layers, caches evicted first

For each layer: our best-of-N time and GFLOP/s (2 * MACs / time), the same GEMM done by
numpy's BLAS (``W[M, K] @ cols[K, N]``, im2col excluded, so a lower bound for an im2col
conv), and onnxruntime's Conv on one node when onnxruntime and onnx are installed.
Everything runs in this process on the same machine, one after the other; numpy and
onnxruntime are limited to the same thread count (set OPENBLAS_NUM_THREADS before numpy
loads: this script sets it from --threads when it is unset).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

LAYERS = [
    # name, (N, C, H, W), (M, C/group, kh, kw), attrs
    ("pw 96->24 56x56", (1, 96, 56, 56), (24, 96, 1, 1), {}),
    ("pw 24->144 56x56", (1, 24, 56, 56), (144, 24, 1, 1), {}),
    ("conv3x3 64->64 56x56", (1, 64, 56, 56), (64, 64, 3, 3), {"pads": [1, 1, 1, 1]}),
    ("conv3x3 s2 3->32 224x224", (1, 3, 224, 224), (32, 3, 3, 3),
     {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ("conv3x3 s2 3->32 224x224 same", (1, 3, 224, 224), (32, 3, 3, 3),
     {"pads": [0, 0, 1, 1], "strides": [2, 2]}),
    ("conv3x3 256->256 14x14", (1, 256, 14, 14), (256, 256, 3, 3), {"pads": [1, 1, 1, 1]}),
    ("dw3x3 144ch 56x56", (1, 144, 56, 56), (144, 1, 3, 3),
     {"pads": [1, 1, 1, 1], "group": 144}),
    ("dw3x3 s2 144ch 56x56", (1, 144, 56, 56), (144, 1, 3, 3),
     {"pads": [1, 1, 1, 1], "group": 144, "strides": [2, 2]}),
    ("pw 960->160 7x7", (1, 960, 7, 7), (160, 960, 1, 1), {}),
    ("dw3x3 32ch 112x112", (1, 32, 112, 112), (32, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 32}),
    ("dw3x3 s2 64ch 112x112", (1, 64, 112, 112), (64, 1, 3, 3),
     {"pads": [0, 0, 1, 1], "group": 64, "strides": [2, 2]}),
    ("dw3x3 128ch 56x56", (1, 128, 56, 56), (128, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 128}),
    ("dw3x3 512ch 14x14", (1, 512, 14, 14), (512, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 512}),
    ("dw3x3 s2 512ch 14x14", (1, 512, 14, 14), (512, 1, 3, 3),
     {"pads": [0, 0, 1, 1], "group": 512, "strides": [2, 2]}),
    ("dw3x3 1024ch 7x7", (1, 1024, 7, 7), (1024, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 1024}),
    ("pw 32->64 112x112", (1, 32, 112, 112), (64, 32, 1, 1), {}),
    ("pw 64->128 56x56", (1, 64, 56, 56), (128, 64, 1, 1), {}),
    ("pw 128->128 56x56", (1, 128, 56, 56), (128, 128, 1, 1), {}),
    ("pw 128->256 28x28", (1, 128, 28, 28), (256, 128, 1, 1), {}),
    ("pw 256->256 28x28", (1, 256, 28, 28), (256, 256, 1, 1), {}),
    ("pw 256->512 14x14", (1, 256, 14, 14), (512, 256, 1, 1), {}),
    ("pw 512->512 14x14", (1, 512, 14, 14), (512, 512, 1, 1), {}),
    ("pw 512->1024 7x7", (1, 512, 7, 7), (1024, 512, 1, 1), {}),
    ("pw 1024->1024 7x7", (1, 1024, 7, 7), (1024, 1024, 1, 1), {}),
    ("pw 160->960 7x7", (1, 160, 7, 7), (960, 160, 1, 1), {}),
    ("fc 1024->1000 1x1", (1, 1024, 1, 1), (1000, 1024, 1, 1), {}),
    ("fc 1280->1000 1x1", (1, 1280, 1, 1), (1000, 1280, 1, 1), {}),
]


# 3x3 stride-1 convs (pads 1) for --winograd: name, C, M, H = W. ResNet-50's four, then
# those of the zoo's nudenet-320n and ppocr-v4-det, and a few small-channel ones.
WINOGRAD_LAYERS = [
    ("resnet50 64@56", 64, 64, 56), ("resnet50 128@28", 128, 128, 28),
    ("resnet50 256@14", 256, 256, 14), ("resnet50 512@7", 512, 512, 7),
    ("nudenet 16@80", 16, 16, 80), ("nudenet 32@40", 32, 32, 40),
    ("nudenet 64@20", 64, 64, 20), ("nudenet 64@10", 64, 64, 10),
    ("ppocr-det 96->24@80", 96, 24, 80), ("ppocr-det 96->24@20", 96, 24, 20),
    ("16@56", 16, 16, 56), ("32@28", 32, 32, 28), ("24@28", 24, 24, 28), ("32@14", 32, 32, 14),
]
WINOGRAD_ALGOS = ("shifted", "winograd43", "winograd23", "")  # "": the automatic choice


FLUSH = None  # --cold: a buffer larger than the caches, written before each timed call


def best_of(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        if FLUSH is not None:
            FLUSH[:] += 1.0  # evicts the layer's weights and activations, as a model run does
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def conv_graph(x_shape, w_shape, attrs, rng):
    import numpy as np

    from mace_core.dtypes import DType
    from mace_core.ir import Graph, Node, TensorDesc
    from mace_core.registry import default_registry
    from mace_core.shape_inference import infer_shapes

    g = Graph("layer", inputs=["x"], outputs=["y"])
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, x_shape)
    g.add_constant("w", rng.standard_normal(w_shape).astype(np.float32) * 0.1)
    g.add_constant("b", rng.standard_normal(w_shape[0]).astype(np.float32))
    g.nodes = [Node("conv", "Conv", ["x", "w", "b"], ["y"], dict(attrs))]
    infer_shapes(g, default_registry())
    return g


def ort_session(graph, threads: int):
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    node = graph.nodes[0]
    inits = [numpy_helper.from_array(graph.constants[n], n) for n in ("w", "b")]
    onnx_node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **node.attrs)
    x, y = graph.desc("x"), graph.desc("y")
    model = helper.make_model(
        helper.make_graph([onnx_node], "layer",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y.shape)],
                          inits),
        opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def measure_layer(name, x_shape, w_shape, attrs, args, rng) -> str:
    """One table row: ours, numpy's GEMM of the same size, onnxruntime."""
    import numpy as np

    from mace_core.runtime.model import Model

    graph = conv_graph(x_shape, w_shape, attrs, rng)
    session = Model(graph).session(["cpu"], cpu_threads=args.threads)
    runner = session._runners[0]  # the prepared kernel itself, no session overhead
    x = rng.standard_normal(x_shape).astype(np.float32)
    y_shape = graph.desc("y").shape
    m, k = w_shape[0], int(np.prod(w_shape[1:]))
    n = int(np.prod(y_shape[2:])) * x_shape[0]
    flop = 2.0 * m * k * n
    ours = best_of(lambda: runner([x]), args.reps)
    row = (f"{name:26s} {flop / 1e6:7.1f} {runner.info['algo']:>9s} {ours * 1e3:8.3f} "
           f"{flop / ours / 1e9:8.1f}")
    if attrs.get("group", 1) == 1:
        wm = rng.standard_normal((m, k)).astype(np.float32)
        cols = rng.standard_normal((k, n)).astype(np.float32)
        t = best_of(lambda: wm @ cols, args.reps)
        row += f" {t * 1e3:8.3f} {flop / t / 1e9:8.1f}"
    else:
        row += f" {'-':>8s} {'-':>8s}"
    ort = ort_session(graph, args.threads)
    if ort is not None:
        t = best_of(lambda: ort.run(None, {"x": x}), args.reps)
        row += f" {t * 1e3:7.3f} {flop / t / 1e9:8.1f}"
    return row


def measure_winograd(args, rng) -> None:
    """Each layer of WINOGRAD_LAYERS with every algorithm forced (MACE_CPU_CONV_ALGO, read
    when a kernel is prepared), then the automatic choice and onnxruntime. GFLOP/s count
    the direct conv's 2 * M * C * 9 * H * W for every algorithm."""
    import numpy as np

    from mace_core.runtime.model import Model

    saved = os.environ.pop("MACE_CPU_CONV_ALGO", None)
    header = (f"{'3x3 s1 layer':22s} {'MFLOP':>7s} {'shifted':>15s} {'F(4,3)':>15s} "
              f"{'F(2,3)':>15s} {'auto':>10s} {'speedup':>7s} {'ort':>15s}")
    print(f"\n{header}  (ms GFLOP/s)\n" + "-" * len(header))
    for name, c, m, size in WINOGRAD_LAYERS:
        graph = conv_graph((1, c, size, size), (m, c, 3, 3), {"pads": [1, 1, 1, 1]}, rng)
        x = rng.standard_normal((1, c, size, size)).astype(np.float32)
        flop = 2.0 * m * c * 9 * size * size
        times = {}
        for algo in WINOGRAD_ALGOS:
            os.environ["MACE_CPU_CONV_ALGO"] = algo
            runner = Model(graph).session(["cpu"], cpu_threads=args.threads)._runners[0]
            times[algo] = best_of(lambda: runner([x]), args.reps)  # noqa: B023
        info = runner.info
        chosen = info["algo"] + (f" {info['wino_tile']}" if "wino_tile" in info else "")
        cells = [f"{times[a] * 1e3:7.3f} {flop / times[a] / 1e9:7.1f}" for a in WINOGRAD_ALGOS[:3]]
        row = (f"{name:22s} {flop / 1e6:7.1f} {' '.join(cells)} {chosen:>10s} "
               f"{times['shifted'] / times['']:6.2f}x")
        ort = ort_session(graph, args.threads)
        if ort is not None:
            t = best_of(lambda: ort.run(None, {"x": x}), args.reps)  # noqa: B023
            row += f" {t * 1e3:7.3f} {flop / t / 1e9:7.1f}"
        print(row, flush=True)
    os.environ.pop("MACE_CPU_CONV_ALGO", None)
    if saved is not None:
        os.environ["MACE_CPU_CONV_ALGO"] = saved


MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]  # expansion t, channels c, repeats n, stride s


def mobilenet_v2_onnx(path, rng) -> None:
    """MobileNetV2 (1.0, 224x224) with random weights, BatchNorm folded: Conv + Clip(0, 6)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = iter(range(10_000))

    def conv(x, cin, cout, k=1, stride=1, group=1, relu6=True):
        i = next(counter)
        w = rng.standard_normal((cout, cin // group, k, k)).astype(np.float32)
        w *= np.sqrt(2.0 / (cin // group * k * k))
        inits.extend([numpy_helper.from_array(w, f"w{i}"),
                      numpy_helper.from_array(np.zeros(cout, np.float32) + 0.01, f"b{i}")])
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], group=group,
                                      strides=[stride] * 2, pads=[k // 2] * 4))
        if not relu6:
            return f"c{i}"
        nodes.append(helper.make_node("Clip", [f"c{i}", "zero", "six"], [f"r{i}"]))
        return f"r{i}"

    inits += [numpy_helper.from_array(np.array(v, np.float32), n)
              for n, v in (("zero", 0.0), ("six", 6.0))]
    x, cin = conv("input", 3, 32, 3, 2), 32
    for t, c, n, s in MOBILENET_V2:
        for r in range(n):
            hidden = cin * t
            y = conv(x, cin, hidden) if t != 1 else x
            y = conv(y, hidden, hidden, 3, s if r == 0 else 1, group=hidden)
            y = conv(y, hidden, c, relu6=False)
            if r > 0:
                nodes.append(helper.make_node("Add", [y, x], [f"add{next(counter)}"]))
                y = nodes[-1].output[0]
            x, cin = y, c
    x = conv(x, cin, 1280)
    fc_w = (rng.standard_normal((1000, 1280)) * 0.03).astype(np.float32)
    inits += [numpy_helper.from_array(fc_w, "fc_w"),
              numpy_helper.from_array(np.zeros(1000, np.float32), "fc_b")]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "mobilenet_v2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def measure_model(args, rng) -> None:
    """MobileNetV2 end to end: mace (cpu device, with per-op Python dispatch) vs onnxruntime."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import onnxruntime as ort

    from mace_core.pipeline import import_model, optimize
    from mace_core.runtime.model import Model
    from mace_core.specs import ConvertOptions

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mobilenet_v2.onnx"
        mobilenet_v2_onnx(path, rng)
        graph = import_model(path, ConvertOptions())
        optimize(graph)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        ort_sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    session = Model(graph).session(["cpu", "reference"], cpu_threads=args.threads)
    feeds = {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    ours = best_of(lambda: session.run(feeds), args.reps)
    theirs = best_of(lambda: ort_sess.run(None, feeds), args.reps)
    counts = session.placement.counts()
    err = np.abs(session.run(feeds)["logits"] - ort_sess.run(None, feeds)[0]).max()
    print(f"\nMobileNetV2 224x224, {len(graph.nodes)} nodes placed {counts}: "
          f"mace {ours * 1e3:.2f} ms, onnxruntime {theirs * 1e3:.2f} ms "
          f"(ratio {ours / theirs:.2f}); max |diff| {err:.1e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--isa", default=None, help="force an ISA (default: the best)")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--model", action="store_true", help="also time a whole MobileNetV2")
    parser.add_argument("--winograd", action="store_true",
                        help="also time 3x3 stride-1 layers with each conv algorithm")
    parser.add_argument("--cold", action="store_true",
                        help="evict the caches before each timed call (weights and activations "
                             "come from memory, as in a whole model)")
    parser.add_argument("--only", default="",
                        help="time only the layers whose name contains this text")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))

    import mace_cpu
    import numpy as np

    if args.isa:
        mace_cpu.set_isa(args.isa)
    if args.cold:
        global FLUSH
        FLUSH = np.zeros(64 << 18, np.float32)  # 64 MiB
    rng = np.random.default_rng(0)
    print(f"mace-cpu {mace_cpu.__version__}, isa {mace_cpu.isa()}, {args.threads} thread(s), "
          f"numpy BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}")
    header = (f"{'layer':26s} {'MFLOP':>7s} {'algo':>9s} {'ours ms':>8s} {'GFLOP/s':>8s} "
              f"{'numpy ms':>8s} {'GFLOP/s':>8s} {'ort ms':>7s} {'GFLOP/s':>8s}")
    print(header)
    print("-" * len(header))
    for name, x_shape, w_shape, attrs in LAYERS:
        if args.only not in name:
            continue
        print(measure_layer(name, x_shape, w_shape, attrs, args, rng))
    if args.winograd:
        measure_winograd(args, rng)
    if args.model:
        measure_model(args, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
