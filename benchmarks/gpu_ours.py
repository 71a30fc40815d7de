"""Our side of the GPU benchmark (``gpu_h100.py``): mace-gpu-opencl on the exported networks.

    python3 benchmarks/gpu_ours.py models WORK OUT.json [--models a,b] [--storages image,buffer]
                                  [--no-tune] [--split-model resnet50] [--runs N]
    python3 benchmarks/gpu_ours.py cold WORK MODEL       # one cold start, JSON on stdout
    python3 benchmarks/gpu_ours.py overhead OUT.json     # host time per launch (op chains)

``models`` converts ``WORK/<model>.onnx`` (import + optimize), checks the output against
the PyTorch output in ``WORK/<model>.npz`` and times ``session.run`` (wall clock, numpy in
and out) untuned and tuned (``tune_graph``), with a traced run giving the GPU time of every
launch from its profiling events; ``--sweep`` also times other launch paths (see
:func:`sweep`), and the ``--split-model`` runs with ``gpu_kernel_time_limit_ms`` 1 and
0.02. It also pickles the graph for ``cold``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

T_START = time.perf_counter()


def stats_ms(times_s: list[float]) -> dict[str, float]:
    ms = sorted(t * 1e3 for t in times_s)
    return {"median_ms": statistics.median(ms), "p90_ms": ms[int(0.9 * (len(ms) - 1))],
            "min_ms": ms[0], "runs": len(ms)}


def convert(onnx_path: Path):
    from mace_core.pipeline import import_model, optimize
    from mace_core.specs import ConvertOptions

    graph = import_model(onnx_path, ConvertOptions())
    optimize(graph)
    return graph


def rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))


def trace_run(gpu, session, feeds) -> dict:
    """GPU time of one run from the launches' events: total, per kernel, slowest."""
    gpu.trace = []
    gpu.profile_all = True  # the upload too: no queue switch inside the run
    try:
        session.run(feeds)
        gpu.finish()
        records = list(gpu.trace)
    finally:
        gpu.trace = None
        gpu.profile_all = False
    per: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    chunks = []
    for r in records:
        per[r.name][0] += r.ms
        per[r.name][1] += 1
        chunks += [c.ms for c in r.chunks]
    slowest = sorted(records, key=lambda r: -r.ms)[:6]
    return {"gpu_ms": sum(r.ms for r in records), "launches": len(records),
            "enqueues": len(chunks), "max_chunk_ms": max(chunks, default=0.0),
            "split_launches": sum(len(r.chunks) > 1 for r in records),
            "per_kernel": {k: {"ms": v[0], "count": v[1]} for k, v in
                           sorted(per.items(), key=lambda kv: -kv[1][0])},
            "slowest": [{"name": r.name, "gws": list(r.gws), "local": r.local, "ms": r.ms}
                        for r in slowest]}


def measure(gpu, session, feeds, ref, runs: int, warmup: int = 10) -> dict:
    """Wall-clock stats of ``session.run``; ``rel_err`` is the worse of the first run and
    a run after one on another input (stale data from an earlier run would show)."""
    out = session.run(feeds)
    name = next(iter(out))
    err = rel_err(out[name], ref)
    session.run({k: np.flip(v).copy() for k, v in feeds.items()})
    err = max(err, rel_err(session.run(feeds)[name], ref))
    for _ in range(warmup):
        session.run(feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(feeds)
        times.append(time.perf_counter() - t)
    result = stats_ms(times)
    result["rel_err"] = err
    result["trace"] = trace_run(gpu, session, feeds)
    return result


SWEEP = [("default", {}), ("pyopencl_enqueue", {"raw": None}),
         ("profiling_queue", {"profile_all": True}), ("flush_every_2", {"flush_every": 2}),
         ("flush_every_4", {"flush_every": 4}), ("flush_every_8", {"flush_every": 8}),
         ("flush_every_16", {"flush_every": 16}), ("flush_50us", {"flush_interval": 50e-6}),
         ("flush_100us", {"flush_interval": 100e-6}),
         ("flush_200us", {"flush_interval": 200e-6})]


def sweep(gpu, session, feeds, runs: int = 25, rounds: int = 3) -> dict:
    """Median latency of the same session with other launch paths (pyopencl's enqueue
    with an event per launch, every launch on the profiling queue, queue flushes every N
    launches or every T microseconds), interleaved over ``rounds`` rounds."""
    keep = {k: getattr(gpu, k) for k in ("raw", "profile_all", "flush_every",
                                         "flush_interval")}
    samples: dict[str, list[float]] = {label: [] for label, _ in SWEEP}
    for _ in range(rounds):
        for label, changes in SWEEP:
            for k, v in {**keep, **changes}.items():
                setattr(gpu, k, v)
            for _ in range(3):
                session.run(feeds)
            for _ in range(runs):
                t = time.perf_counter()
                session.run(feeds)
                samples[label].append(time.perf_counter() - t)
    for k, v in keep.items():
        setattr(gpu, k, v)
    gpu.finish()
    out = {label: statistics.median(v) * 1e3 for label, v in samples.items()}
    print("sweep " + json.dumps({k: round(v, 3) for k, v in out.items()}), flush=True)
    return out


def bench_models(args) -> dict:
    from mace_gpu_opencl.device import get_runtime
    from mace_gpu_opencl.tuning import tune_graph

    from mace_core.runtime.model import Model

    gpu = get_runtime()
    results: dict = {"device": gpu.info.details(), "models": {}}
    for name in args.models.split(","):
        entry: dict = {}
        results["models"][name] = entry
        try:
            t = time.perf_counter()
            graph = convert(args.work / f"{name}.onnx")
            entry["convert_s"] = time.perf_counter() - t
            (args.work / f"{name}.graph.pkl").write_bytes(pickle.dumps(graph))
            data = np.load(args.work / f"{name}.npz")
            feeds, ref = {graph.inputs[0]: data["x"]}, data["y"]
            entry["nodes"] = len(graph.nodes)
            ops: dict[str, int] = defaultdict(int)
            for node in graph.nodes:
                ops[node.op_type] += 1
            entry["ops"] = dict(ops)
            for storage in args.storages.split(","):
                t = time.perf_counter()
                session = Model(graph).session(["gpu", "reference"], gpu_storage=storage)
                entry[f"{storage}_session_s"] = time.perf_counter() - t
                entry["placement"] = sorted({s.device for s in session.placement.steps})
                entry[f"{storage}_untuned"] = measure(gpu, session, feeds, ref, args.runs)
                print(f"ours {name} {storage} untuned "
                      f"{entry[f'{storage}_untuned']['median_ms']:.3f} ms", flush=True)
                if args.tune:
                    path = args.work / f"tuning_{storage}.json"
                    t = time.perf_counter()
                    tune_graph(graph, path, storage=storage)
                    entry[f"{storage}_tune_s"] = time.perf_counter() - t
                    session = Model(graph).session(["gpu", "reference"], gpu_storage=storage,
                                                   gpu_tuning_file=str(path))
                    entry[f"{storage}_tuned"] = measure(gpu, session, feeds, ref, args.runs)
                    print(f"ours {name} {storage} tuned "
                          f"{entry[f'{storage}_tuned']['median_ms']:.3f} ms", flush=True)
                    if args.sweep:
                        entry[f"{storage}_sweep"] = sweep(gpu, session, feeds)
            if name == args.split_model:
                entry["split"] = {}
                storage = args.storages.split(",")[0]
                for limit in (1.0, 0.02):
                    session = Model(graph).session(["gpu", "reference"], gpu_storage=storage,
                                                   gpu_kernel_time_limit_ms=limit)
                    for _ in range(10):  # first run measures, then calibration runs
                        session.run(feeds)
                    entry["split"][str(limit)] = measure(gpu, session, feeds, ref, args.runs)
        except Exception as exc:  # noqa: BLE001 - keep the other models' numbers
            import traceback

            entry["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
    return results


def cold(args) -> dict:
    """Import, graph load, session creation (program builds) and the first two runs."""
    t0 = time.perf_counter()
    from mace_gpu_opencl.device import get_runtime

    from mace_core.runtime.model import Model

    gpu = get_runtime()
    t1 = time.perf_counter()
    graph = pickle.loads((args.work / f"{args.model}.graph.pkl").read_bytes())
    data = np.load(args.work / f"{args.model}.npz")
    feeds = {graph.inputs[0]: data["x"]}
    t2 = time.perf_counter()
    session = Model(graph).session(["gpu", "reference"], gpu_storage="image")
    t3 = time.perf_counter()
    session.run(feeds)
    t4 = time.perf_counter()
    session.run(feeds)
    t5 = time.perf_counter()
    return {"import_s": t1 - t0 + (t0 - T_START), "load_s": t2 - t1, "session_s": t3 - t2,
            "first_run_s": t4 - t3, "second_run_s": t5 - t4,
            "to_first_result_s": t4 - t2, "programs": dict(gpu.programs.stats)}


def overhead(args) -> dict:
    """Host time per GPU op: chains of small ops whose GPU time is negligible."""
    from mace_gpu_opencl.device import get_runtime

    from mace_core.dtypes import DType
    from mace_core.ir import Graph, Node, TensorDesc
    from mace_core.registry import default_registry
    from mace_core.runtime.model import Model
    from mace_core.shape_inference import infer_shapes

    gpu = get_runtime()
    results: dict = {"extensions": gpu.device.extensions.split(),
                     "enqueue_us": enqueue_cost(gpu)}
    for kind, count in (("Relu", 100), ("Conv1x1", 100)):
        graph = Graph(kind, outputs=[f"t{count}"])
        graph.inputs.append("t0")
        graph.tensors["t0"] = TensorDesc("t0", DType.FLOAT32, (1, 16, 8, 8))
        w = graph.add_constant("w", np.eye(16, dtype=np.float32).reshape(16, 16, 1, 1))
        for i in range(count):
            if kind == "Relu":
                graph.nodes.append(Node(f"n{i}", "Relu", [f"t{i}"], [f"t{i + 1}"]))
            else:
                graph.nodes.append(Node(f"n{i}", "Conv", [f"t{i}", w], [f"t{i + 1}"],
                                        {"activation": "Relu"}))
        infer_shapes(graph, default_registry())
        session = Model(graph).session(["gpu"])
        feeds = {"t0": np.ones((1, 16, 8, 8), np.float32)}
        modes = {}
        for mode in ("default", "pyopencl_enqueue", "profiling_queue"):
            raw = getattr(gpu, "raw", None)
            gpu.raw = None if mode != "default" else raw
            gpu.profile_all = mode == "profiling_queue"
            for _ in range(10):
                session.run(feeds)
            times = []
            for _ in range(50):
                t = time.perf_counter()
                session.run(feeds)
                times.append(time.perf_counter() - t)
            gpu.raw, gpu.profile_all = raw, False
            modes[mode] = statistics.median(times) * 1e6 / count
        gpu.finish()
        trace = trace_run(gpu, session, feeds)
        results[kind] = {"ops": count, "gpu_ms": trace["gpu_ms"],
                         "us_per_op": modes["default"], "modes_us_per_op": modes}
        print(f"overhead {kind}: {json.dumps(modes)} (GPU {trace['gpu_ms']:.3f} ms"
              f" for {count})", flush=True)
    return results


def enqueue_cost(gpu, count: int = 2000) -> dict:
    """Host microseconds per enqueue of a tiny kernel, by path (args set once)."""
    cl = gpu.cl
    prg = cl.Program(gpu.context, "__kernel void k(__global float *a, int n) "
                     "{ if (get_global_id(0) < n) a[get_global_id(0)] = 1.0f; }").build()
    kernel = cl.Kernel(prg, "k")
    buf = cl.Buffer(gpu.context, cl.mem_flags.READ_WRITE, 4096)
    kernel.set_args(buf, np.int32(64))
    out: dict = {}
    if not hasattr(gpu, "plain_queue"):  # an older plugin: one profiling queue
        return out
    paths = {"pyopencl_plain": gpu.plain_queue, "pyopencl_profiling": gpu.profiling_queue}
    for label, queue in paths.items():
        queue.finish()
        t = time.perf_counter()
        for _ in range(count):
            cl.enqueue_nd_range_kernel(queue, kernel, (64,), (64,))
        out[label] = (time.perf_counter() - t) / count * 1e6
        queue.finish()
    if gpu.raw is not None:
        gws, local = gpu.raw.sizes((64,)), gpu.raw.sizes((64,))
        gpu.plain_queue.finish()
        t = time.perf_counter()
        for _ in range(count):
            gpu.raw(gpu.plain_queue.int_ptr, kernel.int_ptr, 1, gws, local)
        out["raw_plain"] = (time.perf_counter() - t) / count * 1e6
        gpu.plain_queue.finish()
    print("enqueue us " + json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["models", "cold", "overhead"])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--models", default="mobilenet_v1,mobilenet_v2,resnet50")
    parser.add_argument("--storages", default="image,buffer")
    parser.add_argument("--no-tune", dest="tune", action="store_false")
    parser.add_argument("--split-model", default="resnet50")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--sweep", action="store_true", help="flush / queue variants")
    args = parser.parse_args()
    if args.what == "models":
        args.work, out = Path(args.paths[0]), Path(args.paths[1])
        out.write_text(json.dumps(bench_models(args), indent=1))
    elif args.what == "cold":
        args.work, args.model = Path(args.paths[0]), args.paths[1]
        print("COLD " + json.dumps(cold(args)))
    else:
        Path(args.paths[0]).write_text(json.dumps(overhead(args), indent=1))


if __name__ == "__main__":
    sys.exit(main())
