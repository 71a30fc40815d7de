"""The cpu device: plugin registration, probe details, ISA choice (MACE_CPU_ISA, set_isa),
a missing build, the version check and the thread pool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mace_core.errors import DeviceUnavailable, MaceError
from mace_core.ir import Layout
from mace_core.plugins import get_plugin_manager
from mace_core.registry import Registry
from mace_core.runtime.model import Model

import mace_cpu
from mace_cpu import native, threads

from cpu_helpers import node_graph, randn


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != native.ENV_VAR}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=120)


PROBE = """
from mace_core.errors import DeviceUnavailable
from mace_core.registry import default_registry
try:
    print("isa=" + default_registry().probe("cpu").details["isa"])
except DeviceUnavailable as exc:
    print("unavailable: " + str(exc))
"""


def test_plugin_registers_the_device_and_its_kernels():
    registry = Registry(get_plugin_manager())
    assert "cpu" in registry.devices
    ops = {key[1] for key, specs in registry.kernels.items()
           for spec in specs if spec.device == "cpu"}
    assert {"Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "Add",
            "Sub", "Mul", "Relu", "Clip", "Softmax"} <= ops
    assert all(spec.priority >= 10 and spec.prepare is not None
               for specs in registry.kernels.values() for spec in specs if spec.device == "cpu")


def test_probe_reports_isa_cores_caches_threads():
    caps = Registry(get_plugin_manager()).probe("cpu")
    assert caps.kind == "cpu" and caps.preferred_layout == Layout.NCHW
    details = caps.details
    assert details["isa"] == mace_cpu.isa()
    assert details["isas"].split(", ") == mace_cpu.supported_isas()
    assert details["cores"] >= 1 and details["threads"] >= 1
    if Path("/sys/devices/system/cpu/cpu0/cache").exists():
        assert details["L1_cache"] >= 4096 and details["L2_cache"] > details["L1_cache"]


def _cpuinfo_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def test_default_isa_is_the_best_supported(monkeypatch):
    monkeypatch.delenv(native.ENV_VAR, raising=False)
    supported = mace_cpu.supported_isas()
    assert supported[-1] == "scalar"
    assert mace_cpu.isa() == supported[0]
    flags, machine = _cpuinfo_flags(), os.uname().machine
    if machine == "x86_64" and flags:
        best = "avx512" if "avx512f" in flags else \
            "avx2" if {"avx2", "fma"} <= flags else "scalar"
        assert supported[0] == best
    elif machine == "aarch64":
        assert supported[0] == "neon"


def test_env_var_forces_each_supported_isa():
    for name in mace_cpu.supported_isas():
        result = python(PROBE, MACE_CPU_ISA=name)
        assert result.stdout.strip() == f"isa={name}", result.stderr


def test_env_var_with_an_unusable_isa_makes_the_device_unavailable():
    missing = [n for n in native.ISA_NAMES if n not in mace_cpu.supported_isas()]
    result = python(PROBE, MACE_CPU_ISA=missing[0])
    assert f"ISA {missing[0]!r} is not supported by this CPU" in result.stdout
    result = python(PROBE, MACE_CPU_ISA="sse9")
    assert "unknown ISA 'sse9'" in result.stdout


def test_set_isa_checks_the_cpu():
    missing = [n for n in native.ISA_NAMES if n not in mace_cpu.supported_isas()]
    with pytest.raises(mace_cpu.IsaError, match="not supported by this CPU"):
        mace_cpu.set_isa(missing[0])
    with pytest.raises(ValueError, match="unknown ISA"):
        mace_cpu.set_isa("mmx")
    mace_cpu.set_isa("scalar")
    assert mace_cpu.isa() == "scalar"


def test_missing_build_is_a_device_unavailable_with_the_fix():
    code = "import sys; sys.modules['mace_cpu._native'] = None\n" + PROBE + """
import numpy as np
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.dtypes import DType
from mace_core.runtime.model import Model
g = Graph("g", inputs=["x"], outputs=["y"])
g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (2,))
g.tensors["y"] = TensorDesc("y", DType.FLOAT32, (2,))
g.nodes = [Node("r", "Relu", ["x"], ["y"])]
s = Model(g).session(["cpu", "reference"])
print(s.run({"x": np.array([-1, 2], np.float32)})["y"], s.placement.devices)
"""
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert "unavailable: the compiled kernels (mace_cpu._native) cannot be imported" in \
        result.stdout
    assert "pip install -e plugins/mace_cpu" in result.stdout
    assert "[0. 2.] ['reference']" in result.stdout


def test_compiled_version_matches_the_package():
    ffi, lib = native.load()
    assert ffi.string(lib.mc_version()).decode() == mace_cpu.__version__


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_threads_come_from_one_pool_per_session_not_per_op():
    rng = np.random.default_rng(0)
    graph = node_graph("Conv", {"x": randn(rng, 1, 8, 16, 16), "w": randn(rng, 8, 8, 3, 3)},
                       constants=("w",), attrs={"pads": [1, 1, 1, 1]})
    graph.nodes[0].attrs["activation"] = "Relu"
    before = _os_threads()
    session = Model(graph).session(["cpu"], cpu_threads=5)
    assert session._runners[0].info["threads"] == 5
    after_prepare = _os_threads()
    assert after_prepare - before <= 4  # the caller is thread 0; at most 4 workers
    feeds = {"x": randn(rng, 1, 8, 16, 16)}
    for _ in range(5):
        session.run(feeds)
    assert _os_threads() == after_prepare
    assert threads.pool_for({"cpu_threads": 5}) is threads.pool_for({"cpu_threads": 5})


def test_default_thread_count_and_bad_values():
    assert threads.threads_option({}) == threads.default_threads()
    assert threads.threads_option({"cpu_threads": None}) == threads.default_threads()
    assert threads.threads_option({"cpu_threads": 3}) == 3
    graph = node_graph("Relu", {"x": np.zeros(3, np.float32)})
    with pytest.raises(MaceError, match="cpu_threads must be a positive integer"):
        Model(graph).session(["cpu"], cpu_threads="many")
    assert isinstance(native.NativeUnavailable("x"), DeviceUnavailable)


@pytest.mark.parametrize("count", [2, 3, 5])
@pytest.mark.parametrize("ntasks", [1, 2, 3, 7, 64, 257])
def test_pool_runs_every_task_once_homes_or_not(count, ntasks):
    """Each thread has a home range of the tasks and takes the others' from the back when
    done: every task runs, by some thread of the pool (the probe stamps it). Which thread
    runs which task is not asserted: on a busy machine any thread may take over any
    range."""
    ffi, lib = native.load()
    pool = threads.ThreadPool(count)
    for _ in range(3):
        cpu, thread = ffi.new(f"int[{ntasks}]"), ffi.new(f"int[{ntasks}]")
        for i in range(ntasks):
            thread[i] = -1
        assert lib.mc_threads_probe(pool.ptr, ntasks, cpu, thread) == 0
        ran = list(thread)
        assert all(0 <= t < count for t in ran), f"tasks not run or by no thread: {ran}"
