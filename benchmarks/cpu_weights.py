#!/usr/bin/env python3
"""fp32 vs fp16 weights in the mace-cpu plans (``cpu_weight_dtype``) on converted models.

    python benchmarks/cpu_weights.py MODEL.pb [MODEL.pb ...] [--threads 1] [--rounds 40]
    python benchmarks/cpu_weights.py --mlp 1      # 4 fully connected 2048x2048 layers, M = 1

Per model: the bytes of weights the cpu plans hold, best and median latency of the two
sessions run in turn (same process, same inputs: ``feeds.npz`` beside the model directory
when there is one, else random), and the output difference: fp16 vs fp32 plans, and fp16
plans vs fp32 plans of the model whose Gemm / MatMul / Conv weights were rounded to fp16
first (0 when only the weights' rounding differs). ``MACE_CPU_ISA`` picks the ISA.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DTYPES = ("float32", "float16")


def weight_bytes(session) -> dict[str, int]:
    """Plan weight bytes by dtype over the session's cpu kernels."""
    out: dict[str, int] = {}
    for runner in session._runners:
        info = getattr(runner, "info", {})
        if "weight_bytes" in info:
            out[info["weight_dtype"]] = out.get(info["weight_dtype"], 0) + info["weight_bytes"]
    return out


def mlp(rows: int):
    """A Model of 4 Gemm layers 2048 x 2048 (ReLU between) on ``rows`` rows, and its feeds."""
    from mace_core.dtypes import DType
    from mace_core.ir import Graph, Node, TensorDesc
    from mace_core.registry import default_registry
    from mace_core.runtime.model import Model
    from mace_core.shape_inference import infer_shapes

    rng = np.random.default_rng(0)
    g = Graph(f"mlp{rows}")
    g.inputs, g.outputs = ["x"], ["y3"]
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (rows, 2048))
    prev = "x"
    for i in range(4):
        g.add_constant(f"w{i}", (rng.standard_normal((2048, 2048)) / 45).astype(np.float32))
        g.add_constant(f"b{i}", rng.standard_normal(2048).astype(np.float32))
        attrs = {"activation": "Relu"} if i < 3 else {}
        g.nodes.append(Node(f"fc{i}", "Gemm", [prev, f"w{i}", f"b{i}"], [f"y{i}"], attrs))
        prev = f"y{i}"
    infer_shapes(g, default_registry())
    return Model(g), {"x": rng.standard_normal((rows, 2048)).astype(np.float32)}


def rounded_model(model, session):
    """The model with the weights the fp16 session keeps as fp16 rounded to fp16."""
    from mace_core.ir import Graph
    from mace_core.runtime.model import Model

    g = model.graph
    constants = dict(g.constants)
    for step, runner in zip(session.placement.steps, session._runners, strict=True):
        if getattr(runner, "info", {}).get("weight_dtype") == "float16":
            name = step.node.inputs[1]
            constants[name] = g.constants[name].astype(np.float16).astype(np.float32)
    return Model(Graph(g.name, g.nodes, g.inputs, g.outputs, g.tensors, constants, g.metadata))


def compare(name: str, model, feeds, threads: int, rounds: int) -> None:
    devices = ["cpu", "reference"]
    sessions = {dt: model.session(devices, cpu_threads=threads, cpu_weight_dtype=dt)
                for dt in DTYPES}
    outs = {dt: s.run(feeds) for dt, s in sessions.items()}
    times: dict[str, list[float]] = {dt: [] for dt in DTYPES}
    for _ in range(rounds):
        for dt, s in sessions.items():
            start = time.perf_counter()
            s.run(feeds)
            times[dt].append((time.perf_counter() - start) * 1e3)
    ref = rounded_model(model, sessions["float16"]).session(
        devices, cpu_threads=threads, cpu_weight_dtype="float32").run(feeds)
    print(f"{name} ({threads} thread(s), {rounds} rounds):")
    for dt in DTYPES:
        sizes = ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in weight_bytes(sessions[dt]).items())
        print(f"  {dt}: plan weights {sizes}; best {min(times[dt]):.2f} ms, "
              f"median {np.median(times[dt]):.2f} ms")
    for out in outs["float32"]:
        a, b, c = outs["float32"][out], outs["float16"][out], ref[out]
        scale = float(np.abs(a).max()) or 1.0
        print(f"  {out}: |fp16 - fp32| max {np.abs(a - b).max():.2e} "
              f"(rel {np.abs(a - b).max() / scale:.1e}); |fp16 - fp32 on rounded weights| "
              f"max {np.abs(b - c).max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, metavar="MODEL.pb")
    parser.add_argument("--mlp", type=int, metavar="ROWS", help="the synthetic FC model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    import mace_cpu

    import mace_core

    print(f"mace-cpu {mace_cpu.__version__}, isa {mace_cpu.isa()}")
    if args.mlp:
        model, feeds = mlp(args.mlp)
        compare(f"mlp 4 x 2048x2048, M={args.mlp}", model, feeds, args.threads, args.rounds)
    for path in args.models:
        model = mace_core.load(path)
        npz = path.parent.parent / "feeds.npz"
        feeds = dict(np.load(npz)) if npz.exists() else model.session(["reference"]
                                                                      ).random_inputs()
        compare(path.parent.parent.name, model, feeds, args.threads, args.rounds)


if __name__ == "__main__":
    main()
