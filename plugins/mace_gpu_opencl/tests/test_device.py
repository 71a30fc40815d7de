"""The plugin and the device: registration, probing, device selection, and what happens
without pyopencl or without an OpenCL platform."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mace_core.errors import DeviceUnavailable

BLOCK_PYOPENCL = textwrap.dedent("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "pyopencl" or name.startswith("pyopencl."):
                raise ImportError("No module named 'pyopencl'", name="pyopencl")
    sys.meta_path.insert(0, Block())
""")


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_plugin_registers_device_and_kernels(mace_registry):
    assert "gpu" in mace_registry.devices
    status = {s.name: s for s in mace_registry.plugin_status}
    assert status["gpu"].state == "loaded" and status["gpu"].distribution == "mace-gpu-opencl"
    ops = {key[1] for key, specs in mace_registry.kernels.items()
           if any(k.device == "gpu" for k in specs)}
    for op in ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Add", "Mul", "Relu",
               "Clip", "Sigmoid", "HardSwish", "Concat", "Softmax", "Gemm", "MatMul",
               "Resize", "DepthToSpace", "Pad", "ReduceMean", "BatchNormalization"):
        assert op in ops, op


def test_probe_reports_the_device(gpu, mace_registry):
    caps = mace_registry.probe("gpu")
    assert caps.kind == "gpu" and gpu.info.name in caps.description
    for key in ("platform", "device", "driver", "compute_units", "max_work_group_size",
                "global_mem_mb", "local_mem_kb", "images", "image2d_max", "cl_khr_fp16"):
        assert key in caps.details, key
    assert caps.details["max_work_group_size"] >= 1
    # whether the tensor-core Winograd kernels run here (the mma.sync probe)
    from mace_gpu_opencl.kernels import winograd

    expect = "mma.sync" if winograd.tensor_cores(gpu) else "not used"
    assert caps.details["tensor_cores"].startswith(expect)


def test_plugin_loads_without_pyopencl():
    code = BLOCK_PYOPENCL + textwrap.dedent("""
        from mace_core.cli.main import main
        main(["devices"])
    """)
    result = python(code)
    assert "gpu: unavailable: pyopencl is not installed" in result.stdout, result
    assert "pip install pyopencl" in result.stdout


def test_no_platform_is_reported(tmp_path):
    code = textwrap.dedent("""
        from mace_gpu_opencl.device import OpenCLDevice
        from mace_core.errors import DeviceUnavailable
        try:
            OpenCLDevice().probe()
        except DeviceUnavailable as exc:
            print("UNAVAILABLE", exc)
    """)
    result = python(code, OCL_ICD_VENDORS=str(tmp_path))  # an ICD folder with no driver
    assert "UNAVAILABLE no OpenCL platform found" in result.stdout, result
    assert "pocl-opencl-icd" in result.stdout


def test_device_selection_by_environment(gpu, monkeypatch):
    from mace_gpu_opencl.device import select_device

    cl = gpu.cl
    monkeypatch.setenv("MACE_GPU_PLATFORM", gpu.info.platform[:6].lower())
    monkeypatch.setenv("MACE_GPU_DEVICE", "0")
    assert select_device(cl).name.strip() == gpu.info.name
    monkeypatch.setenv("MACE_GPU_DEVICE", "99")
    with pytest.raises(DeviceUnavailable, match=r"MACE_GPU_DEVICE='99' matches no OpenCL "
                                                r"device \(available: 0: "):
        select_device(cl)
    monkeypatch.setenv("MACE_GPU_PLATFORM", "no-such-vendor")
    with pytest.raises(DeviceUnavailable, match="MACE_GPU_PLATFORM='no-such-vendor'"):
        select_device(cl)


@pytest.mark.parametrize("setting, outcome", [("", "1 error"), ("skip", "1 skipped")])
def test_missing_platform_fails_the_tests_unless_skipped(tmp_path, setting, outcome):
    """Without an OpenCL platform the GPU tests fail loudly; MACE_GPU_TESTS=skip skips."""
    (tmp_path / "conftest.py").write_text((Path(__file__).parent / "conftest.py").read_text())
    (tmp_path / "test_needs_gpu.py").write_text("def test_gpu(gpu):\n    pass\n")
    icd = tmp_path / "icd"
    icd.mkdir()
    env = {**os.environ, "OCL_ICD_VENDORS": str(icd), "MACE_GPU_TESTS": setting}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-rs", str(tmp_path)], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120)
    assert outcome in result.stdout, result.stdout
    assert (result.returncode == 0) == (setting == "skip")
    assert "no usable OpenCL device: no OpenCL platform found" in result.stdout


def test_tensorflow_before_pocl_is_refused_not_a_crash(tmp_path):
    """In a fresh process: importing TensorFlow first makes the probe refuse with the reason
    (PoCL would otherwise segfault on TensorFlow's LLVM symbols)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed, so the clash cannot happen")
    code = ("import tensorflow\n"
            "from mace_core.registry import default_registry\n"
            "from mace_core.errors import DeviceUnavailable\n"
            "try:\n"
            "    default_registry().probe('gpu')\n"
            "    print('PROBED')\n"
            "except DeviceUnavailable as exc:\n"
            "    print('REFUSED', exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REFUSED" in proc.stdout or "PROBED" in proc.stdout
    if "REFUSED" in proc.stdout:
        assert "TensorFlow" in proc.stdout and "separate process" in proc.stdout
