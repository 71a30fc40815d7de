#!/usr/bin/env python3
"""GPU benchmark of mace-gpu-opencl on an NVIDIA GPU (written for the H100), against
PyTorch eager (cuDNN, fp32, TF32 off), CUDA-graph replay and onnxruntime (CPU EP).

    python3 benchmarks/gpu_h100.py OUT [--site DIR] [--baseline-src DIR] [--skip a,b]

Runs, each in its own process (``--skip`` names phases to leave out):

* ``torch``: ``gpu_torch.py`` builds MobileNetV1 / V2 and ResNet-50 (batch 1, 224x224,
  seeded random weights), exports them to ONNX (opset 13) and times the references;
* ``ours``: ``gpu_ours.py models``: conversion, image vs buffer storage, untuned vs tuned,
  output checks against PyTorch, GPU time per kernel, and ResNet-50 with
  ``gpu_kernel_time_limit_ms`` 1 and 0.1 (splitting);
* ``baseline``: the same without tuning for the plugin source in ``--baseline-src``;
* ``overhead``: host time per launch (op chains), ours and baseline;
* ``layers``: ``gpu_layers.py``: single layers with every kernel variant (``--layers``,
  ``--families`` select; ``--models ''`` with ``--skip ours,baseline,overhead,cold`` runs
  just the layers and their cuDNN times);
* ``zoo``: ``gpu_zoo.py run``: the zoo models staged by ``gpu_zoo.py stage`` into
  ``--zoo`` (default ``.whl/zoo``: carried with the wheels), image / buffer / tuned against
  onnxruntime, outputs checked against the source framework's;
* ``cold``: cold starts with an empty program cache, the binary cache, and the binary
  cache plus the driver's cache;
* ``tests``: the GPU test files of ``--tests`` (default the Winograd tests, whose tensor-core
  variants PoCL cannot run, and the device probe's) with pytest on this GPU.

Python packages: ``mace_core``, ``mace_converters`` and ``mace_gpu_opencl`` come from the
source tree on ``PYTHONPATH``; ``--site`` (first on the path) gets the dist-info entry
points that register them. Writes ``OUT/gpu_h100.md``, ``OUT/gpu_h100.json`` and
``OUT/log.txt``.

On a machine with the NVIDIA driver, PyTorch, torchvision, onnx and onnxruntime but no
pyopencl (wheels for Python 3.12 downloaded beforehand into ``.whl/``: pyopencl, pytools,
platformdirs, siphash24, and cffi + pycparser for building mace-cpu there: the ``cpu``
phase, after which GPU sessions fall back to mace-cpu), from the repository root::

    mkdir -p /etc/OpenCL/vendors && echo libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    python3 benchmarks/gpu_h100.py OUT --site /tmp/site [--baseline-src OLD/plugin/src]

The whole run takes about three minutes on an H100.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLUGIN_SRC = ROOT / "plugins" / "mace_gpu_opencl" / "src"
CPU_SRC = ROOT / "plugins" / "mace_cpu" / "src"
PEAK_TFLOPS = 67.0  # H100 SXM5 FP32 (non-tensor), 132 SMs x 128 lanes x 2 x 1.98 GHz
sys.path.insert(0, str(HERE))

ENTRY_POINTS = {
    "mace_core": ["reference = mace_core.reference.plugin",
                  "core_passes = mace_core.passes.plugin",
                  "memory_planner = mace_core.memory.plugin"],
    "mace_converters": ["onnx = mace_converters.onnx_plugin"],
    "mace_gpu_opencl": ["gpu = mace_gpu_opencl.plugin"],
}


def write_dist_info(site: Path) -> None:
    """dist-info folders so that importlib.metadata finds our entry points."""
    for name, points in ENTRY_POINTS.items():
        folder = site / f"{name}-0.1.0.dist-info"
        folder.mkdir(parents=True, exist_ok=True)
        dist = name.replace("_", "-")
        (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\n"
                                         "Version: 0.1.0\n")
        (folder / "entry_points.txt").write_text("[mace_core]\n" + "\n".join(points) + "\n")


def build_cpu_plugin(site: Path, log: list[str]) -> bool:
    """Build mace-cpu's C kernels for this Python (cffi from ``--site``: carry its wheels)
    and register it, so that GPU sessions fall back to it rather than to the numpy
    reference, as on a device with both plugins installed. False (and why, in the log)
    when it cannot be built here."""
    env = dict(os.environ, PYTHONPATH=str(site))
    build = ROOT / "plugins" / "mace_cpu" / "build_ffi.py"
    text = run([sys.executable, str(build)], env, log, timeout=300)
    built = any((CPU_SRC / "mace_cpu").glob(
        f"_native.cpython-{sys.version_info.major}{sys.version_info.minor}*.so"))
    if built:
        ENTRY_POINTS["mace_cpu"] = ["cpu = mace_cpu.plugin"]
        write_dist_info(site)
    else:
        log.append(f"mace-cpu not built: {text[-300:]}")
    return built


def env_for(site: Path, plugin_src: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    path = [str(site), str(ROOT / "src"), str(ROOT / "converters" / "src"), str(plugin_src),
            str(CPU_SRC)]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run(cmd: list[str], env: dict[str, str], log: list[str], timeout: float = 400) -> str:
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        text = proc.stdout + proc.stderr
        status = f"rc {proc.returncode}"
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else str(exc.stdout)
        status = "timeout"
    line = f"[{time.perf_counter() - t:6.1f} s, {status}] {' '.join(cmd[1:3])}"
    print(line, flush=True)
    print("\n".join(text.splitlines()[-25:]), flush=True)
    log.append(line + "\n" + text)
    return text


def load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"error": f"{path.name}: {exc}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--site", type=Path, default=Path("/tmp/site"))
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_bench"))
    parser.add_argument("--skip", default="")
    parser.add_argument("--models", default="mobilenet_v1,mobilenet_v2,resnet50")
    parser.add_argument("--layers", default="", help="gpu_layers.py --layers (default all)")
    parser.add_argument("--families", default="auto,gemm,wino,direct",
                        help="gpu_layers.py --families")
    parser.add_argument("--layers-timeout", type=float, default=240)
    parser.add_argument("--zoo", type=Path, default=ROOT / ".whl" / "zoo",
                        help="zoo models staged by `gpu_zoo.py stage` (skipped when absent)")
    parser.add_argument("--zoo-timeout", type=float, default=300)
    parser.add_argument("--tests", default="test_conv_winograd.py,test_device.py",
                        help="files of plugins/mace_gpu_opencl/tests for the tests phase")
    parser.add_argument("--tests-k", default="", help="pytest -k of the tests phase")
    parser.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the queue / flush variants of the models")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    write_dist_info(args.site)
    py = sys.executable
    ours_env = env_for(args.site, PLUGIN_SRC, MACE_CACHE_DIR=str(args.work / "cache"))
    log: list[str] = []
    result: dict = {"peak_tflops": PEAK_TFLOPS, "time": time.strftime("%Y-%m-%d %H:%M")}
    result["cpu_plugin"] = "cpu" not in skip and build_cpu_plugin(args.site, log)
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,"
                              "clocks.sm,power.limit", "--format=csv,noheader"],
                             capture_output=True, text=True)
        result["nvidia_smi"] = smi.stdout.strip()
    except OSError as exc:
        result["nvidia_smi"] = str(exc)
    print(result["nvidia_smi"], flush=True)
    def save() -> None:
        from gpu_report import report

        (args.out / "gpu_h100.json").write_text(json.dumps(result, indent=1))
        (args.out / "log.txt").write_text("\n".join(log))
        (args.out / "gpu_h100.md").write_text(report(result))

    if "tests" not in skip:
        files = [str(PLUGIN_SRC.parent / "tests" / f) for f in args.tests.split(",") if f]
        select = ["-k", args.tests_k] if args.tests_k else []
        # mace_core's pytest plugin by name: the dist-info written here has no pytest11 entry
        text = run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mace_core.testing",
                    "-rs", *select, *files],
                   ours_env, log, timeout=300)
        found = re.findall(r"^=* ?(\d+ (?:passed|failed|error).*?) ?=*$", text, re.M)
        result["tests"] = {"files": f"{args.tests} -k '{args.tests_k}'" if args.tests_k
                           else args.tests, "summary": found[-1] if found else text[-300:]}
        save()
    if "torch" not in skip:
        run([py, str(HERE / "gpu_torch.py"), str(args.work), "--models", args.models],
            ours_env, log, timeout=180)
    result["torch"] = load(args.work / "torch.json")
    save()
    if "overhead" not in skip:
        run([py, str(HERE / "gpu_ours.py"), "overhead", str(args.work / "overhead.json")],
            ours_env, log, timeout=60)
        result["overhead"] = load(args.work / "overhead.json")
    if "ours" not in skip:
        run([py, str(HERE / "gpu_ours.py"), "models", str(args.work),
             str(args.work / "ours.json"), "--models", args.models,
             *(["--sweep"] if args.sweep else [])], ours_env, log, timeout=240)
        result["ours"] = load(args.work / "ours.json")
        save()
    if args.baseline_src and "baseline" not in skip:
        base_env = env_for(args.site, args.baseline_src,
                           MACE_CACHE_DIR=str(args.work / "cache_base"))
        run([py, str(HERE / "gpu_ours.py"), "overhead", str(args.work / "overhead_base.json")],
            base_env, log, timeout=60)
        result["overhead_baseline"] = load(args.work / "overhead_base.json")
        run([py, str(HERE / "gpu_ours.py"), "models", str(args.work),
             str(args.work / "ours_base.json"), "--no-tune", "--split-model", "none",
             "--runs", "30", "--models", args.models], base_env, log, timeout=120)
        result["baseline"] = load(args.work / "ours_base.json")
        save()
    if "layers" not in skip:
        run([py, str(HERE / "gpu_layers.py"), str(args.work / "layers.json"), "--layers",
             args.layers, "--families", args.families], ours_env, log,
            timeout=args.layers_timeout)
        result["layers"] = load(args.work / "layers.json")
        save()
    if "zoo" not in skip and args.zoo and args.zoo.is_dir():
        run([py, str(HERE / "gpu_zoo.py"), "run", str(args.zoo), str(args.work / "zoo.json")],
            ours_env, log, timeout=args.zoo_timeout)
        result["zoo"] = load(args.work / "zoo.json")
        save()
    if "cold" not in skip:
        result["cold"] = cold_starts(py, args, log)
    save()
    print((args.out / "gpu_h100.md").read_text())


def cold_starts(py: str, args, log: list[str]) -> dict:
    """Cold start of each model in a fresh process: no caches; our binary cache (driver
    cache off); binary cache plus the driver's compute cache (second start)."""
    results: dict = {}
    for model in ("mobilenet_v2", "resnet50"):
        if not (args.work / f"{model}.graph.pkl").exists():
            continue
        cache = args.work / f"cold_{model}"
        base = {"MACE_CACHE_DIR": str(cache), "PYOPENCL_NO_CACHE": "1"}
        nvcache = {"CUDA_CACHE_DISABLE": "1"}
        cases = [("no_cache", {**base, **nvcache}), ("binary_cache", {**base, **nvcache}),
                 ("binary_and_driver_cache_1", base), ("binary_and_driver_cache", base)]
        results[model] = {}
        for label, extra in cases:
            env = env_for(args.site, PLUGIN_SRC, **extra)
            text = run([py, str(HERE / "gpu_ours.py"), "cold", str(args.work), model],
                       env, log, timeout=90)
            found = re.search(r"^COLD (.*)$", text, re.M)
            results[model][label] = json.loads(found.group(1)) if found else {"error": text[-500:]}
    return results


if __name__ == "__main__":
    main()
