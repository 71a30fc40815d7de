#!/usr/bin/env python3
"""One engine in its own process, driven by ``run_models.py`` over stdin/stdout.

    python worker.py --engine onnxruntime --model-dir .cache/resnet50_224 --threads 2
    python worker.py --engine sgemm --threads 2          # numpy/BLAS 2048^3 sgemm peak

Startup: import the engine (timed apart), load the model and run it once (cold start =
session creation + first inference, import excluded), compare the outputs with the
reference, warm up, then print one JSON line ``{"event": "ready", ...}``. After that it
answers one JSON line per command read from stdin:

* ``{"cmd": "block", "seconds": S, "max_iters": N}``: time back-to-back inferences for S
  seconds (at least one, at most N) -> ``{"times_ms": [...]}``;
* ``{"cmd": "quit"}`` -> ``{"maxrss_mib": ..., "idle_cpu_s": ...}`` (plus ``profile_ms``,
  time per op type, from engines that can profile) and exit.

Engine libraries may print to stdout; the protocol uses a private copy of the original
stdout and fd 1 is pointed at stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SGEMM_N = 2048


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class SgemmRunner:
    """numpy ``a @ b`` on 2048x2048 float32 (BLAS threads from OPENBLAS_NUM_THREADS)."""

    def __init__(self) -> None:
        import numpy as np

        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((SGEMM_N, SGEMM_N), dtype=np.float32)
        self.b = rng.standard_normal((SGEMM_N, SGEMM_N), dtype=np.float32)
        self.c = np.empty_like(self.a)

    def prepare(self, feeds):
        return None

    def run(self, _):
        import numpy as np

        np.matmul(self.a, self.b, out=self.c)
        return [self.c]

    def info(self) -> dict:
        try:
            from threadpoolctl import threadpool_info

            return {"blas": [{k: v for k, v in lib.items() if k != "filepath"}
                             for lib in threadpool_info()]}
        except ImportError:
            return {}


def _compare(outputs, reference) -> tuple[float | None, bool | None]:
    """(max rel. error over outputs, same argmax of output 0) against the reference."""
    import numpy as np

    if reference is None:
        return None, None
    worst = 0.0
    for i, y in enumerate(outputs):
        key = f"out{i}"
        if key not in reference:
            continue
        ref = np.asarray(reference[key], np.float64).reshape(-1)
        got = np.asarray(y, np.float64).reshape(-1)
        if got.size != ref.size:
            return float("inf"), False
        scale = float(np.abs(ref).max()) or 1.0
        worst = max(worst, float(np.abs(got - ref).max() / scale))
    ref0 = np.asarray(reference["out0"]).reshape(-1)
    top1 = bool(ref0.size > 1 and int(np.argmax(outputs[0])) == int(np.argmax(ref0)))
    return worst, top1 if ref0.size > 1 else None


def startup(args) -> tuple[object, object, dict]:
    import numpy as np

    t0 = time.perf_counter()
    if args.engine == "sgemm":
        module, model, feeds, reference = None, None, None, None
    else:
        from engines import engine_module

        module = engine_module(args.engine)
        model = json.loads((args.model_dir / "manifest.json").read_text())
        model["dir"] = str(args.model_dir)
        with np.load(args.model_dir / "feeds.npz") as data:
            feeds = {k: data[k] for k in data.files}
        ref_path = args.model_dir / "reference.npz"
        reference = None
        if ref_path.is_file():
            with np.load(ref_path) as data:
                reference = {k: data[k] for k in data.files}
    import_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    runner = SgemmRunner() if module is None else module.load(model, args.threads)
    prepared = runner.prepare(feeds)
    outputs = runner.run(prepared)
    cold_ms = (time.perf_counter() - t0) * 1e3
    rel_err, top1 = _compare(outputs, reference)
    t0 = time.perf_counter()
    warm = 0
    while warm < args.warmup_min or (time.perf_counter() - t0 < args.warmup_s
                                     and warm < args.warmup_max):
        runner.run(prepared)
        warm += 1
    ready = {"event": "ready", "import_ms": import_ms, "cold_ms": cold_ms, "rel_err": rel_err,
             "top1": top1, "warmup_iters": warm, "info": runner.info(),
             "settings": getattr(module, "SETTINGS", "numpy matmul 2048x2048 float32")}
    return runner, prepared, ready


def serve(args, proto) -> int:
    def send(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    try:
        runner, prepared, ready = startup(args)
    except BaseException as exc:
        lines = traceback.format_exception_only(type(exc), exc)
        send({"event": "error", "error": "".join(lines).strip()[-600:]})
        traceback.print_exc()
        return 1
    send(ready)
    busy_cpu = 0.0
    cpu_at_ready = _cpu_s()
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            idle = _cpu_s() - cpu_at_ready - busy_cpu
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            reply = {"maxrss_mib": rss, "idle_cpu_s": max(0.0, idle)}
            if hasattr(runner, "profile"):  # per-op times, after everything else
                reply["profile_ms"] = runner.profile(prepared)
            send(reply)
            return 0
        cpu0 = _cpu_s()
        times = []
        deadline = time.perf_counter() + float(cmd["seconds"])
        try:
            while not times or (time.perf_counter() < deadline
                                and len(times) < int(cmd["max_iters"])):
                start = time.perf_counter_ns()
                runner.run(prepared)
                times.append((time.perf_counter_ns() - start) / 1e6)
        except Exception as exc:
            send({"event": "error", "error": f"{type(exc).__name__}: {exc}"[-600:]})
            return 1
        busy_cpu += _cpu_s() - cpu0
        send({"times_ms": times})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="one benchmark engine (see run_models.py)")
    parser.add_argument("--engine", required=True)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup-s", type=float, default=0.5)
    parser.add_argument("--warmup-min", type=int, default=2)
    parser.add_argument("--warmup-max", type=int, default=200)
    args = parser.parse_args()
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the engines print goes to stderr
    sys.stdout = sys.stderr
    return serve(args, proto)


if __name__ == "__main__":
    sys.exit(main())
