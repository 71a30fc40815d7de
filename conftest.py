"""Repository-wide pytest setup."""

from __future__ import annotations


def pytest_configure(config):
    """Initialize OpenCL before test modules are imported. TensorFlow (imported by the TF and
    TFLite frontend tests) loads its LLVM into the global symbol namespace; PoCL initialized
    after that would crash, so the GPU device refuses it. Initialized first, both coexist.
    Errors are left for the GPU tests to report."""
    try:
        from mace_gpu_opencl.device import get_runtime
    except ImportError:
        return
    try:
        get_runtime()
    except Exception:  # noqa: BLE001 - the GPU test suite reports why the device is absent
        pass
