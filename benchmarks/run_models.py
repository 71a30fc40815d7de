#!/usr/bin/env python3
"""The CPU model benchmark: our engine against onnxruntime, LiteRT, ncnn and MNN.

    benchmarks/setup.sh                                   # once: the benchmark venv
    benchmarks/.venv/bin/python benchmarks/run_models.py  # everything (10-20 minutes)
    python benchmarks/run_models.py --quick --models ppocr-v2-cls --engines mace,onnxruntime

For each model and thread count, every engine runs in its own worker process
(``worker.py``), started one after another (cold start is measured alone), then timed in
rounds: each round gives each engine, and a numpy sgemm, one block of back-to-back
inferences, in an order that rotates from round to round. Latency is the median / p90 of
all timed iterations. GFLOP/s = 2 x (conv + depthwise + dense MACs of our IR graph) /
median; % peak is that over the sgemm GFLOP/s measured in the same rounds.

Writes ``<out-dir>/<tag>-cpu.md``, ``.json`` and ``.png`` (tag: today's date).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from engines import ENGINES, PEERS  # noqa: E402
from models import DEFAULT_CACHE, all_model_names, load_manifest  # noqa: E402

ENGINE_LIBS = {"mace": "mace_core", "onnxruntime": "onnxruntime",
               "litert": "ai_edge_litert", "ncnn": "ncnn", "mnn": "MNN"}
FORMATS = {"mace": "mace_pb", "onnxruntime": "onnx", "litert": "tflite",
           "ncnn": "ncnn_param", "mnn": "mnn"}
FAILURE_KEYS = {"mace": "mace", "onnxruntime": "onnx", "litert": "tflite", "ncnn": "ncnn",
                "mnn": "mnn"}
ONNX_ONLY_SKIP = ("litert", "ncnn", "mnn")  # zoo models are benchmarked from ONNX only
SGEMM_FLOP = 2 * 2048 ** 3
STARTUP_TIMEOUT_S = 900
BLOCK_TIMEOUT_S = 600
PAUSE_S = 0.05  # between blocks: lets the last engine's spinning threads go to sleep


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Worker:
    """A running ``worker.py`` process and its JSON-lines protocol."""

    def __init__(self, python: str, engine: str, model_dir: Path | None, threads: int,
                 log_path: Path, quick: bool) -> None:
        self.engine = engine
        self.log_path = log_path
        cmd = [python, str(HERE / "worker.py"), "--engine", engine, "--threads", str(threads)]
        if model_dir is not None:
            cmd += ["--model-dir", str(model_dir)]
        if quick:
            cmd += ["--warmup-s", "0", "--warmup-min", "1"]
        env = dict(os.environ)
        # numpy's OpenBLAS runs its own kernels for this CPU (these variables force older,
        # slower ones on some machines); BLAS/OpenMP threads follow the thread count.
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        # OpenBLAS threads sleep right after a call (2^4 cycles of spinning, not the default
        # 2^28: ~60 ms here, longer than PAUSE_S): the sgemm worker's threads otherwise kept
        # one core busy into the next engine's block
        env["OPENBLAS_THREAD_TIMEOUT"] = "4"
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, env=env, cwd=HERE)

    def receive(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close(kill=True)
            tail = self.log_tail()
            raise RuntimeError(f"worker died or timed out{': ' + tail if tail else ''}")
        reply = json.loads(line)
        if reply.get("event") == "error":
            self.close(kill=True)
            raise RuntimeError(reply["error"])
        return reply

    def send(self, obj: dict) -> None:
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def log_tail(self) -> str:
        self._log.flush()
        lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines()
                 if ln.strip()]
        return " | ".join(lines[-3:])[-500:]

    def close(self, kill: bool = False) -> None:
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def measure(model: dict, engines: list[str], threads: int, args) -> tuple[list[dict], dict]:
    """Interleaved rounds for one model and thread count; returns (rows, sgemm stats)."""
    model_dir = Path(model["dir"])
    logs = args.cache_dir / "logs"
    rows: dict[str, dict] = {}
    workers: dict[str, Worker] = {}
    for engine in ["sgemm", *engines]:
        row = {"model": model["name"], "engine": engine, "threads": threads}
        rows[engine] = row
        log(f"{model['name']} T={threads}: starting {engine}")
        worker = Worker(args.python, engine, None if engine == "sgemm" else model_dir, threads,
                        logs / f"{model['name']}-{engine}-T{threads}.log", args.quick)
        try:
            ready = worker.receive(STARTUP_TIMEOUT_S)
        except RuntimeError as exc:
            row.update(status="failed", reason=str(exc))
            continue
        row.update({k: ready[k] for k in ("import_ms", "cold_ms", "rel_err", "top1", "info",
                                          "settings", "warmup_iters")}, samples=[])
        workers[engine] = worker
    names = list(workers)
    for r in range(args.rounds):
        shift = r % max(1, len(names))
        for engine in names[shift:] + names[:shift]:
            worker = workers.get(engine)
            if worker is None:
                continue
            time.sleep(PAUSE_S)
            try:
                worker.send({"cmd": "block", "seconds": args.block_s,
                             "max_iters": args.max_iters})
                rows[engine]["samples"] += worker.receive(BLOCK_TIMEOUT_S)["times_ms"]
            except (RuntimeError, OSError) as exc:
                rows[engine].update(status="failed", reason=f"round {r}: {exc}")
                workers.pop(engine)
    for engine, worker in workers.items():
        try:
            worker.send({"cmd": "quit"})
            rows[engine].update(worker.receive(60))
        except (RuntimeError, OSError) as exc:
            rows[engine].setdefault("reason", f"at exit: {exc}")
        worker.close()
    for row in rows.values():
        samples = np.asarray(row.pop("samples", []), np.float64)
        if row.get("status") == "failed" or not samples.size:
            row.setdefault("status", "failed")
            continue
        row.update(status="ok", n=int(samples.size), median_ms=float(np.median(samples)),
                   p90_ms=float(np.percentile(samples, 90)), mean_ms=float(samples.mean()),
                   min_ms=float(samples.min()))
    sgemm = rows.pop("sgemm")
    if sgemm.get("status") == "ok":
        sgemm["gflops"] = SGEMM_FLOP / (sgemm["median_ms"] * 1e-3) / 1e9
        sgemm["best_gflops"] = SGEMM_FLOP / (sgemm["min_ms"] * 1e-3) / 1e9
    return list(rows.values()), sgemm


def derive(rows: list[dict], model: dict, sgemm: dict) -> None:
    """GFLOP/s, % of the sgemm peak, ratios to onnxruntime and to the fastest peer."""
    macs = model.get("macs") or {}
    total = sum(macs.values()) if macs else None
    ok = {r["engine"]: r for r in rows if r["status"] == "ok"}
    peers = {e: r["median_ms"] for e, r in ok.items() if e in PEERS}
    best_peer = min(peers, key=peers.get) if peers else None
    for row in ok.values():
        if total:
            row["gflops"] = 2 * total / (row["median_ms"] * 1e-3) / 1e9
            if sgemm.get("gflops"):
                row["pct_peak"] = 100 * row["gflops"] / sgemm["gflops"]
        if "onnxruntime" in ok:
            row["x_onnxruntime"] = row["median_ms"] / ok["onnxruntime"]["median_ms"]
        if best_peer:
            row["best_peer"] = best_peer
            row["x_best_peer"] = row["median_ms"] / peers[best_peer]


def usable_engines(wanted: list[str], python: str) -> tuple[list[str], dict[str, str]]:
    """Engines whose library the worker interpreter can import (checked without importing)."""
    code = ("import importlib.util, json, sys; print(json.dumps({n: importlib.util.find_spec(n)"
            " is not None for n in sys.argv[1:]}))")
    libs = [ENGINE_LIBS[e] for e in wanted]
    if python == sys.executable:
        found = {lib: importlib.util.find_spec(lib) is not None for lib in libs}
    else:
        found = json.loads(subprocess.run([python, "-c", code, *libs], capture_output=True,
                                          text=True, check=True).stdout)
    missing = {e: f"{ENGINE_LIBS[e]} is not installed (benchmarks/setup.sh makes a venv "
               "with every engine)" for e in wanted if not found[ENGINE_LIBS[e]]}
    return [e for e in wanted if e not in missing], missing


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="all",
                        help=f"comma-separated, or 'all' ({', '.join(all_model_names())})")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help=f"comma-separated subset of {', '.join(ENGINES)}")
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 10; quick 2)")
    parser.add_argument("--block-s", type=float,
                        help="seconds per engine per round (default 0.6; quick 0.05)")
    parser.add_argument("--max-iters", type=int, help="iterations per block at most")
    parser.add_argument("--quick", action="store_true",
                        help="few iterations, no warm-up: a smoke test, not a measurement")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    parser.add_argument("--tag", default=datetime.date.today().isoformat(),
                        help="output file prefix (default: today's date)")
    parser.add_argument("--no-build", action="store_true", help="use the cache as it is")
    parser.add_argument("--python", default=sys.executable, help="interpreter for workers")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 10)
    args.block_s = args.block_s if args.block_s is not None else (0.05 if args.quick else 0.6)
    args.max_iters = args.max_iters or (3 if args.quick else 400)
    args.threads = [int(t) for t in args.threads.split(",")]
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    args.models = all_model_names() if args.models == "all" else args.models.split(",")
    bad = sorted(set(args.engines) - set(ENGINES)) + sorted(set(args.models)
                                                            - set(all_model_names()))
    if bad:
        parser.error(f"unknown engines/models: {', '.join(bad)}")
    return args


def main(argv: list[str] | None = None) -> int:
    from report import write_reports

    args = parse_args(argv)
    started = time.time()
    load_start = round(os.getloadavg()[0], 2)
    if not args.no_build:
        log(f"building {', '.join(args.models)}")
        subprocess.run([args.python, str(HERE / "models.py"), "--models", ",".join(args.models),
                        "--cache-dir", str(args.cache_dir)], check=True,
                       stdout=sys.stderr)
    # Our packages are imported from the source tree (editable installs), which has no
    # bytecode where PYTHONDONTWRITEBYTECODE is set: compile it, as installing a wheel does
    # for the peers, or every worker's cold start would include compiling ~100 modules.
    sources = [ROOT / "src", ROOT / "converters" / "src", *sorted(ROOT.glob("plugins/*/src"))]
    subprocess.run([args.python, "-m", "compileall", "-q", *map(str, sources)],
                   check=False, stdout=sys.stderr)
    engines, unavailable = usable_engines(args.engines, args.python)
    results: dict = {"rows": [], "sgemm": [], "models": {}, "unavailable_engines": unavailable,
                     "settings": {k: (str(v) if isinstance(v, Path) else v)
                                  for k, v in vars(args).items()}}
    for name in args.models:
        model = load_manifest(args.cache_dir, name)
        results["models"][name] = {k: model.get(k) for k in (
            "source", "inputs", "macs", "params", "failures", "mace_ops", "reference_from",
            "onnx_check_rel_err", "description")}
        runnable = [e for e in engines if FORMATS[e] in model["files"]]
        for engine in engines:
            if engine in runnable or (model["source"] == "zoo" and engine in ONNX_ONLY_SKIP):
                continue
            failures = model.get("failures", {})
            why = (failures.get(FAILURE_KEYS[engine]) or failures.get("all")
                   or f"no {FORMATS[engine]} file")
            results["rows"] += [{"model": name, "engine": engine, "threads": t,
                                 "status": "not built", "reason": why} for t in args.threads]
        for threads in args.threads:
            rows, sgemm = measure(model, runnable, threads, args)
            derive(rows, model, sgemm)
            results["rows"] += rows
            results["sgemm"].append({"model": name, "threads": threads, **sgemm,
                                     "loadavg_1m": round(os.getloadavg()[0], 2)})
            for row in rows:
                ms = f"{row['median_ms']:.2f} ms" if row["status"] == "ok" else row["reason"]
                log(f"  {name} T={threads} {row['engine']}: {ms}")
    results["elapsed_s"] = round(time.time() - started, 1)
    results["loadavg_1m"] = {"start": load_start, "end": round(os.getloadavg()[0], 2)}
    paths = write_reports(results, args.out_dir, args.tag)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
